"""A failed command must not change the cached lead: copies share no mutable state."""

from __future__ import annotations

import copy
from dataclasses import fields

import orjson
import pytest

from leadflow.domain.pipeline import Pipeline, parse_pipeline
from leadflow.errors import IllegalTransition
from leadflow.service.application import Leadflow
from leadflow.service.pipeline_files import default_pipeline

from support.stores import on_roster


def test_a_copied_lead_shares_no_mutable_field_with_the_original(app: Leadflow) -> None:
    lead_id = app.capture(email="ada@example.com").lead_id
    on_roster(app, "rep:a")
    app.assign(lead_id, "rep:a")
    lead = app.get_lead(lead_id)

    copied = copy.deepcopy(lead)

    for f in fields(lead):
        value = getattr(lead, f.name)
        if isinstance(value, list | dict | set):
            assert getattr(copied, f.name) is not value, f.name


def pipeline_accepting_hand_offs_into_sal_from_any_stage() -> Pipeline:
    document = orjson.loads(default_pipeline().canonical_json())
    for rule in document["automation"]:
        if rule["id"] == "handoff-accepted-to-sal":
            rule["when"] = {"event": "HandOffAccepted"}
    return parse_pipeline(document)


def test_a_refused_hand_off_acceptance_leaves_the_lead_as_stored(app: Leadflow) -> None:
    app.activate_pipeline(pipeline_accepting_hand_offs_into_sal_from_any_stage())
    lead_id = app.capture(email="ada@example.com", stage="subscriber").lead_id
    on_roster(app, "rep:a", "rep:b")
    app.assign(lead_id, "rep:a")
    app.hand_off(lead_id, "rep:b")

    with pytest.raises(IllegalTransition):  # automation may not move subscriber -> sal
        app.accept_handoff(lead_id, actor="rep:b")

    assert app.get_lead(lead_id).lost_by == {}
    assert app.roster().load("rep:a") == 1
