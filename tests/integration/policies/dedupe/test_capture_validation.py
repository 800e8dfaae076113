"""Capture validation: a reachable contact, normalised, or nothing is written (part 1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from leadflow.domain.pipeline import Pipeline
from leadflow.errors import InvalidInput
from leadflow.service.application import Leadflow

UsePipeline = Callable[..., Pipeline]


def test_phones_are_normalised_to_e164_in_the_default_region(app: Leadflow) -> None:
    lead = app.get_lead(app.capture(phone="138 0013 8000").lead_id)

    assert lead.phone == "+8613800138000"


def test_the_default_region_is_configurable(app: Leadflow, use_pipeline: UsePipeline) -> None:
    use_pipeline(capture={"default_region": "US"})

    lead = app.get_lead(app.capture(phone="(415) 555-2671").lead_id)

    assert lead.phone == "+14155552671"


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", "12345"), ("email", "not-an-email"), ("wechat", "1abc")],
)
def test_invalid_contact_details_are_refused_and_nothing_is_written(
    app: Leadflow, field: str, value: str
) -> None:
    assert app.pipeline.version  # the shipped pipeline is activated (an event) on first use
    before = app.max_position()

    with pytest.raises(InvalidInput) as refused:
        app.capture(**{field: value})

    assert refused.value.field == field
    assert app.max_position() == before


def test_a_lead_without_any_contact_is_refused(app: Leadflow) -> None:
    with pytest.raises(InvalidInput) as refused:
        app.capture(name="Ada")

    assert refused.value.field == "contact"


def test_which_contacts_count_is_configurable(app: Leadflow, use_pipeline: UsePipeline) -> None:
    use_pipeline(capture={"contact_fields": ["phone"]})

    with pytest.raises(InvalidInput) as refused:
        app.capture(email="ada@example.com")
    assert "phone" in refused.value.reason

    assert app.capture(phone="13800138000").lead_id


def test_a_profile_update_may_not_remove_the_last_contact(app: Leadflow) -> None:
    lead = app.capture(email="ada@example.com").lead_id

    with pytest.raises(InvalidInput) as refused:
        app.update_profile(lead, {"email": None})

    assert refused.value.field == "changes"


def test_a_profile_update_may_swap_one_contact_for_another(app: Leadflow) -> None:
    lead = app.capture(email="ada@example.com").lead_id

    app.update_profile(lead, {"email": None, "phone": "13800138000"})

    assert app.get_lead(lead).phone == "+8613800138000"
