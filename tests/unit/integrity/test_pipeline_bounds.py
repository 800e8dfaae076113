"""Pipelines are bounded at validation time: a file that validates never fails at run time.

Once, a stage SLA of ``99999999d`` made every ``sweep`` fail, a hand-off SLA of
``999999999d`` made ``handoff`` fail, and negative SLAs, negative thresholds and
automation rules that trigger each other for ever all validated.
"""

from __future__ import annotations

from typing import Any

import pytest

from leadflow.domain.automation_loops import automation_loops
from leadflow.domain.pipeline import Pipeline, parse_pipeline
from leadflow.errors import PipelineInvalid

from support.pipelines import default_document


def problems_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(document)
    return caught.value.problems


@pytest.mark.parametrize("sla", ["99999999d", "999999999d", "3651d", "-1d", "0s", "-PT1H"])
def test_a_stage_sla_outside_the_window_is_refused(sla: str) -> None:
    document = default_document()
    document["stages"]["mql"]["sla"] = sla
    [(key, reason)] = problems_of(document)
    assert key == "stages.mql.sla"
    assert "more than 0" in reason or "limit" in reason


@pytest.mark.parametrize("sla", ["999999999d", "-2d"])
def test_a_handoff_sla_outside_the_window_is_refused(sla: str) -> None:
    document = default_document()
    document["handoff_sla"] = sla
    [(key, _)] = problems_of(document)
    assert key == "handoff_sla"


def test_durations_at_the_bounds_are_accepted() -> None:
    document = default_document()
    document["stages"]["mql"]["sla"] = "3650d"
    document["handoff_sla"] = "1s"
    document["pool"]["reclaim_after"] = "0s"
    parse_pipeline(document)


def test_a_negative_mql_threshold_is_refused() -> None:
    document = default_document()
    document["scoring"]["mql"]["threshold"] = -5
    assert ("scoring.mql.threshold", "must be above scoring.min_score") in problems_of(document)


@pytest.mark.parametrize("value", [float("inf"), 1e12])
def test_scoring_points_are_bounded(value: float) -> None:
    document = default_document()
    document["scoring"]["behaviour"][0]["points"] = value
    [(key, _)] = problems_of(document)
    assert key == "scoring.behaviour.0.points"


def test_a_rule_id_long_enough_to_break_its_actor_is_refused() -> None:
    document = default_document()
    document["automation"][0]["id"] = "r" * 300
    [(key, _)] = problems_of(document)
    assert key == "automation.0.id"


def test_automation_rules_that_trigger_each_other_are_refused_naming_them() -> None:
    document = default_document()
    document["automation"] += [
        {"id": "ping", "when": {"stage": "sal"}, "then": {"stage": "sql"}},
        {"id": "pong", "when": {"stage": "sql"}, "then": {"stage": "sal"}},
    ]
    loops = [reason for key, reason in problems_of(document) if key == "automation"]
    assert "rules trigger each other in a loop: ping -> pong" in loops


def test_a_rule_that_undoes_itself_through_status_is_a_loop_too() -> None:
    document = default_document()
    document["automation"] += [
        {"id": "open-to-contacted", "when": {"status": "open"}, "then": {"status": "contacted"}},
        {"id": "contacted-to-open", "when": {"status": "contacted"}, "then": {"status": "open"}},
    ]
    loops = [reason for key, reason in problems_of(document) if key == "automation"]
    assert any("open-to-contacted -> contacted-to-open" in reason for reason in loops)


def test_the_shipped_rules_have_no_loop() -> None:
    assert automation_loops(Pipeline.model_validate(default_document()).automation) == []
