"""Erasure erases the person: a merge said two leads are one person, so erasing the lead
that survived erases every lead merged into it (directly or through another duplicate),
each with its own ``PersonalDataErased`` and its own data key destroyed, and releases the
contact keys each brought. A lead merged away is erased through its survivor; an erased
person is not unmerged; an erasure cut short is finished by erasing again."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from leadflow.domain.personal_data import ERASED
from leadflow.errors import InvalidInput
from leadflow.service import handlers
from leadflow.service.application import Leadflow
from leadflow.service.data_keys import DataKeys
from leadflow.service.erasure_audit import UnfinishedErasure, unfinished_erasures

from support.cli import invoke, leadflow


def keys_of(app: Leadflow) -> DataKeys:
    assert app.keys is not None
    return app.keys


def erasures(app: Leadflow, lead: UUID) -> list[dict[str, object]]:
    return [r.data for r in app.read_events(lead_id=lead) if r.type == "PersonalDataErased"]


def captured_email(app: Leadflow, lead: UUID) -> object:
    return next(r for r in app.read_events(lead_id=lead) if r.type == "LeadCaptured").data["email"]


def test_erasing_the_survivor_erases_each_lead_merged_into_it(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com", name="Ada").lead_id
    duplicate = app.capture(
        email="ada.li@work.example", phone="13800138000", name="Ada Li", company="Engines"
    ).lead_id
    app.record_activity(duplicate, "note", detail="met Ada Li at the salon")
    app.merge(duplicate, survivor)

    result = app.erase_personal_data(survivor, "ticket 9")

    assert result.lead_id == survivor
    erased_ids = {e.aggregate_id for e in result.events if e.type == "PersonalDataErased"}
    assert erased_ids == {survivor, duplicate}
    state = app.get_lead(duplicate)
    assert state.erased
    assert (state.email, state.phone, state.name, state.company) == (None, None, None, None)
    assert erasures(app, duplicate) == [
        {"fields": ["email", "phone", "name", "company"], "reason": "ticket 9"}
    ]
    assert captured_email(app, duplicate) == ERASED
    detail = next(r for r in app.read_events(lead_id=duplicate) if r.type == "ActivityRecorded")
    assert detail.data["detail"] == ERASED
    assert keys_of(app).destroyed(duplicate)
    assert keys_of(app).destroyed(survivor)
    for kind, value in (("email", "ada.li@work.example"), ("phone", "+8613800138000")):
        key = app.key(app.contact_key_id(kind, value))
        assert key is not None
        assert key.lead_id is None  # released: leads nowhere
    again = app.capture(phone="13800138000").lead_id
    assert again not in (survivor, duplicate)  # the erased person is gone


def test_a_chain_of_merges_is_one_person(app: Leadflow) -> None:
    first = app.capture(email="one@example.com").lead_id
    second = app.capture(email="two@example.com").lead_id
    third = app.capture(email="three@example.com").lead_id
    app.merge(third, second)  # third into second, then second into first
    app.merge(second, first)

    app.erase_personal_data(first, "ticket 10")

    for lead in (first, second, third):
        assert app.get_lead(lead).erased
        assert keys_of(app).destroyed(lead)
        assert captured_email(app, lead) == ERASED
    key = app.key(app.contact_key_id("email", "three@example.com"))
    assert key is not None
    assert key.lead_id is None


def test_an_unmerged_lead_is_not_erased_with_its_former_survivor(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    other = app.capture(email="bob@example.com", name="Bob").lead_id
    app.merge(other, survivor)
    app.unmerge(other, reason="two people")

    app.erase_personal_data(survivor, "ticket 11")

    assert not app.get_lead(other).erased
    assert app.get_lead(other).name == "Bob"
    assert app.capture(email="bob@example.com").lead_id == other


def test_a_lead_merged_away_is_erased_through_its_survivor(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example").lead_id
    app.merge(duplicate, survivor)
    before = app.max_position()

    with pytest.raises(InvalidInput) as refused:
        app.erase_personal_data(duplicate, "ticket 12")

    assert refused.value.field == "lead_id"
    assert f"merged into {survivor}; erase that lead" in str(refused.value)
    assert app.max_position() == before
    assert app.get_lead(duplicate).email == "ada.li@work.example"


def test_an_erased_person_is_not_unmerged(app: Leadflow) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example").lead_id
    app.merge(duplicate, survivor)
    app.erase_personal_data(survivor, "ticket 13")
    before = app.max_position()

    with pytest.raises(InvalidInput, match="an erased person stays one lead"):
        app.unmerge(duplicate, reason="two people after all")

    assert app.max_position() == before
    assert app.get_lead(duplicate).merged_into == survivor


def test_erasing_again_finishes_an_erasure_cut_short_before_every_key_was_destroyed(
    app: Leadflow,
) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example").lead_id
    app.merge(duplicate, survivor)
    keys = keys_of(app)
    destroy = keys.destroy
    keys.destroy = lambda lead_id: lead_id == survivor and destroy(lead_id)  # type: ignore[method-assign]
    app.erase_personal_data(survivor, "ticket 14")  # "crashed" before the duplicate's key
    keys.destroy = destroy  # type: ignore[method-assign]
    assert keys.destroyed(survivor)
    assert not keys.destroyed(duplicate)
    assert list(unfinished_erasures(app)) == [UnfinishedErasure(survivor, (), (duplicate,))]

    app.erase_personal_data(survivor, "ticket 14")

    assert list(unfinished_erasures(app)) == []
    assert keys.destroyed(duplicate)
    assert len(erasures(app, duplicate)) == 1
    with pytest.raises(InvalidInput, match="erased already"):
        app.erase_personal_data(survivor, "ticket 14")


def test_erasing_again_erases_the_leads_an_earlier_erasure_left(
    app: Leadflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor = app.capture(email="ada@example.com").lead_id
    duplicate = app.capture(email="ada.li@work.example", name="Ada Li").lead_id
    app.merge(duplicate, survivor)
    with monkeypatch.context() as before_the_fix:  # erasure as it was: the survivor alone
        before_the_fix.setattr(handlers, "merged_into_person", lambda lead, find: [])
        app.erase_personal_data(survivor, "ticket 15")
    assert app.get_lead(duplicate).name == "Ada Li"
    assert list(unfinished_erasures(app)) == [UnfinishedErasure(survivor, (duplicate,), ())]
    position = app.max_position()
    with pytest.raises(InvalidInput, match=f"erase lead {survivor} again"):
        app.unmerge(duplicate, reason="it still has its data")
    assert app.max_position() == position

    app.erase_personal_data(survivor, "ticket 15")

    assert list(unfinished_erasures(app)) == []
    assert app.get_lead(duplicate).erased
    assert keys_of(app).destroyed(duplicate)
    assert captured_email(app, duplicate) == ERASED
    assert len(erasures(app, survivor)) == 1


def test_doctor_names_an_erasure_left_unfinished_until_it_is_erased_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    leadflow(db_url, "init")
    survivor = json.loads(leadflow(db_url, "capture", "--email", "ada@example.com", "--json"))
    duplicate = json.loads(leadflow(db_url, "capture", "--email", "li@work.example", "--json"))
    leadflow(db_url, "merge", duplicate["lead_id"], survivor["lead_id"])
    with monkeypatch.context() as older_version:  # it erased the survivor alone
        older_version.setattr(handlers, "merged_into_person", lambda lead, find: [])
        leadflow(db_url, "erase", survivor["lead_id"], "--reason", "ticket 16")

    doctor = json.loads(invoke("doctor", "--json", "--db", db_url, expect=1).stdout)
    assert doctor["unfinished_erasures"] == [
        {"lead_id": survivor["lead_id"], "not_erased": [duplicate["lead_id"]], "keys_left": []}
    ]
    human = invoke("doctor", "--db", db_url, expect=1).stdout
    assert "erasures left unfinished" in human
    assert duplicate["lead_id"] in human

    leadflow(db_url, "erase", survivor["lead_id"], "--reason", "ticket 16")
    assert json.loads(leadflow(db_url, "doctor", "--json"))["unfinished_erasures"] == []
