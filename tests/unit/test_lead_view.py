"""``LeadView``: the documented public shape of a lead's state, built from the aggregate."""

from __future__ import annotations

from datetime import timedelta

from leadflow import LeadView
from leadflow.service.pipeline_files import default_pipeline

from support.driver import LEAD_ID, T0, Driver

INTERNAL = {
    "fit",
    "awards",
    "decay_anchor",
    "decayed_to",
    "known_contacts",
    "lost_by",
    "stage_breached_for",
    "handoff",
    "last_occurred_at",
    "_pending",
}


def _handed_off() -> Driver:
    driver = Driver(default_pipeline(), email="ann@example.com", company="Acme")
    driver.at(hours=1).do("assign", "rep:mei")
    driver.at(hours=1).activity("download")
    driver.at(hours=1).do("release", "going on leave")
    driver.at(hours=1).do("claim", "rep:li")
    driver.at(hours=1).do("hand_off", "rep:bo")
    return driver


def test_the_view_holds_the_leads_public_state() -> None:
    driver = _handed_off()
    view = LeadView.of(driver.lead)

    assert (view.lead_id, view.version, view.owner) == (LEAD_ID, driver.lead.version, "rep:li")
    assert view.captured_at == T0
    assert view.last_event_at == driver.lead.last_occurred_at
    assert view.last_activity_at == T0 + timedelta(hours=2)
    assert view.pending_handoff is not None
    assert (view.pending_handoff.from_owner, view.pending_handoff.to_owner) == ("rep:li", "rep:bo")
    assert view.pending_handoff.sla_due == T0 + timedelta(hours=5) + timedelta(days=2)


def test_the_view_leaves_out_the_scoring_and_recycling_bookkeeping() -> None:
    driver = _handed_off()
    assert driver.lead.fit  # the internals are there, just not in the view
    assert driver.lead.lost_by
    assert driver.lead.known_contacts

    dumped = LeadView.of(driver.lead).model_dump(mode="json")

    assert not INTERNAL & set(dumped)
    assert list(dumped) == list(LeadView.model_fields)


def test_view_times_serialise_with_a_numeric_utc_offset_not_z() -> None:
    dumped = LeadView.of(_handed_off().lead).model_dump(mode="json")

    assert dumped["captured_at"] == "2026-01-05T09:00:00+00:00"
    assert dumped["pending_handoff"]["sla_due"] == "2026-01-07T14:00:00+00:00"


def test_every_view_field_is_documented() -> None:
    assert all(field.description for field in LeadView.model_fields.values())
