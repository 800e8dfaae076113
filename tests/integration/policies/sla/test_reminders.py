"""Reminders as events: the sweep records ``FollowUpDue`` a configured time before a
no-follow-up release or an SLA breach, once, naming the rep and the deadline; a rep's
reminders list what is still ahead, and the duplicate touches on their leads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from leadflow.domain.pipeline import parse_pipeline
from leadflow.errors import PipelineInvalid
from leadflow.service.application import Leadflow
from leadflow.service.reminders import reminders_for

from conftest import UsePipeline
from support.clock import FakeClock
from support.pipelines import default_document
from support.stores import on_roster


def _follow_up(remind_before: str = "1d") -> dict[str, Any]:
    return {
        "no_follow_up": {
            "id": "no-follow-up",
            "after": "5d",
            "stages": ["subscriber", "lead", "mql", "sal", "sql"],
            "remind_before": remind_before,
        }
    }


def _assigned(app: Leadflow, clock: FakeClock, email: str = "a@example.com") -> UUID:
    lead_id = app.capture(email=email).lead_id
    on_roster(app, "rep:mei")
    app.assign(lead_id, "rep:mei")
    return lead_id


def test_a_reminder_is_recorded_a_day_before_the_lead_would_be_released(
    app: Leadflow, clock: FakeClock, use_pipeline: UsePipeline
) -> None:
    use_pipeline(recycling=_follow_up())
    lead_id = _assigned(app, clock)
    assigned_at = clock.now
    clock.advance(days=3, hours=23)
    assert app.sweep().events == ()
    clock.advance(hours=2)
    result = app.sweep()
    assert [(e.type, e.actor) for e in result.events] == [("FollowUpDue", "system:no-follow-up")]
    [record] = list(app.read_events(types=["FollowUpDue"]))
    assert record.data["rep"] == "rep:mei"
    assert record.data["deadline"] == "no_follow_up"
    assert datetime.fromisoformat(record.data["deadline_at"]) == assigned_at + timedelta(days=5)
    assert record.occurred_at == assigned_at + timedelta(days=4)
    assert app.sweep().events == ()  # once
    assert app.get_lead(lead_id).owner == "rep:mei"  # a reminder changes nothing else

    due = reminders_for(app, "rep:mei", clock.now, clock.now - timedelta(days=7)).due
    assert [(d["lead_id"], d["deadline"]) for d in due] == [(str(lead_id), "no_follow_up")]
    assert reminders_for(app, "rep:zed", clock.now, clock.now).due == []


def test_a_follow_up_settles_the_reminder(
    app: Leadflow, clock: FakeClock, use_pipeline: UsePipeline
) -> None:
    use_pipeline(recycling=_follow_up())
    lead_id = _assigned(app, clock)
    clock.advance(days=4, hours=1)
    app.sweep()
    app.record_activity(lead_id, "call", actor="rep:mei")
    assert reminders_for(app, "rep:mei", clock.now, clock.now).due == []
    clock.advance(days=2)
    assert [e.type for e in app.sweep().events] == []  # followed up: neither released nor reminded


def test_a_sweep_long_after_records_the_reminder_then_the_release_in_time_order(
    app: Leadflow, clock: FakeClock, use_pipeline: UsePipeline
) -> None:
    use_pipeline(recycling=_follow_up())
    _assigned(app, clock)
    clock.advance(days=9)
    events = app.sweep().events
    assert [e.type for e in events] == ["FollowUpDue", "LeadReleased"]
    assert reminders_for(app, "rep:mei", clock.now, clock.now).due == []  # it fired


def test_a_stage_sla_reminds_per_stage(app: Leadflow, clock: FakeClock) -> None:
    document = default_document()
    document["stages"]["lead"]["sla_remind_before"] = "12h"
    document["sla"]["stage"] = {"id": "stage-sla", "stages": ["lead"]}
    document["recycling"].pop("no_follow_up")
    app.activate_pipeline(parse_pipeline(document, "test"))
    entered = clock.now
    assert app.get_lead(_assigned(app, clock)).stage == "lead"
    clock.advance(days=2, hours=13)
    [event] = app.sweep().events
    assert event.type == "FollowUpDue"
    [record] = list(app.read_events(types=["FollowUpDue"]))
    assert record.data["deadline"] == "stage_sla"
    assert datetime.fromisoformat(record.data["deadline_at"]) == entered + timedelta(days=3)


def test_a_hand_off_reminds_the_rep_it_waits_on(app: Leadflow, clock: FakeClock) -> None:
    document = default_document()
    document["sla"]["handoff"]["remind_before"] = "6h"
    document["recycling"].pop("no_follow_up")
    app.activate_pipeline(parse_pipeline(document, "test"))
    lead_id = _assigned(app, clock)
    on_roster(app, "rep:wang")
    app.change_stage(lead_id, "mql", reason="engaged")
    app.hand_off(lead_id, "rep:wang", actor="rep:mei")
    clock.advance(days=1, hours=19)
    app.sweep()
    [record] = list(app.read_events(types=["FollowUpDue"]))
    assert (record.data["deadline"], record.data["rep"]) == ("handoff_sla", "rep:wang")
    due = reminders_for(app, "rep:wang", clock.now, clock.now).due
    assert [d["deadline"] for d in due] == ["handoff_sla"]
    app.accept_handoff(lead_id, actor="rep:wang")
    assert reminders_for(app, "rep:wang", clock.now, clock.now).due == []


def test_a_duplicate_touch_on_an_owned_lead_names_whom_to_tell(
    app: Leadflow, clock: FakeClock
) -> None:
    lead_id = _assigned(app, clock)
    since = clock.now
    clock.advance(hours=1)
    touch = app.capture(email="a@example.com", source="webinar")
    assert touch.lead_id == lead_id
    touches = reminders_for(app, "rep:mei", clock.now, since).touches
    assert [(t["lead_id"], t["source"]) for t in touches] == [(str(lead_id), "webinar")]
    assert reminders_for(app, "rep:mei", clock.now, clock.now + timedelta(seconds=1)).touches == []


@pytest.mark.parametrize("before", ["0s", "5d", "6d"])
def test_a_reminder_must_come_before_what_it_warns_of(before: str) -> None:
    document = default_document()
    document["recycling"]["no_follow_up"]["remind_before"] = before
    with pytest.raises(PipelineInvalid, match=r"recycling.no_follow_up.remind_before"):
        parse_pipeline(document, "test")


def test_adding_the_setting_leaves_the_version_of_existing_pipelines_alone() -> None:
    before = default_document()
    before.pop("reporting")  # added to the shipped pipeline later; absent, it counts for nothing
    unset = parse_pipeline(before, "test")
    assert unset.version == "e4edbd7d9ac1e99e"  # the shipped pipeline's before remind_before
    document = default_document()
    document["recycling"]["no_follow_up"]["remind_before"] = "1d"
    assert parse_pipeline(document, "test").version != unset.version
