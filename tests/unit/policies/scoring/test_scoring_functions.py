"""The pure scoring functions, without a lead's history."""

from __future__ import annotations

import pytest

from leadflow.domain.pipeline import BantRule, MqlRule, ProfileRule, ScoringRules
from leadflow.domain.scoring import bant_decision, bounded, crosses_mql, fit_holds


def _fit(**condition: object) -> ProfileRule:
    return ProfileRule.model_validate({"id": "p", "field": "company", "points": 5, **condition})


@pytest.mark.parametrize(
    ("condition", "value", "holds"),
    [
        ({"equals": "Software"}, "software", True),
        ({"equals": "software"}, "retail", False),
        ({"equals": "software"}, None, False),
        ({"one_of": ["finance", "Software"]}, "SOFTWARE", True),
        ({"one_of": ["finance"]}, "software", False),
        ({"present": True}, "Acme", True),
        ({"present": True}, "", False),
        ({"present": True}, None, False),
        ({"present": False}, None, True),
        ({"present": False}, "Acme", False),
    ],
)
def test_fit_conditions(condition: dict[str, object], value: str | None, holds: bool) -> None:
    assert fit_holds(_fit(**condition), value) is holds


def test_bounded_keeps_the_score_within_bounds_and_rounds_to_cents() -> None:
    rules = ScoringRules(min_score=0, max_score=100)
    assert bounded(-3, rules) == 0
    assert bounded(100.5, rules) == 100
    assert bounded(12.3456, rules) == 12.35
    assert bounded(1e9, ScoringRules()) == 1e9  # no maximum by default


@pytest.mark.parametrize(
    ("stage", "before", "after", "promotes"),
    [
        ("lead", 49, 50, True),
        ("lead", 0, 80, True),
        ("lead", 50, 60, False),  # already at or above: no crossing
        ("lead", 40, 49.99, False),
        ("lead", 60, 40, False),  # downward
        ("sal", 40, 60, False),  # not a stage that promotes
    ],
)
def test_mql_promotes_on_an_upward_crossing_in_its_stages(
    stage: str, before: float, after: float, promotes: bool
) -> None:
    rule = MqlRule(threshold=50, from_stages=["subscriber", "lead"])
    assert crosses_mql(rule, stage, before, after) is promotes


def test_bant_counts_yes_answers_against_the_required_number() -> None:
    rule = BantRule(required=3, stages=["mql"])
    three = {"budget": True, "authority": True, "need": False, "timeline": True}
    assert bant_decision(rule, "mql", "open", three) == (
        "BANT 3/4 met (budget, authority, timeline); 3 required"
    )
    assert bant_decision(rule, "mql", "open", {**three, "timeline": False}) is None
    assert bant_decision(rule, "lead", "open", three) is None  # outside its stages
    assert bant_decision(rule, "mql", "qualified", three) is None  # nothing to change
