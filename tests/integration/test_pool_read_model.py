"""``lf_leads.in_pool`` is the domain's answer (``ownership.in_pool`` of the loaded lead).

A deterministic history through every command that moves a lead in or out of the pool:
capture, assign, claim, release, disqualify, merge and unmerge, erase, hand-off accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
import structlog

from leadflow.adapters.store import schema_of, sqlalchemy_url
from leadflow.domain.ownership import in_pool
from leadflow.projections import LEADS, ProjectionRunner, all_projections
from leadflow.projections.leads import pool
from leadflow.projections.reference import pool_from_events
from leadflow.projections.runner import ReadModelReplaced
from leadflow.service.application import Leadflow


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> None:
    # The CLI tests configure structlog with a captured stderr that is closed by now.
    structlog.reset_defaults()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlalchemy_url(db_url))
    yield engine
    engine.dispose()


def runner_for(app: Leadflow, engine: sa.Engine, db_url: str) -> ProjectionRunner:
    closed = app.pipeline.assignment.closed_stages
    return ProjectionRunner(engine, all_projections(closed), schema_of(db_url), batch_size=2)


def in_pool_column(runner: ProjectionRunner) -> dict[UUID, bool]:
    with runner.engine.connect() as conn:
        rows = conn.execute(sa.select(LEADS.c.lead_id, LEADS.c.in_pool))
        return {UUID(lead_id): bool(flag) for lead_id, flag in rows}


def story(app: Leadflow) -> list[Callable[[], object]]:
    """Steps, each one command; the lead ids are fixed by the captures below."""
    a, b, c, d, e, f = (app.capture(email=f"{n}@example.com").lead_id for n in "abcdef")
    for rep in ("rep:mei", "rep:li", "rep:sales"):  # after the captures: none is assigned
        app.add_rep(rep)
    return [
        lambda: app.assign(a, "rep:mei"),
        lambda: app.claim(b, "rep:li"),
        lambda: app.release(b, "no time"),
        lambda: app.disqualify(c, "student"),
        lambda: app.claim(d, "rep:li"),
        lambda: app.disqualify(d, "competitor"),  # owned and closed: in nobody's pool
        lambda: app.merge(e, a),
        lambda: app.unmerge(e, reason="not the same person"),
        lambda: app.erase_personal_data(f, "asked to be forgotten"),
        lambda: app.hand_off(a, "rep:sales", actor="rep:mei"),
        lambda: app.accept_handoff(a, actor="rep:sales"),
        lambda: app.release(a, "wrong territory", actor="rep:sales"),
        lambda: app.merge(b, e),
    ]


def test_the_in_pool_column_is_the_domains_answer_after_every_command(
    app: Leadflow, engine: sa.Engine, db_url: str, clock: Any
) -> None:
    steps = story(app)
    runner = runner_for(app, engine, db_url)
    closed = app.pipeline.assignment.closed_stages

    for step in [lambda: None, *steps]:
        step()
        runner.catch_up(lambda after: app.read_events(after=after), head=app.max_position)

        column = in_pool_column(runner)
        assert column == {lead_id: in_pool(app.get_lead(lead_id), closed) for lead_id in column}
    assert len(column) == 6
    assert sorted(column.values()) == [False, False, False, False, True, True]


def test_the_pool_query_lists_what_the_oracle_folds_from_the_log(
    app: Leadflow, engine: sa.Engine, db_url: str, clock: Any
) -> None:
    for step in story(app):
        step()
    runner = runner_for(app, engine, db_url)
    runner.catch_up(lambda after: app.read_events(after=after))

    with runner.engine.connect() as conn:
        page = pool(conn, limit=10)

    expected = pool_from_events(app.read_events(), app.pipeline.assignment.closed_stages)
    assert [UUID(lead.lead_id) for lead in page.leads] == expected
    assert page.count == len(expected) == 2


def test_a_pipeline_closing_other_stages_rebuilds_the_pool(
    app: Leadflow, engine: sa.Engine, db_url: str, clock: Any
) -> None:
    lead = app.capture(email="dq@example.com").lead_id
    app.disqualify(lead, "student")
    reader = lambda after: app.read_events(after=after)  # noqa: E731
    only_customers = ProjectionRunner(engine, all_projections(["customer"]), schema_of(db_url))
    only_customers.catch_up(reader)
    assert in_pool_column(only_customers) == {lead: True}

    shipped = runner_for(app, engine, db_url)
    shipped.catch_up(reader)

    assert in_pool_column(shipped) == {lead: False}
    assert shipped.positions()["leads"] >= app.get_lead(lead).version


def test_last_touch_is_the_latest_activity_or_repeat_contact(
    app: Leadflow, engine: sa.Engine, db_url: str, clock: Any
) -> None:
    lead = app.capture(email="t@example.com", phone="13800138000").lead_id
    captured = app.get_lead(lead).captured_at
    assert captured is not None
    runner = runner_for(app, engine, db_url)

    def last_touch() -> datetime | None:
        runner.catch_up(lambda after: app.read_events(after=after))
        with runner.engine.connect() as conn:
            [waiting] = pool(conn, limit=1).leads
        return waiting.last_touch_at

    untouched = last_touch()
    clock.advance(hours=1)
    app.record_activity(lead, "page_visit")
    visited = last_touch()
    clock.advance(hours=5)
    app.capture(email="t@example.com", at=captured + timedelta(hours=3))  # the same person
    touched = last_touch()
    app.capture(phone="13800138000", at=captured + timedelta(hours=2))  # told late: older
    told_late = last_touch()

    assert untouched is None
    assert visited == captured + timedelta(hours=1)
    assert touched == told_late == captured + timedelta(hours=3)


def test_a_runner_still_on_other_closed_stages_stops_instead_of_writing_under_them(
    app: Leadflow, engine: sa.Engine, db_url: str
) -> None:
    lead = app.capture(email="dq@example.com").lead_id
    reader = lambda after: app.read_events(after=after)  # noqa: E731
    stale = ProjectionRunner(engine, all_projections(["customer"]), schema_of(db_url))
    stale.catch_up(reader)  # e.g. `leadflow project --follow`, started before an activation
    current = runner_for(app, engine, db_url)
    current.catch_up(reader)
    app.disqualify(lead, "student")

    with pytest.raises(ReadModelReplaced, match="'leads' was rebuilt"):
        stale.catch_up(reader)
    current.catch_up(reader)

    assert in_pool_column(current) == {lead: False}
