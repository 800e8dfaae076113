"""The sweep through the application and the real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest

from leadflow.adapters.store import open_store
from leadflow.errors import InvalidInput
from leadflow.service.application import Leadflow

from support.clock import FakeClock
from support.stores import on_roster


def _assigned(app: Leadflow, clock: FakeClock, owner: str = "rep:mei") -> UUID:
    lead_id = app.capture(email="a@example.com").lead_id
    clock.advance(hours=1)
    on_roster(app, owner)
    app.assign(lead_id, owner)
    return lead_id


def test_sweep_releases_an_unfollowed_lead_once_and_the_log_says_why(
    app: Leadflow, clock: FakeClock
) -> None:
    lead_id = _assigned(app, clock)
    assigned_at = clock.now
    clock.advance(days=6)
    result = app.sweep()
    assert [(e.type, e.actor) for e in result.events] == [("LeadReleased", "system:no-follow-up")]
    assert (result.leads, result.changed, result.by_rule) == (1, 1, {"no-follow-up": 1})
    [record] = list(app.read_events(types=["LeadReleased"]))
    deadline = assigned_at + timedelta(days=5)
    assert record.occurred_at == deadline
    assert record.recorded_at == clock.now
    assert record.data["rule"] == "no-follow-up"
    assert datetime.fromisoformat(record.data["due_at"]) == deadline
    assert record.data["pipeline_version"] == app.pipeline.version
    assert app.get_lead(lead_id).owner is None
    assert app.sweep().events == ()


def test_sweep_before_the_deadline_records_nothing(app: Leadflow, clock: FakeClock) -> None:
    _assigned(app, clock)
    clock.advance(days=4)
    assert app.sweep().events == ()


def test_sweep_as_of_an_earlier_instant_fires_only_what_was_due_then(
    app: Leadflow, clock: FakeClock
) -> None:
    lead_id = _assigned(app, clock)
    assigned_at = clock.now
    app.record_activity(lead_id, "webinar")  # score 20, decays after 30 days
    clock.advance(days=90)
    as_of = assigned_at + timedelta(days=31)
    first = app.sweep(as_of)
    assert [e.actor for e in first.events] == ["system:no-follow-up", "system:decay"]
    assert app.sweep(as_of).events == ()
    later = app.sweep()
    assert [e.actor for e in later.events] == ["system:decay", "system:decay"]


def test_sweep_refuses_an_instant_in_the_future(app: Leadflow, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput) as caught:
        app.sweep(clock.now + timedelta(seconds=1))
    assert caught.value.field == "now"


def test_sweep_sees_what_other_processes_recorded_since_its_last_run(
    app: Leadflow, clock: FakeClock, db_url: str
) -> None:
    first = _assigned(app, clock)
    clock.advance(days=1)
    assert app.sweep().events == ()
    other = open_store(db_url, clock=clock)
    try:
        second = other.capture(email="b@example.com").lead_id  # goes to rep:mei
        on_roster(other, "rep:tom")
        other.assign(second, "rep:tom")
        other.record_activity(first, "call")  # the first lead is followed up elsewhere
    finally:
        other.close()
    clock.advance(days=10)
    result = app.sweep()
    assert [e.type for e in result.events] == ["LeadReleased"]
    assert {r.lead_id for r in app.read_events(types=["LeadReleased"])} == {second}


def test_a_breached_hand_off_is_escalated_once_per_deadline(
    app: Leadflow, clock: FakeClock
) -> None:
    lead_id = app.capture(email="a@example.com").lead_id
    app.change_stage(lead_id, "mql")
    on_roster(app, "rep:li")
    app.hand_off(lead_id, "rep:li")
    due = clock.now + app.pipeline.handoff_sla
    clock.advance(days=3)
    result = app.sweep()
    assert [e.type for e in result.events] == ["SlaBreached", "HandOffEscalated"]
    records = list(app.read_events(types=["SlaBreached", "HandOffEscalated"]))
    assert [datetime.fromisoformat(r.data["due_at"]) for r in records] == [due] * 2
    assert records[1].data["to"] == "manager:sales"
    clock.advance(days=1)
    assert app.sweep().events == ()


def test_score_and_rule_state_after_replay_equal_the_live_lead(
    app: Leadflow, clock: FakeClock, db_url: str
) -> None:
    lead_id = app.capture(
        email="a@example.com", company="Acme", attributes={"industry": "software"}
    ).lead_id
    for kind in ("page_visit", "webinar", "email_click", "download"):
        clock.advance(hours=3)
        app.record_activity(lead_id, kind)
    clock.advance(days=75)
    app.sweep()
    live = app.get_lead(lead_id)
    reopened = open_store(db_url, clock=clock)
    try:
        replayed = reopened.get_lead(lead_id)
    finally:
        reopened.close()
    assert replayed == live
    assert replayed.stage == "mql"
    # fit 15 + 5, behaviour 2 + 20 + 3 + 10 = 55 (crossed 50: mql); two full 30-day
    # periods without activity take 10% each: 55 → 49.5 → 44.55
    assert replayed.score == 44.55
