"""The lead aggregate: what each command records, and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from leadflow.domain.context import Context
from leadflow.domain.events import ActivityKind, LeadEvent
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.errors import IllegalTransition, InvalidInput
from leadflow.service.pipeline_files import default_pipeline

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PIPELINE = default_pipeline()


def ctx(minutes: float = 0, actor: str = "user:ann") -> Context:
    at = T0 + timedelta(minutes=minutes)
    return Context(actor=actor, occurred_at=at, recorded_at=at)


def new_lead(pipeline: Pipeline = PIPELINE) -> Lead:
    lead = Lead.capture(uuid4(), pipeline, ctx(), email="ann@example.com", source="web")
    lead.collect_events()
    return lead


def recorded(lead: Lead) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.TYPE, e.actor, e.data.model_dump()) for e in lead.collect_events()]


def replayed(events: list[LeadEvent[Any]]) -> Lead:
    lead = None
    for event in events:
        lead = Lead.evolve(lead, event)
    assert lead is not None
    return lead


def test_capture_records_the_entry_stage_initial_status_and_pipeline_version() -> None:
    lead = Lead.capture(uuid4(), PIPELINE, ctx(), email="ann@example.com", company="Acme")

    [event, *scored] = lead.collect_events()
    assert event.TYPE == "LeadCaptured"
    assert [e.TYPE for e in scored] == ["LeadScored"]  # the shipped fit rule for a company
    assert event.data.stage == "lead"
    assert event.data.status == "open"
    assert event.data.pipeline_version == PIPELINE.version
    assert (lead.stage, lead.status, lead.company, lead.version) == ("lead", "open", "Acme", 2)


def test_capture_into_a_stage_that_is_not_an_entry_stage_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        Lead.capture(uuid4(), PIPELINE, ctx(), email="a@b.co", stage="sql")

    assert caught.value.field == "stage"


def test_a_promotion_records_from_to_kind_and_reason() -> None:
    lead = new_lead()

    lead.change_stage("mql", PIPELINE, ctx(1), reason="downloaded the whitepaper")

    [(kind, actor, data)] = recorded(lead)
    assert kind == "StageChanged"
    assert actor == "user:ann"
    assert data["from_stage"] == "lead"
    assert data["stage"] == "mql"
    assert data["kind"] == "promotion"
    assert data["reason"] == "downloaded the whitepaper"
    assert data["rule"] is None


def test_an_illegal_stage_change_is_refused_and_records_nothing() -> None:
    lead = new_lead()

    with pytest.raises(IllegalTransition) as caught:
        lead.change_stage("customer", PIPELINE, ctx(1))

    assert caught.value.allowed == ["mql", "subscriber", "disqualified"]
    assert lead.collect_events() == []
    assert lead.stage == "lead"


def test_an_unknown_stage_is_invalid_input_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        new_lead().change_stage("heaven", PIPELINE, ctx(1))

    assert caught.value.field == "stage"


def test_a_status_not_allowed_in_the_stage_is_refused() -> None:
    lead = new_lead()
    lead.change_stage("mql", PIPELINE, ctx(1))
    lead.hand_off("rep:li", PIPELINE, ctx(2))
    lead.accept_handoff(PIPELINE, ctx(3, "rep:li"))
    lead.change_stage("sql", PIPELINE, ctx(4))
    lead.convert("customer", "acct-1", PIPELINE, ctx(5))
    lead.collect_events()

    with pytest.raises(IllegalTransition) as caught:
        lead.change_status("nurturing", PIPELINE, ctx(6))

    assert caught.value.kind == "status"
    assert "inactive_customer" in caught.value.allowed


def test_a_qualified_mql_becomes_an_sql_by_automation_naming_its_rule() -> None:
    lead = new_lead()
    lead.change_stage("mql", PIPELINE, ctx(1))
    lead.collect_events()

    lead.change_status("qualified", PIPELINE, ctx(2))

    events = recorded(lead)
    assert [e[0] for e in events] == ["StatusChanged", "StageChanged"]
    _, actor, data = events[1]
    assert actor == "system:qualified-mql-to-sql"
    assert data["rule"] == "qualified-mql-to-sql"
    assert data["pipeline_version"] == PIPELINE.version
    assert (data["from_stage"], data["stage"]) == ("mql", "sql")


def test_a_hand_off_sets_an_sla_and_acceptance_moves_the_lead_to_sal_and_to_sales() -> None:
    lead = new_lead()
    lead.assign("rep:mei", PIPELINE, ctx(1))
    lead.change_stage("mql", PIPELINE, ctx(2))
    lead.collect_events()

    lead.hand_off("rep:li", PIPELINE, ctx(3), note="hot")
    [(_, _, handed)] = recorded(lead)
    lead.accept_handoff(PIPELINE, ctx(4, actor="rep:li"))

    assert handed["from_owner"] == "rep:mei"
    assert handed["sla_due"] == T0 + timedelta(minutes=3) + PIPELINE.handoff_sla
    assert [(e[0], e[1]) for e in recorded(lead)] == [
        ("HandOffAccepted", "rep:li"),
        ("StageChanged", "system:handoff-accepted-to-sal"),
    ]
    assert (lead.stage, lead.owner, lead.handoff) == ("sal", "rep:li", None)


def test_a_rejected_hand_off_is_recycled_to_nurture_with_the_reason() -> None:
    lead = new_lead()
    lead.change_stage("mql", PIPELINE, ctx(1))
    lead.hand_off("rep:li", PIPELINE, ctx(2))
    lead.collect_events()

    lead.reject_handoff("no budget this year", PIPELINE, ctx(3, actor="rep:li"))

    events = recorded(lead)
    assert [e[0] for e in events] == [
        "HandOffRejected",
        "LeadRecycled",
        "StageChanged",
        "StatusChanged",
    ]
    assert events[0][2] == {"by": "rep:li", "reason": "no budget this year"}
    assert events[1][2]["reason"] == "no budget this year"
    assert events[2][2]["kind"] == "recycle"
    assert (lead.stage, lead.status) == ("lead", "nurturing")


def test_accepting_without_a_pending_hand_off_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no pending hand-off"):
        new_lead().accept_handoff(PIPELINE, ctx(1))


def test_a_second_hand_off_while_one_is_pending_is_refused() -> None:
    lead = new_lead()
    lead.change_stage("mql", PIPELINE, ctx(1))
    lead.hand_off("rep:li", PIPELINE, ctx(2))

    with pytest.raises(InvalidInput, match="already pending"):
        lead.hand_off("rep:sam", PIPELINE, ctx(3))


def sql_lead() -> Lead:
    lead = new_lead()
    lead.change_stage("mql", PIPELINE, ctx(1))
    lead.change_status("qualified", PIPELINE, ctx(2))
    lead.collect_events()
    return lead


def test_conversion_to_an_opportunity_records_the_account_and_moves_the_stage() -> None:
    lead = sql_lead()

    lead.convert("opportunity", "acct-42", PIPELINE, ctx(3), amount=50_000)

    events = recorded(lead)
    assert events[0][2]["account_ref"] == "acct-42"
    assert [e[0] for e in events] == ["LeadConverted", "StageChanged"]
    assert lead.stage == "opportunity"


def test_a_won_deal_makes_a_customer_with_status_customer() -> None:
    lead = sql_lead()
    lead.convert("opportunity", "acct-42", PIPELINE, ctx(3))
    lead.collect_events()

    lead.win(PIPELINE, ctx(4), amount=1000.0, currency="CNY")

    assert [e[0] for e in recorded(lead)] == ["DealWon", "StageChanged", "StatusChanged"]
    assert (lead.stage, lead.status) == ("customer", "customer")


def test_a_lost_deal_is_recycled_to_marketing_with_status_opportunity_lost() -> None:
    lead = sql_lead()
    lead.convert("opportunity", "acct-42", PIPELINE, ctx(3))

    lead.lose("went with a competitor", PIPELINE, ctx(4))

    assert (lead.stage, lead.status) == ("lead", "opportunity_lost")


def test_a_churned_customer_can_re_enter_and_a_customer_can_be_upsold() -> None:
    lead = sql_lead()
    lead.convert("customer", "acct-42", PIPELINE, ctx(3))
    lead.change_stage("opportunity", PIPELINE, ctx(4), reason="upsell: more seats")
    lead.win(PIPELINE, ctx(5))
    lead.churn("budget cuts", PIPELINE, ctx(6))
    assert (lead.stage, lead.status) == ("churned", "inactive_customer")

    lead.change_stage("lead", PIPELINE, ctx(7), reason="re-engagement campaign")

    kinds = [e.data.kind for e in lead.collect_events() if e.TYPE == "StageChanged"]
    assert kinds == ["promotion", "upsell", "promotion", "exit", "re_entry"]


def test_disqualification_needs_a_reason_and_moves_the_lead_out() -> None:
    lead = new_lead()
    with pytest.raises(InvalidInput) as caught:
        lead.disqualify("  ", PIPELINE, ctx(1))
    assert caught.value.field == "reason"

    lead.disqualify("student", PIPELINE, ctx(1))

    assert (lead.stage, lead.status) == ("disqualified", "unqualified")


def test_a_customer_cannot_be_disqualified_under_the_default_pipeline() -> None:
    lead = sql_lead()
    lead.convert("customer", "acct-42", PIPELINE, ctx(3))
    lead.collect_events()

    with pytest.raises(IllegalTransition) as caught:
        lead.disqualify("bad fit", PIPELINE, ctx(4))

    assert caught.value.rule == "disqualified"
    assert caught.value.allowed == ["churned", "opportunity"]


def test_assign_claim_and_release_move_ownership() -> None:
    lead = new_lead()
    with pytest.raises(InvalidInput, match="public pool"):
        lead.release("no capacity", PIPELINE, ctx(1))

    lead.claim("rep:tom", PIPELINE, ctx(1, "rep:tom"))
    with pytest.raises(InvalidInput, match="owned by"):
        lead.claim("rep:ana", PIPELINE, ctx(2, "rep:ana"))
    lead.assign("rep:ana", PIPELINE, ctx(3, "user:manager"), reason="territory")
    lead.release("left the company", PIPELINE, ctx(4))

    events = recorded(lead)
    assert [e[0] for e in events] == ["LeadClaimed", "LeadAssigned", "LeadReleased"]
    assert events[1][2]["previous_owner"] == "rep:tom"
    assert events[2][2]["previous_owner"] == "rep:ana"
    assert lead.owner is None


def test_activities_are_categorised_and_follow_ups_tracked() -> None:
    lead = new_lead()

    lead.record_activity(ActivityKind.DOWNLOAD, PIPELINE, ctx(1), detail="pricing.pdf")
    lead.record_activity(ActivityKind.CALL, PIPELINE, ctx(2, "rep:tom"), detail="left voicemail")

    events = [e for e in recorded(lead) if e[0] == "ActivityRecorded"]
    assert [(e[2]["activity"], e[2]["category"]) for e in events] == [
        ("download", "behaviour"),
        ("call", "follow_up"),
    ]
    assert lead.last_follow_up_at == T0 + timedelta(minutes=2)


def test_profile_updates_record_only_what_changed() -> None:
    lead = new_lead()

    lead.update_profile(
        {"company": "Acme", "source": "web", "attributes.industry": "retail"}, PIPELINE, ctx(1)
    )

    [(_, _, data)] = [e for e in recorded(lead) if e[0] == "ProfileUpdated"]
    assert data["changes"] == {"company": "Acme", "attributes.industry": "retail"}
    assert lead.attributes == {"industry": "retail"}


def test_an_unknown_profile_field_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        new_lead().update_profile({"shoe_size": "42"}, PIPELINE, ctx(1))

    assert caught.value.field == "changes.shoe_size"


def test_a_score_change_records_delta_and_new_score() -> None:
    lead = new_lead()

    lead.set_score(30, "webinar attended", PIPELINE, ctx(1), rule="behaviour.webinar")
    lead.set_score(25, "decay", PIPELINE, ctx(2), rule="decay")

    events = recorded(lead)
    assert [(e[2]["score"], e[2]["delta"], e[2]["rule"]) for e in events] == [
        (30, 30, "behaviour.webinar"),
        (25, -5, "decay"),
    ]


def test_events_cannot_be_backdated_before_the_leads_latest_event() -> None:
    lead = new_lead()
    lead.record_activity(ActivityKind.CALL, PIPELINE, ctx(10))

    with pytest.raises(InvalidInput) as caught:
        lead.change_stage("mql", PIPELINE, ctx(5))

    assert caught.value.field == "occurred_at"
    assert "before this lead's latest event" in caught.value.reason


def test_backdating_after_the_latest_event_is_allowed() -> None:
    lead = new_lead()
    late = Context(
        actor="rep:tom",
        occurred_at=T0 + timedelta(minutes=5),
        recorded_at=T0 + timedelta(days=7),
    )

    lead.record_activity(ActivityKind.CALL, PIPELINE, late)

    [event] = lead.collect_events()
    assert event.occurred_at < event.recorded_at


def test_an_event_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        Context(actor="x", occurred_at=T0 + timedelta(hours=1), recorded_at=T0)

    assert caught.value.field == "occurred_at"


def test_merging_records_the_merge_on_both_leads_and_closes_the_duplicate() -> None:
    survivor, duplicate = new_lead(), new_lead()

    duplicate.merge_into(survivor, PIPELINE, ctx(1))

    assert [e.TYPE for e in duplicate.collect_events()] == ["LeadMerged"]
    assert [e.TYPE for e in survivor.collect_events()] == ["DuplicateMerged"]
    assert survivor.merged_leads == [duplicate.id]
    with pytest.raises(InvalidInput, match="merged into"):
        duplicate.change_stage("mql", PIPELINE, ctx(2))


def test_erasing_personal_data_clears_it_from_the_state() -> None:
    lead = Lead.capture(
        uuid4(), PIPELINE, ctx(), email="a@b.co", phone="+8613800138000", name="Ann"
    )

    lead.erase_personal_data("GDPR request #12", PIPELINE, ctx(1))

    erased = lead.collect_events()[-1]
    assert erased.data.fields == ["email", "phone", "name"]
    assert (lead.email, lead.phone, lead.name, lead.erased) == (None, None, None, True)


def test_state_rebuilt_from_the_events_equals_the_live_state() -> None:
    lead = Lead.capture(uuid4(), PIPELINE, ctx(), email="ann@example.com")
    lead.assign("rep:mei", PIPELINE, ctx(1))
    lead.change_stage("mql", PIPELINE, ctx(2))
    lead.hand_off("rep:li", PIPELINE, ctx(3))
    lead.accept_handoff(PIPELINE, ctx(4, "rep:li"))
    lead.change_status("qualified", PIPELINE, ctx(5))

    assert replayed(lead.collect_events()) == lead


def test_a_hand_off_between_sales_reps_after_sal_is_accepted_without_a_stage_change() -> None:
    lead = sql_lead()
    lead.assign("rep:li", PIPELINE, ctx(3))
    lead.hand_off("rep:ae-kim", PIPELINE, ctx(4), note="enterprise deal")
    lead.collect_events()

    lead.accept_handoff(PIPELINE, ctx(5, actor="rep:ae-kim"))

    assert [e.TYPE for e in lead.collect_events()] == ["HandOffAccepted"]
    assert (lead.stage, lead.owner) == ("sql", "rep:ae-kim")
