"""A poisoned event never blocks silently.

An event recorded before a bound was enforced (here: a NaN score, which the log stores as
``null``, recorded by going around the boundary as an older release did) once stopped
every read model for good while ``leadflow projections`` said nothing. Now the read model
that cannot apply it stops just before it, the others go on, and the failure is named
by ``projections``, ``doctor``, ``project`` (non-zero exit) and every reading command.
"""

from __future__ import annotations

import json
from uuid import UUID

import pytest
import sqlalchemy as sa
import structlog

from leadflow.adapters.store import open_store, schema_of, sqlalchemy_url
from leadflow.domain.commands import SetScore
from leadflow.projections import ProjectionRunner
from leadflow.projections.failures import ProjectionFailed

from support.cli import invoke, leadflow


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> None:
    structlog.reset_defaults()


def poisoned_store(db_url: str) -> tuple[UUID, int]:
    """A store with one NaN score in its log (and good events after it)."""
    leadflow(db_url, "init")
    lf = open_store(db_url)
    try:
        first = lf.capture(email="ann@example.com").lead_id
        lf.run(SetScore.model_construct(lead_id=first, score=float("nan"), reason="old release"))
        bad = lf.max_position()
        second = lf.capture(email="bob@example.com").lead_id
        lf.change_stage(second, "mql")
        return first, bad
    finally:
        lf.close()


def test_the_read_model_stops_before_the_bad_event_and_the_others_go_on(db_url: str) -> None:
    _, bad = poisoned_store(db_url)
    lf = open_store(db_url)
    engine = sa.create_engine(sqlalchemy_url(db_url))
    try:
        runner = ProjectionRunner(engine, schema=schema_of(db_url))
        with pytest.raises(ProjectionFailed) as failed:
            runner.catch_up(lambda after: lf.read_events(after=after), head=lf.max_position)
        [failure] = failed.value.failed
        assert (failure.name, failure.position, failure.event_type) == ("leads", bad, "LeadScored")
        positions = runner.positions()
        assert positions["leads"] < bad
        assert positions["stage_history"] == positions["handoffs"] == lf.max_position()
        # Not skipped: the next catch-up tries the event again, and fails again.
        with pytest.raises(ProjectionFailed):
            runner.catch_up(lambda after: lf.read_events(after=after), head=lf.max_position)
        assert runner.positions()["leads"] == positions["leads"]
    finally:
        engine.dispose()
        lf.close()


def test_every_command_names_the_bad_event(db_url: str) -> None:
    lead, bad = poisoned_store(db_url)

    result = invoke("funnel", "--db", db_url)
    assert result.exit_code == 0
    assert f"read model leads is behind the log: it stopped before position {bad}" in result.stderr

    status = invoke("projections", "--json", "--db", db_url, expect=1)
    rows = {row["name"]: row for row in json.loads(status.stdout.splitlines()[0])["projections"]}
    assert rows["leads"]["failure"]["position"] == bad
    assert rows["leads"]["failure"]["event_type"] == "LeadScored"
    assert rows["stage_history"]["failure"] is None

    invoke("project", "--db", db_url, expect=1)

    doctor = json.loads(invoke("doctor", "--json", "--db", db_url, expect=1).stdout)
    assert [f["position"] for f in doctor["failures"]] == [bad]
    assert {(s["position"], s["field"]) for s in doctor["suspect_events"]} == {
        (bad, "data.score"),
        (bad, "data.delta"),
    }
    assert {s["lead_id"] for s in doctor["suspect_events"]} == {str(lead)}


def test_a_store_without_bad_events_is_healthy(db_url: str) -> None:
    leadflow(db_url, "init")
    leadflow(db_url, "capture", "--email", "ann@example.com")
    doctor = json.loads(leadflow(db_url, "doctor", "--json"))
    assert (doctor["failures"], doctor["suspect_events"]) == ([], [])
