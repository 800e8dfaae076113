"""Dedupe at capture: the same person never becomes two leads (issue 3, part 2)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from leadflow.domain.pipeline import Pipeline
from leadflow.errors import ConcurrencyConflict, InvalidInput
from leadflow.service.application import Leadflow
from leadflow.service.intake import capture
from leadflow.service.unit_of_work import unit_of_work

from support.stores import on_roster

UsePipeline = Callable[..., Pipeline]


def lead_ids(app: Leadflow) -> set[str]:
    return {str(r.lead_id) for r in app.read_events(types=["LeadCaptured"])}


def test_a_capture_under_a_known_phone_records_a_touch_instead_of_a_lead(app: Leadflow) -> None:
    first = app.capture(phone="138 0013 8000", source="web_form", campaign="spring")

    again = app.capture(phone="+86-138-0013-8000", source="trade_fair", campaign="autumn")

    assert again.lead_id == first.lead_id
    assert [e.type for e in again.events] == ["TouchRecorded"]
    touch = next(app.read_events(types=["TouchRecorded"]))
    assert touch.data["matched_on"] == ["phone"]
    assert (touch.data["source"], touch.data["campaign"]) == ("trade_fair", "autumn")
    assert len(lead_ids(app)) == 1
    assert app.get_lead(first.lead_id).touches == 1


def test_a_different_person_is_a_new_lead(app: Leadflow) -> None:
    first = app.capture(phone="13800138000", email="ada@example.com")

    other = app.capture(phone="13900139000", email="bob@example.com")

    assert other.lead_id != first.lead_id
    assert "TouchRecorded" not in [e.type for e in other.events]


def test_the_touch_names_the_owner_to_tell(app: Leadflow) -> None:
    first = app.capture(email="ada@example.com")
    on_roster(app, "rep:li")
    app.assign(first.lead_id, "rep:li")

    app.capture(email="ADA@Example.com ", source="webinar")

    touch = next(app.read_events(types=["TouchRecorded"]))
    assert touch.data["notify"] == "rep:li"


def test_an_unowned_lead_touch_notifies_nobody(app: Leadflow) -> None:
    app.capture(email="ada@example.com")

    app.capture(email="ada@example.com")

    assert next(app.read_events(types=["TouchRecorded"])).data["notify"] is None


def test_only_the_configured_keys_match(app: Leadflow, use_pipeline: UsePipeline) -> None:
    use_pipeline(dedupe={"keys": ["email"]})
    first = app.capture(phone="13800138000", email="ada@example.com")

    by_phone = app.capture(phone="13800138000", email="other@example.com")
    by_email = app.capture(email="ada@example.com")

    assert by_phone.lead_id != first.lead_id
    assert by_email.lead_id == first.lead_id


def test_wechat_ids_match_case_insensitively(app: Leadflow) -> None:
    first = app.capture(wechat="Ada_Li88")

    assert app.capture(wechat="ada_li88").lead_id == first.lead_id


def test_a_touch_with_a_new_email_makes_that_email_find_the_lead(app: Leadflow) -> None:
    first = app.capture(phone="13800138000")
    app.capture(phone="13800138000", email="ada@example.com")

    assert app.capture(email="ada@example.com").lead_id == first.lead_id


def test_new_keys_of_a_touch_are_not_adopted_when_switched_off(
    app: Leadflow, use_pipeline: UsePipeline
) -> None:
    use_pipeline(dedupe={"adopt_new_keys": False})
    first = app.capture(phone="13800138000")
    app.capture(phone="13800138000", email="ada@example.com")

    assert app.capture(email="ada@example.com").lead_id != first.lead_id


def test_a_touch_matching_two_leads_goes_to_the_first_key_and_names_the_other(
    app: Leadflow,
) -> None:
    by_phone = app.capture(phone="13800138000")
    by_email = app.capture(email="ada@example.com")

    touch = app.capture(phone="13800138000", email="ada@example.com")

    assert touch.lead_id == by_phone.lead_id  # dedupe.keys lists phone first
    record = next(app.read_events(types=["TouchRecorded"]))
    assert record.data["other_matches"] == [str(by_email.lead_id)]


def test_two_concurrent_captures_of_one_person_conflict_in_the_store(db_url: str) -> None:
    from leadflow.adapters.store import open_store

    one, two = open_store(db_url, actor="user:a"), open_store(db_url, actor="user:b")
    try:
        command = one.validate_capture({"email": "ada@example.com"})
        # Both decide before either saves: neither sees the other's key.
        with unit_of_work(one, "capture", one.context()) as first:
            created = capture(first, command, first.ctx)
            with unit_of_work(two, "capture", two.context()) as second:
                capture(second, command, second.ctx)
                first.commit()
                with pytest.raises(ConcurrencyConflict):
                    second.commit()

        # The ordinary command retries on a fresh read and finds the match.
        retried = two.capture(email="ada@example.com")
        assert retried.lead_id == created.lead_id
        assert [e.type for e in retried.events] == ["TouchRecorded"]
        assert len(lead_ids(one)) == 1
    finally:
        one.close()
        two.close()


def test_the_index_is_found_by_key_id_without_scanning(app: Leadflow) -> None:
    lead = app.capture(email="ada@example.com").lead_id

    key = app.key(app.contact_key_id("email", "ada@example.com"))

    assert key is not None
    assert (key.kind, key.lead_id) == ("email", lead)


def test_a_lead_whose_personal_data_was_erased_no_longer_matches(app: Leadflow) -> None:
    first = app.capture(email="ada@example.com")
    app.erase_personal_data(first.lead_id, "gdpr request")

    again = app.capture(email="ada@example.com")

    assert again.lead_id != first.lead_id
    key = app.key(app.contact_key_id("email", "ada@example.com"))
    assert key is not None
    assert key.lead_id == again.lead_id
    assert key.history == [first.lead_id, again.lead_id]
    keyed = [
        (r.type, r.data.get("from_lead_id") or r.data.get("lead_id"))
        for r in app.read_events(include_org=True)
        if r.type.startswith("ContactKey")
    ]
    # The erasure released the key; the next capture reserved it anew for a new lead.
    assert keyed == [
        ("ContactKeyReserved", str(first.lead_id)),
        ("ContactKeyReleased", str(first.lead_id)),
        ("ContactKeyReserved", str(again.lead_id)),
    ]


def test_changing_a_leads_email_to_another_leads_email_is_refused(app: Leadflow) -> None:
    app.capture(email="ada@example.com")
    bob = app.capture(email="bob@example.com")

    with pytest.raises(InvalidInput) as refused:
        app.update_profile(bob.lead_id, {"email": "Ada@example.com"})

    assert refused.value.field == "email"
    assert "merge" in refused.value.reason


def test_a_new_email_from_a_profile_update_joins_the_index(app: Leadflow) -> None:
    bob = app.capture(phone="13900139000")
    app.update_profile(bob.lead_id, {"email": "bob@example.com"})

    assert app.capture(email="bob@example.com").lead_id == bob.lead_id


def test_an_explicit_lead_id_is_kept_for_a_new_person(app: Leadflow) -> None:
    wanted = uuid4()

    assert app.capture(email="ada@example.com", lead_id=wanted).lead_id == wanted


def test_writers_racing_on_the_same_people_create_one_lead_each(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from leadflow.adapters.store import open_store

    people = [f"person{i}@example.com" for i in range(15)]
    # Opened one after the other: concurrent first opens of an empty PostgreSQL schema race
    # on CREATE TABLE (a store-level issue, not dedupe's).
    apps = [open_store(db_url, actor=f"user:w{n}") for n in range(4)]
    assert apps[0].pipeline.version  # activate once, before the race

    def writer(n: int) -> None:
        for email in people if n % 2 else reversed(people):
            apps[n].capture(email=email.upper() if n % 3 else email, source=f"w{n}")

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(writer, range(4)))

        check = apps[0]
        assert len(list(check.read_events(types=["LeadCaptured"]))) == len(people)
        assert len(list(check.read_events(types=["TouchRecorded"]))) == 3 * len(people)
    finally:
        for app in apps:
            app.close()
