"""Recycling and SLA rules, each shown firing and not firing, on a lead driven in memory."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from leadflow.domain.pipeline import Pipeline, parse_pipeline
from leadflow.errors import PipelineInvalid

from support.driver import Driver
from support.pipelines import default_document, pipeline_with


def with_sla(**handoff: Any) -> Pipeline:
    return pipeline_with(sla={"handoff": {"escalate_to": "manager:sales", **handoff}})


def kinds(events: list[Any]) -> list[tuple[str, str | None]]:
    return [(e.TYPE, getattr(e.data, "rule", None)) for e in events]


DEFAULT = pipeline_with()


# ---- no follow-up after assignment -------------------------------------------------------------


def test_an_assigned_lead_without_follow_up_goes_back_to_the_pool_at_its_deadline() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).do("assign", "rep:mei")
    assigned_at = d.now
    assert d.sweep(assigned_at + timedelta(days=4, hours=23)) == []
    events = d.at(days=9).sweep()
    assert kinds(events) == [("LeadReleased", "no-follow-up")]
    released = events[0]
    assert released.data.due_at == assigned_at + timedelta(days=5)
    assert released.occurred_at == released.data.due_at
    assert released.timestamp == d.now  # recorded when the sweep ran
    assert released.data.previous_owner == "rep:mei"
    assert released.data.reason == "no follow-up within 5d of assignment"
    assert released.actor == "system:no-follow-up"
    assert d.lead.owner is None


def test_a_follow_up_after_assignment_keeps_the_lead() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).do("assign", "rep:mei")
    d.at(days=2).activity("call")
    assert d.at(days=30).sweep() == []
    assert d.lead.owner == "rep:mei"


def test_behaviour_of_the_lead_is_not_a_follow_up() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).do("assign", "rep:mei")
    d.at(days=1).activity("page_visit")
    assert kinds(d.at(days=10).sweep())[-1] == ("LeadReleased", "no-follow-up")


def test_a_follow_up_before_a_reassignment_does_not_count_for_the_new_owner() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).do("assign", "rep:mei")
    d.at(days=1).activity("call")
    d.at(days=1).do("assign", "rep:tom")
    events = d.at(days=6).sweep()
    assert kinds(events) == [("LeadReleased", "no-follow-up")]
    assert events[0].data.previous_owner == "rep:tom"


def test_no_follow_up_ignores_stages_it_does_not_watch() -> None:
    d = _opportunity()
    d.at(hours=1).do("convert", "customer", "acct-1")
    d.at(hours=1).do("assign", "rep:cs")
    assert [e for e in d.at(days=30).sweep() if e.TYPE == "LeadReleased"] == []


def test_no_follow_up_waits_while_a_hand_off_is_pending() -> None:
    d = Driver(pipeline_with(sla=None), email="a@x.com")
    d.at(hours=1).do("assign", "rep:mei")
    d.at(hours=1).do("hand_off", "rep:li")
    assert d.at(days=30).sweep() == []


# ---- hand-off SLA --------------------------------------------------------------------------------


def _handed_off(pipeline: Pipeline) -> Driver:
    d = Driver(pipeline, email="a@x.com")
    d.at(hours=1).do("change_stage", "mql")
    d.at(hours=1).do("assign", "rep:mei")
    d.at(hours=1).activity("call")
    d.at(hours=1).do("hand_off", "rep:li")
    return d


def test_a_hand_off_not_answered_by_its_sla_is_breached_and_escalated_to_the_manager() -> None:
    d = _handed_off(DEFAULT)
    sla_due = d.lead.handoff.sla_due if d.lead.handoff else None
    assert sla_due == d.now + timedelta(days=2)
    assert d.sweep(sla_due - timedelta(seconds=1)) == []
    events = d.at(days=3).sweep()
    assert kinds(events) == [("SlaBreached", "handoff-sla"), ("HandOffEscalated", "handoff-sla")]
    breach, escalation = events
    assert (breach.data.sla, breach.data.owner, breach.data.due_at) == (
        "handoff",
        "rep:li",
        sla_due,
    )
    assert escalation.data.to == "manager:sales"
    assert escalation.data.reassigned_to is None
    assert breach.occurred_at == escalation.occurred_at == sla_due
    assert d.lead.handoff is not None  # still pending: sales may still answer


def test_an_answered_hand_off_is_never_breached() -> None:
    for answer in ("accept_handoff", "reject_handoff"):
        d = _handed_off(DEFAULT)
        args = ("not a fit",) if answer == "reject_handoff" else ()
        d.at(days=1).do(answer, *args)
        assert [e for e in d.at(days=5).sweep() if e.TYPE == "SlaBreached"] == []


def test_a_breach_can_reassign_the_hand_off_with_a_fresh_sla() -> None:
    d = _handed_off(with_sla(reassign_to="rep:sam"))
    first_due = d.now + timedelta(days=2)
    events = d.at(days=3).sweep()
    assert kinds(events) == [("SlaBreached", "handoff-sla"), ("HandOffEscalated", "handoff-sla")]
    assert events[1].data.reassigned_to == "rep:sam"
    assert events[1].data.sla_due == first_due + timedelta(days=2)
    assert d.lead.handoff is not None
    assert d.lead.handoff.to_owner == "rep:sam"
    # rep:sam has not answered either: breached again, for the new deadline, no reassignment
    again = d.at(days=2).sweep()
    assert kinds(again) == [("SlaBreached", "handoff-sla"), ("HandOffEscalated", "handoff-sla")]
    assert again[0].data.due_at == first_due + timedelta(days=2)
    assert again[0].data.owner == "rep:sam"
    assert again[1].data.reassigned_to is None
    assert d.at(days=30).sweep() == []


def test_without_an_sla_rule_nothing_is_breached() -> None:
    d = _handed_off(pipeline_with(sla=None))
    assert d.at(days=30).sweep() == []


# ---- rejection recycles with its reason ----------------------------------------------------------


def test_a_rejected_hand_off_is_recycled_with_the_reason_then_moved_to_nurture() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).do("change_stage", "mql")
    d.at(hours=1).do("hand_off", "rep:li")
    events = d.at(hours=5).do("reject_handoff", "no budget this year")
    assert kinds(events) == [
        ("HandOffRejected", None),
        ("LeadRecycled", "handoff-rejected"),
        ("StageChanged", "handoff-rejected-to-nurture"),
        ("StatusChanged", "handoff-rejected-to-nurture"),
    ]
    recycled = events[1]
    assert recycled.data.reason == "no budget this year"
    assert recycled.data.from_stage == "mql"
    assert (d.lead.stage, d.lead.status) == ("lead", "nurturing")


def test_a_recycle_rule_with_targets_makes_the_moves_itself() -> None:
    document = default_document()
    document["automation"] = [
        r for r in document["automation"] if r["id"] != "handoff-rejected-to-nurture"
    ]
    document["recycling"]["on_rejection"] = {"to_stage": "lead", "to_status": "nurturing"}
    d = Driver(parse_pipeline(document), email="a@x.com")
    d.at(hours=1).do("change_stage", "mql")
    d.at(hours=1).do("hand_off", "rep:li")
    events = d.at(hours=5).do("reject_handoff", "wrong region")
    assert kinds(events)[1:] == [
        ("LeadRecycled", "handoff-rejected"),
        ("StageChanged", "handoff-rejected"),
        ("StatusChanged", "handoff-rejected"),
    ]
    assert events[2].data.kind == "recycle"
    assert events[2].data.reason == "wrong region"


def test_an_accepted_hand_off_is_not_recycled() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).do("change_stage", "mql")
    d.at(hours=1).do("hand_off", "rep:li")
    events = d.at(hours=5).do("accept_handoff")
    assert "LeadRecycled" not in [e.TYPE for e in events]


# ---- stalled opportunities -----------------------------------------------------------------------


def _opportunity() -> Driver:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).do("change_stage", "mql")
    d.at(hours=1).do("change_stage", "sql")
    d.at(hours=1).activity("meeting")
    d.at(hours=1).do("convert", "opportunity", "acct-1")
    return d


def test_an_opportunity_stalled_for_its_period_is_recycled_to_nurture() -> None:
    d = _opportunity()
    entered = d.now
    assert d.sweep(entered + timedelta(days=59)) == []
    events = d.at(days=61).sweep()
    assert kinds(events) == [
        ("LeadRecycled", "opportunity-stalled"),
        ("StageChanged", "opportunity-stalled"),
        ("StatusChanged", "opportunity-stalled"),
    ]
    due = entered + timedelta(days=60)
    assert all(e.data.due_at == due and e.occurred_at == due for e in events)
    assert events[0].data.reason == "no activity in stage opportunity for 60d"
    assert events[1].data.kind == "recycle"
    assert (d.lead.stage, d.lead.status) == ("lead", "nurturing")


def test_activity_keeps_an_opportunity_from_stalling() -> None:
    d = _opportunity()
    d.at(days=50).activity("meeting")
    assert d.at(days=50).sweep() == []
    assert d.lead.stage == "opportunity"


def test_a_stalled_rule_must_name_a_transition_the_pipeline_allows() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        pipeline_with(
            recycling={
                "stalled": [
                    {"id": "s", "stage": "customer", "after": "30d", "to_stage": "subscriber"}
                ]
            }
        )
    assert caught.value.problems == [
        ("recycling.stalled[0].to_stage", "stage 'customer' has no transition to 'subscriber'")
    ]


def test_an_sla_rule_needs_someone_to_escalate_to() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        pipeline_with(sla={"handoff": {"id": "h"}})
    assert [k for k, _ in caught.value.problems] == ["sla.handoff.escalate_to"]


# ---- the sweep as a whole -----------------------------------------------------------------------


def test_rules_fire_in_deadline_order_and_never_before_the_leads_latest_event() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).activity("webinar")  # score 20; decay due in 30d
    d.at(hours=1).do("assign", "rep:mei")  # no follow-up due in 5d
    d.at(days=20).do("update_profile", {"name": "Ada"})  # latest event: after the 5d deadline
    latest = d.now
    events = d.at(days=20).sweep()
    assert kinds(events) == [("LeadReleased", "no-follow-up"), ("LeadScored", "decay")]
    release, decay = events
    assert release.occurred_at == latest  # its deadline had passed before the latest event
    assert release.data.due_at < latest
    assert decay.occurred_at == decay.data.due_at > latest


def test_a_second_sweep_at_the_same_instant_records_nothing() -> None:
    d = _handed_off(with_sla(reassign_to="rep:sam"))
    d.at(days=1).activity("webinar")
    first = d.at(days=200).sweep()
    assert len(first) > 2
    assert d.sweep() == []
    assert d.replayed() == d.lead


def test_a_breach_is_escalated_to_the_manager_the_directory_names() -> None:
    d = _handed_off(DEFAULT)
    d.at(days=3)
    d.lead.sweep(d.pipeline, d.now, d.now, manager_of={"rep:li": "manager:wu"}.get)
    events = d.flush()
    assert events[1].data.to == "manager:wu"


def test_a_breach_falls_back_to_the_configured_manager_when_the_directory_has_none() -> None:
    d = _handed_off(DEFAULT)
    d.at(days=3)
    d.lead.sweep(d.pipeline, d.now, d.now, manager_of={}.get)
    assert d.flush()[1].data.to == "manager:sales"


def test_a_late_answer_no_sweep_caught_records_the_breach_first_at_its_deadline() -> None:
    d = _handed_off(DEFAULT)
    due = d.now + timedelta(days=2)
    events = d.at(days=3).do("accept_handoff")
    assert kinds(events)[:2] == [("SlaBreached", "handoff-sla"), ("HandOffAccepted", None)]
    assert events[0].data.due_at == events[0].occurred_at == due
    assert events[0].data.owner == "rep:li"
    assert "HandOffEscalated" not in [e.TYPE for e in events]


def test_an_answer_in_time_records_no_breach() -> None:
    d = _handed_off(DEFAULT)
    events = d.at(days=2).do("reject_handoff", "not a fit")  # exactly at the deadline
    assert "SlaBreached" not in [e.TYPE for e in events]


def test_a_late_answer_after_the_sweep_caught_the_breach_does_not_record_it_twice() -> None:
    d = _handed_off(DEFAULT)
    d.at(days=3).sweep()
    events = d.at(days=1).do("accept_handoff")
    assert "SlaBreached" not in [e.TYPE for e in events]


def test_a_stalled_rule_must_set_a_status_its_target_stage_allows() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        pipeline_with(
            recycling={
                "stalled": [
                    {
                        "id": "s",
                        "stage": "opportunity",
                        "after": "30d",
                        "to_stage": "customer",
                        "to_status": "nurturing",
                    }
                ]
            }
        )
    assert caught.value.problems == [
        ("recycling.stalled[0].to_status", "stage 'customer' does not allow status 'nurturing'")
    ]


# ---- stage SLAs --------------------------------------------------------------------------------


def _with_stage_sla(**rule: Any) -> Pipeline:
    document = default_document()
    document["sla"]["stage"] = rule
    return parse_pipeline(document)


def test_a_lead_past_its_stage_sla_is_breached_once_for_that_stay() -> None:
    d = Driver(_with_stage_sla(), email="a@x.com")  # stage lead: sla 3d
    d.at(hours=1).do("assign", "rep:mei")
    d.at(hours=1).activity("call")
    captured_at = d.events[0].occurred_at
    assert d.sweep(captured_at + timedelta(days=2, hours=23)) == []
    events = d.at(days=4).sweep()
    assert kinds(events) == [("SlaBreached", "stage-sla")]
    assert (events[0].data.sla, events[0].data.owner) == ("stage:lead", "rep:mei")
    assert events[0].data.due_at == events[0].occurred_at == captured_at + timedelta(days=3)
    assert d.at(days=30).sweep() == []


def test_a_new_stage_starts_a_new_stage_sla() -> None:
    d = Driver(_with_stage_sla(), email="a@x.com")
    d.at(days=4).sweep()
    entered = d.at(hours=1).now
    d.do("change_stage", "mql")  # sla 2d
    assert d.sweep(entered + timedelta(days=1)) == []
    events = d.at(days=3).sweep()
    assert [(e.data.sla, e.data.owner) for e in events if e.TYPE == "SlaBreached"] == [
        ("stage:mql", None)
    ]


def test_stages_without_an_sla_or_not_watched_are_never_breached() -> None:
    d = Driver(_with_stage_sla(stages=["mql"]), email="a@x.com")  # lead is not watched
    assert [e for e in d.at(days=10).sweep() if e.TYPE == "SlaBreached"] == []
    with pytest.raises(PipelineInvalid) as caught:
        _with_stage_sla(stages=["customer"])
    assert caught.value.problems == [("sla.stage.stages[0]", "stage 'customer' has no sla")]


def test_without_a_stage_sla_rule_stage_slas_record_nothing() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    assert [e for e in d.at(days=10).sweep() if e.TYPE == "SlaBreached"] == []
