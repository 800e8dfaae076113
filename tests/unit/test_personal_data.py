"""What is personal is declared once, on the event classes, and a payload splits along it."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from leadflow.domain.events import EVENT_TYPES, TOPICS, LeadCaptured, ProfileUpdated
from leadflow.domain.personal_data import (
    DEFAULT_ATTRIBUTES,
    ERASED,
    LEAD_FIELDS,
    drop,
    mark,
    personal_paths,
    put,
    take,
)


def test_every_declared_personal_field_is_a_field_of_its_payload() -> None:
    for cls in TOPICS.values():
        fields = cls.DATA.model_fields
        for spec in cls.PERSONAL:
            name, _, rest = spec.partition(".")
            assert name in fields, f"{cls.TYPE}.PERSONAL names {spec!r}, not a field"
            assert rest in ("", "*"), f"{cls.TYPE}.PERSONAL: {spec!r} is neither name nor name.*"
            if rest == "*":
                assert "dict" in str(fields[name].annotation), f"{cls.TYPE}.{name} is no dict"


def test_the_contact_fields_names_companies_notes_details_and_reasons_are_personal() -> None:
    assert set(LeadCaptured.PERSONAL) == {*LEAD_FIELDS, "attributes.*"}
    free_text = {"reason", "note", "detail"}
    for cls in EVENT_TYPES.values():
        for name in free_text & set(cls.DATA.model_fields):
            if cls.TYPE != "PersonalDataErased":  # the request's reference is kept
                assert name in cls.PERSONAL, f"{cls.TYPE}.{name} is free text"
    assert EVENT_TYPES["PersonalDataErased"].PERSONAL == ()


def test_only_the_attributes_the_pipeline_marks_personal_are_personal() -> None:
    data = {"email": "a@b.example", "name": None, "attributes": {"linkedin": "x", "region": "emea"}}

    assert personal_paths(LeadCaptured.PERSONAL, data, DEFAULT_ATTRIBUTES) == [
        "email",
        "attributes.linkedin",
    ]
    assert personal_paths(LeadCaptured.PERSONAL, data, ["region"]) == ["email", "attributes.region"]


def test_a_profile_change_is_personal_when_its_field_or_attribute_is() -> None:
    changes = {"changes": {"company": "Acme", "source": "web", "attributes.linkedin": "x"}}

    paths = personal_paths(ProfileUpdated.PERSONAL, changes, ["linkedin"])

    assert paths == ["changes.attributes.linkedin", "changes.company"]


payloads = st.fixed_dictionaries(
    {
        "stage": st.just("lead"),
        "email": st.none() | st.emails(),
        "name": st.none() | st.text(max_size=20),
        "company": st.none() | st.text(max_size=20),
        "attributes": st.dictionaries(
            st.sampled_from(["linkedin", "region", "address", "industry"]), st.text(max_size=10)
        ),
    }
)


@given(payloads)
def test_taking_the_personal_values_out_and_putting_them_back_gives_the_payload(
    data: dict[str, Any],
) -> None:
    original = copy.deepcopy(data)
    paths = personal_paths(LeadCaptured.PERSONAL, data, DEFAULT_ATTRIBUTES)

    taken = take(data, paths)

    assert not personal_paths(LeadCaptured.PERSONAL, data, DEFAULT_ATTRIBUTES)
    assert data["stage"] == "lead"
    assert data["attributes"].keys() <= {"region", "industry"}
    assert put(data, taken) == original


@given(payloads)
def test_a_marked_payload_keeps_its_shape_and_holds_no_personal_value(data: dict[str, Any]) -> None:
    paths = personal_paths(LeadCaptured.PERSONAL, data, DEFAULT_ATTRIBUTES)
    marked = mark(copy.deepcopy(data), paths, ERASED)

    assert marked.keys() == data.keys()
    assert marked["attributes"].keys() == data["attributes"].keys()
    assert all(take(copy.deepcopy(marked), paths)[p] == ERASED for p in paths)
    dropped = drop(copy.deepcopy(data), paths)
    assert not personal_paths(LeadCaptured.PERSONAL, dropped, DEFAULT_ATTRIBUTES)
