"""``lf_lead_dimensions`` never holds a value that was recorded as personal, and keeps only
the dimensions it was built for."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from leadflow.projections import ProjectionRunner
from leadflow.projections.dimensions import LEAD_DIMENSIONS, Dimensions

from support.histories import build_history, reader


def _values(runner: ProjectionRunner) -> set[str]:
    with runner.engine.connect() as conn:
        return {str(v) for v in conn.execute(sa.select(LEAD_DIMENSIONS.c.value)).scalars()}


def _runner(dimensions: list[str]) -> ProjectionRunner:
    engine = sa.create_engine("sqlite://", poolclass=sa.StaticPool)
    runner = ProjectionRunner(engine, [Dimensions(dimensions)])
    runner.ensure_tables()
    return runner


def test_a_value_sealed_as_personal_when_recorded_is_kept_as_the_marker() -> None:
    history = build_history(seed=4, leads=4, steps=120)
    sealed = [
        dataclasses.replace(r, personal=("attributes.industry",))
        if r.type == "LeadCaptured" and "industry" in r.data["attributes"]
        else dataclasses.replace(r, personal=("changes.attributes.industry",))
        if r.type == "ProfileUpdated" and r.data["changes"].get("attributes.industry")
        else r
        for r in history
    ]
    plain, marked = _runner(["industry"]), _runner(["industry"])
    plain.catch_up(reader(history))
    marked.catch_up(reader(sealed))

    assert _values(plain) >= {"software", "finance"}
    assert _values(marked) == {"[personal]"}


def test_only_the_listed_dimensions_are_kept() -> None:
    history = build_history(seed=4, leads=4, steps=120)
    none, region = _runner([]), _runner(["region"])
    none.catch_up(reader(history))
    region.catch_up(reader(history))

    assert _values(none) == set()
    assert _values(region) == {"north", "south"}
