"""The deadline index the sweep reads, through the real stores (SQLite and PostgreSQL):
a sweep looks only at the leads whose next deadline has passed, follows what other
processes record, is rebuilt when a new pipeline moves every deadline, and two writers of
the index never overwrite each other."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from leadflow.adapters.store import open_store
from leadflow.domain.timers import next_deadline
from leadflow.service.application import Leadflow
from leadflow.service.deadlines import micros

from support.clock import FakeClock
from support.pipelines import pipeline_with
from support.stores import on_roster

END_OF_TIME = datetime.max.replace(tzinfo=UTC)
MANUAL = {"on_capture": False}
"""Leads wait in the pool (no deadline) until a test assigns them."""


@pytest.fixture(autouse=True)
def _manual_assignment(app: Leadflow) -> None:
    app.activate_pipeline(pipeline_with(assignment=MANUAL))


def _assigned(app: Leadflow, n: int, owner: str = "rep:mei") -> list[UUID]:
    on_roster(app, owner)
    ids = [app.capture(email=f"p{n}-{i}@example.com").lead_id for i in range(3)]
    for lead_id in ids:
        app.assign(lead_id, owner)
    return ids


def _index(app: Leadflow) -> dict[UUID, int]:
    """The whole table, read through the store (refreshed first)."""
    app.deadlines.refresh(app.pipeline)
    far = app.deadlines.due(END_OF_TIME)
    return {lead_id: _deadline_micros(app, lead_id) for lead_id in far}


def _deadline_micros(app: Leadflow, lead_id: UUID) -> int:
    deadline = next_deadline(app.get_lead(lead_id), app.pipeline)
    assert deadline is not None, f"{lead_id} is in the index but has no deadline"
    return micros(deadline)


def test_the_sweep_evaluates_only_the_leads_that_are_due(app: Leadflow, clock: FakeClock) -> None:
    early = _assigned(app, 1)  # no follow-up due 5 days after assignment
    clock.advance(days=3)
    _assigned(app, 2)
    for i in range(20):
        app.capture(email=f"quiet{i}@example.com")  # in the pool: nothing will be due
    clock.advance(days=2, hours=1)

    result = app.sweep()

    assert (result.leads, result.changed) == (3, 3)
    assert {ref.aggregate_id for ref in result.events} == set(early)
    assert app.sweep().leads == 0  # their deadlines moved on: nothing is due any more


def test_the_index_follows_what_another_process_records(
    app: Leadflow, clock: FakeClock, db_url: str
) -> None:
    app.sweep()
    other = open_store(db_url, clock=clock, actor="user:other")
    try:
        ids = _assigned(other, 1)
        clock.advance(hours=2)
        other.record_activity(ids[0], "call")  # a follow-up: that lead has no deadline now
    finally:
        other.close()
    clock.advance(days=6)

    result = app.sweep()

    assert {ref.aggregate_id for ref in result.events} == set(ids[1:])
    assert result.leads == 2


def test_a_new_pipeline_rebuilds_the_index_with_its_deadlines(
    app: Leadflow, clock: FakeClock
) -> None:
    ids = _assigned(app, 1)
    clock.advance(days=2)
    assert app.sweep().leads == 0  # the default pipeline releases after 5 days
    before = _index(app)
    faster = {"id": "no-follow-up", "after": "1d", "stages": ["lead", "mql"]}
    app.activate_pipeline(pipeline_with(assignment=MANUAL, recycling={"no_follow_up": faster}))

    after = _index(app)

    assert set(after) == set(before) == set(ids)
    four_days = micros(datetime(1970, 1, 5, tzinfo=UTC))
    assert all(after[i] == before[i] - four_days for i in ids)
    result = app.sweep()
    assert (result.leads, {ref.aggregate_id for ref in result.events}) == (3, set(ids))


def test_two_writers_of_the_index_never_overwrite_each_other(app: Leadflow) -> None:
    table = app.deadlines.table
    app.deadlines.refresh(app.pipeline)
    state = table.deadline_index_state()
    lead = uuid4()
    moved = (state[0] + 1, state[1])

    assert table.save_deadlines([(lead, 5)], expected=state, state=moved)
    # A second writer that read the same state loses, and writes nothing.
    assert not table.save_deadlines([(lead, 1), (uuid4(), 2)], expected=state, state=moved)

    assert table.deadline_index_state() == moved
    assert table.select_due_leads(4) == []
    assert table.select_due_leads(5) == [lead]
    assert table.save_deadlines([(lead, None)], expected=moved, state=moved)
    assert table.select_due_leads(10) == []


def test_a_fresh_process_reads_the_index_without_folding_the_log(
    app: Leadflow, clock: FakeClock, db_url: str
) -> None:
    ids = _assigned(app, 1)
    app.sweep()
    clock.advance(days=6)
    fresh = open_store(db_url, clock=clock)
    try:
        state = fresh.deadlines.table.deadline_index_state()
        assert state == (fresh.max_position(), fresh.pipeline.version)  # nothing to catch up
        assert fresh.deadlines.refresh(fresh.pipeline) == 0
        result = fresh.sweep()
    finally:
        fresh.close()
    assert {ref.aggregate_id for ref in result.events} == set(ids)


def test_the_index_matches_every_lead_after_sweeps(app: Leadflow, clock: FakeClock) -> None:
    ids = _assigned(app, 1) + _assigned(app, 2, owner="rep:li")
    app.hand_off(ids[0], "rep:li")
    for days in (1, 4, 9, 40):
        clock.advance(days=days)
        app.sweep()
        index = _index(app)
        for lead_id in ids:
            deadline = next_deadline(app.get_lead(lead_id), app.pipeline)
            assert index.get(lead_id) == (micros(deadline) if deadline else None)
