"""Explicit merge and unmerge: provenance kept, keys follow, nothing deleted."""

from __future__ import annotations

import pytest

from leadflow.errors import InvalidInput
from leadflow.service.application import Leadflow

from support.stores import on_roster


def test_merge_moves_the_duplicates_keys_to_the_survivor(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(phone="13800138000", email="ada.li@work.example").lead_id

    app.merge(duplicate, survivor)

    for kind, value in (("phone", "+8613800138000"), ("email", "ada.li@work.example")):
        key = app.key(app.contact_key_id(kind, value))
        assert key is not None
        assert (key.lead_id, key.previous) == (survivor, duplicate)
    assert app.capture(phone="138-0013-8000").lead_id == survivor


def test_merge_keeps_the_duplicates_history_queryable(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example").lead_id
    app.record_activity(duplicate, "page_visit", detail="/pricing")
    before = [r.type for r in app.read_events(lead_id=duplicate)]

    app.merge(duplicate, survivor)

    after = [r.type for r in app.read_events(lead_id=duplicate)]
    assert after[: len(before)] == before
    assert after[len(before) :] == ["LeadMerged"]
    assert app.get_lead(duplicate).merged_into == survivor
    assert app.get_lead(survivor).merged_leads == [duplicate]


def test_unmerge_compensates_and_moves_the_keys_back(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example").lead_id
    app.merge(duplicate, survivor)
    count = len(list(app.read_events(include_org=True)))

    result = app.unmerge(duplicate, reason="two different people")

    types = [e.type for e in result.events]
    assert types[:2] == ["LeadUnmerged", "DuplicateUnmerged"]
    assert "ContactKeyMoved" in types
    assert len(list(app.read_events(include_org=True))) == count + len(types)  # none deleted
    assert app.get_lead(duplicate).merged_into is None
    assert app.get_lead(survivor).merged_leads == []
    assert app.capture(email="ada.li@work.example").lead_id == duplicate
    assert app.capture(email="ada@example.com").lead_id == survivor


def test_unmerge_leaves_the_survivors_own_keys_alone(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example").lead_id
    app.merge(duplicate, survivor)

    app.unmerge(duplicate, reason="mistake")

    key = app.key(app.contact_key_id("email", "ada@example.com"))
    assert key is not None
    assert key.lead_id == survivor


def test_a_lead_that_was_not_merged_cannot_be_unmerged(app: Leadflow) -> None:
    lead = app.capture(email="ada@example.com").lead_id

    with pytest.raises(InvalidInput) as refused:
        app.unmerge(lead, reason="mistake")

    assert refused.value.field == "lead_id"


def test_unmerge_needs_a_reason(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example").lead_id
    app.merge(duplicate, survivor)

    with pytest.raises(InvalidInput) as refused:
        app.unmerge(duplicate, reason=" ")

    assert refused.value.field == "reason"


def test_a_merged_duplicate_stops_counting_toward_its_owners_load(app: Leadflow) -> None:
    app.add_rep("rep:a")
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example").lead_id
    on_roster(app, "rep:b")
    app.assign(duplicate, "rep:b")
    assert app.roster().load("rep:b") == 1

    app.merge(duplicate, survivor)
    assert app.roster().load("rep:b") == 0

    app.unmerge(duplicate, reason="mistake")
    assert app.roster().load("rep:b") == 1
