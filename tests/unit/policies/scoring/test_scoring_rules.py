"""Scoring rules, each shown firing and not firing, on a lead driven in memory."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from leadflow.domain.events import ScoreKind
from leadflow.domain.pipeline import Pipeline
from leadflow.errors import PipelineInvalid

from support.driver import Driver, scored
from support.pipelines import pipeline_with


def scoring(**overrides: Any) -> Pipeline:
    """The shipped pipeline with keys of its [scoring] section replaced."""
    return pipeline_with(scoring=overrides)


DEFAULT = pipeline_with()


# ---- profile fit ---------------------------------------------------------------------------


def test_a_matching_profile_earns_its_fit_points_at_capture() -> None:
    d = Driver(DEFAULT, email="a@x.com", company="Acme", attributes={"industry": "Software"})
    assert scored(d.events) == [("fit-industry", 15.0, 15.0), ("fit-company-known", 5.0, 20.0)]
    assert all(e.actor.startswith("system:fit-") for e in d.events if e.TYPE == "LeadScored")
    assert d.events[1].data.kind == ScoreKind.PROFILE
    assert d.events[1].data.cause == 1  # the LeadCaptured event


def test_a_profile_that_matches_no_rule_scores_nothing() -> None:
    d = Driver(DEFAULT, email="a@x.com", attributes={"industry": "retail"})
    assert scored(d.events) == []
    assert d.lead.score == 0


def test_a_profile_change_grants_and_withdraws_fit_points() -> None:
    d = Driver(DEFAULT, email="a@x.com", attributes={"industry": "retail"})
    granted = d.at(hours=1).do("update_profile", {"attributes.industry": "finance"})
    assert scored(granted) == [("fit-industry", 15.0, 15.0)]
    still = d.at(hours=1).do("update_profile", {"attributes.industry": "software"})
    assert scored(still) == []  # still matches: nothing to change
    withdrawn = d.at(hours=1).do("update_profile", {"attributes.industry": None})
    assert scored(withdrawn) == [("fit-industry", -15.0, 0.0)]
    assert d.lead.fit == {}


# ---- behaviour and caps ---------------------------------------------------------------------


def test_an_activity_earns_its_behaviour_points() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    events = d.at(hours=1).activity("webinar")
    assert scored(events) == [("webinar", 20.0, 20.0)]
    assert events[1].data.kind == ScoreKind.BEHAVIOUR
    assert events[1].data.cause == events[0].originator_version


def test_a_follow_up_by_us_is_not_behaviour_and_scores_nothing() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    assert scored(d.at(hours=1).activity("call")) == []


def test_a_capped_rule_grants_at_most_its_cap_per_rolling_period() -> None:
    # page-visit: 2 points, at most 10 per 7 days
    d = Driver(DEFAULT, email="a@x.com")
    deltas = [scored(d.at(hours=1).activity("page_visit")) for _ in range(6)]
    assert [s[0][1] if s else None for s in deltas] == [2, 2, 2, 2, 2, None]
    assert d.lead.score == 10


def test_a_cap_grants_only_the_remainder_when_the_points_would_exceed_it() -> None:
    pipeline = scoring(
        behaviour=[{"id": "dl", "activity": "download", "points": 4, "cap": 10, "per": "7d"}]
    )
    d = Driver(pipeline, email="a@x.com")
    deltas = [scored(d.at(hours=1).activity("download")) for _ in range(4)]
    assert [s[0][1] if s else None for s in deltas] == [4, 4, 2, None]
    assert "capped at 10 per 7d" in d.events[-2].data.reason


def test_a_cap_frees_up_once_earlier_points_leave_the_window() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    for _ in range(5):
        d.at(hours=1).activity("page_visit")
    assert scored(d.at(days=6).activity("page_visit")) == []
    assert scored(d.at(days=1).activity("page_visit")) == [("page-visit", 2.0, 12.0)]


# ---- negative signals ------------------------------------------------------------------------


def test_unsubscribe_and_bounce_take_points_away() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).activity("webinar")
    d.at(hours=1).activity("download")
    assert scored(d.at(hours=1).activity("email_bounce")) == [("email-bounced", -10.0, 20.0)]
    unsubscribed = d.at(hours=1).activity("unsubscribe")
    assert scored(unsubscribed) == [("unsubscribed", -20.0, 0.0)]  # floored at min_score 0
    assert unsubscribed[1].data.points == -30  # what the rule asked for
    assert unsubscribed[1].data.kind == ScoreKind.NEGATIVE


def test_a_negative_signal_on_a_zero_score_stays_at_the_floor() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    assert scored(d.at(hours=1).activity("unsubscribe")) == [("unsubscribed", 0.0, 0.0)]


def test_the_score_never_exceeds_max_score() -> None:
    d = Driver(scoring(max_score=30), email="a@x.com")
    d.at(hours=1).activity("webinar")
    assert scored(d.at(hours=1).activity("webinar")) == [("webinar", 10.0, 30.0)]


# ---- decay -----------------------------------------------------------------------------------


def test_percentage_decay_applies_once_per_full_period_without_activity() -> None:
    d = Driver(DEFAULT, email="a@x.com")  # decay: -10% per 30d
    d.at(hours=1).activity("webinar")
    d.at(hours=1).activity("webinar")  # 40 points
    last_activity = d.now
    assert d.sweep(last_activity + timedelta(days=29, hours=23)) == []
    d.at(days=95)
    events = d.sweep()
    assert scored(events) == [("decay", -4.0, 36.0), ("decay", -3.6, 32.4), ("decay", -3.24, 29.16)]
    due = [e.data.due_at for e in events]
    assert due == [last_activity + timedelta(days=30 * k) for k in (1, 2, 3)]
    assert [e.occurred_at for e in events] == due  # each at its deadline
    assert all(e.data.kind == ScoreKind.DECAY for e in events)


def test_points_decay_stops_at_the_floor() -> None:
    pipeline = scoring(decay={"every": "7d", "points": 15})
    d = Driver(pipeline, email="a@x.com")
    d.at(hours=1).activity("webinar")  # 20
    assert scored(d.at(days=60).sweep()) == [("decay", -15.0, 5.0), ("decay", -5.0, 0.0)]
    assert d.at(days=30).sweep() == []


def test_activity_restarts_the_decay_period() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).activity("webinar")
    d.at(days=25).activity("page_visit")
    assert d.at(days=25).sweep() == []  # 25 days since the last activity
    assert scored(d.at(days=5).sweep()) == [("decay", -2.2, 19.8)]


def test_decay_only_applies_in_its_stages() -> None:
    d = Driver(pipeline_with(), email="a@x.com")
    d.at(hours=1).activity("webinar")
    d.at(hours=1).do("change_stage", "mql")
    d.at(hours=1).do("change_stage", "sal")  # not in decay.stages (subscriber, lead, mql)
    assert d.at(days=90).sweep() == []


# ---- MQL promotion ---------------------------------------------------------------------------


def test_crossing_the_mql_threshold_promotes_the_lead_naming_the_rule() -> None:
    d = Driver(DEFAULT, email="a@x.com", company="Acme", attributes={"industry": "software"})
    d.at(hours=1).activity("webinar")  # 40
    events = d.at(hours=1).activity("download")  # 50
    promotion = [e for e in events if e.TYPE == "StageChanged"]
    assert len(promotion) == 1
    assert promotion[0].data.rule == "mql-threshold"
    assert promotion[0].actor == "system:mql-threshold"
    assert (promotion[0].data.from_stage, promotion[0].data.stage) == ("lead", "mql")
    assert "threshold 50" in promotion[0].data.reason
    assert d.lead.stage == "mql"


def test_a_score_below_the_threshold_does_not_promote() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    events = d.at(hours=1).activity("webinar")
    d.at(hours=1).activity("download")
    assert d.lead.stage == "lead"
    assert all(e.TYPE != "StageChanged" for e in events)


def test_a_lead_already_above_the_threshold_is_not_promoted_again() -> None:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).activity("webinar")
    d.at(hours=1).activity("webinar")
    d.at(hours=1).activity("download")  # crossed: mql
    d.at(hours=1).do("change_stage", "lead", reason="recycled by hand")
    events = d.at(hours=1).activity("download")
    assert all(e.TYPE != "StageChanged" for e in events)
    assert d.lead.stage == "lead"


def test_no_promotion_from_a_stage_outside_from_stages() -> None:
    pipeline = scoring(mql={"threshold": 50, "stage": "mql", "from_stages": ["subscriber"]})
    d = Driver(pipeline, email="a@x.com")  # captured into stage lead
    d.at(hours=1).activity("webinar")
    d.at(hours=1).activity("webinar")
    events = d.at(hours=1).activity("download")
    assert d.lead.score == 50
    assert d.lead.stage == "lead"
    assert all(e.TYPE != "StageChanged" for e in events)


# ---- BANT ------------------------------------------------------------------------------------


def _in_mql() -> Driver:
    d = Driver(DEFAULT, email="a@x.com")
    d.at(hours=1).do("change_stage", "mql")
    return d


def test_three_of_four_bant_criteria_qualify_an_mql_which_automation_makes_an_sql() -> None:
    d = _in_mql()
    events = d.at(hours=1).do("qualify", budget=True, authority=True, need=True)
    types = [(e.TYPE, getattr(e.data, "rule", None)) for e in events]
    assert types == [
        ("QualificationRecorded", None),
        ("StatusChanged", "bant"),
        ("StageChanged", "qualified-mql-to-sql"),
    ]
    assert events[1].data.reason == "BANT 3/4 met (budget, authority, need); 3 required"
    assert d.lead.stage == "sql"
    assert d.lead.status == "qualified"


def test_two_of_four_bant_criteria_do_not_qualify() -> None:
    d = _in_mql()
    events = d.at(hours=1).do("qualify", budget=True, need=True, authority=False)
    assert [e.TYPE for e in events] == ["QualificationRecorded"]
    assert d.lead.status == "open"


def test_bant_answers_accumulate_across_conversations() -> None:
    d = _in_mql()
    d.at(hours=1).do("qualify", budget=True, need=True)
    events = d.at(days=2).do("qualify", timeline=True, note="Q3 rollout")
    assert [e.TYPE for e in events][:2] == ["QualificationRecorded", "StatusChanged"]
    assert d.lead.bant == {"budget": True, "need": True, "timeline": True}


def test_how_many_bant_criteria_are_required_is_configurable() -> None:
    pipeline = scoring(bant={"required": 2, "stages": ["mql"]})
    d = Driver(pipeline, email="a@x.com")
    d.at(hours=1).do("change_stage", "mql")
    events = d.at(hours=1).do("qualify", budget=True, need=True)
    assert "BANT 2/4 met" in events[1].data.reason


def test_bant_outside_its_stages_decides_nothing() -> None:
    d = Driver(DEFAULT, email="a@x.com")  # stage lead: not in bant.stages
    events = d.at(hours=1).do("qualify", budget=True, authority=True, need=True, timeline=True)
    assert [e.TYPE for e in events] == ["QualificationRecorded"]


# ---- replay never re-decides ------------------------------------------------------------------


def test_replaying_the_events_gives_the_live_score_and_rule_state() -> None:
    d = Driver(DEFAULT, email="a@x.com", company="Acme")
    for kind in ("page_visit", "page_visit", "webinar", "email_bounce", "download"):
        d.at(hours=5).activity(kind)
    d.at(days=70).sweep()
    replayed = d.replayed()
    assert replayed == d.lead
    deltas = sum(e.data.delta for e in d.events if e.TYPE == "LeadScored")
    assert replayed.score == d.lead.score == pytest.approx(deltas)


# ---- configuration errors name the key ----------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        (
            {"behaviour": [{"id": "x", "activity": "skydiving", "points": 5}]},
            "scoring.behaviour[0].activity",
            "unknown activity",
        ),
        (
            {"behaviour": [{"id": "x", "activity": "webinar", "points": -5}]},
            "scoring.behaviour[0].points",
            "must be above 0",
        ),
        (
            {"negative": [{"id": "x", "activity": "unsubscribe", "points": 5}]},
            "scoring.negative[0].points",
            "below 0",
        ),
        (
            {"mql": {"threshold": 50, "stage": "mql", "from_stages": ["customer"]}},
            "scoring.mql.from_stages[0]",
            "no transition",
        ),
        (
            {"profile": [{"id": "webinar", "field": "company", "present": True, "points": 1}]},
            "scoring.behaviour[5].id",
            "'webinar' is also used by scoring.profile[0]",
        ),
        (
            {"bant": {"required": 3, "stages": ["nowhere"]}},
            "scoring.bant.stages[0]",
            "unknown stage",
        ),
        ({"max_score": -1}, "scoring.max_score", "above scoring.min_score"),
        (
            {
                "negative": [
                    {"id": "x", "activity": "email_bounce", "points": -1, "cap": 5, "per": "7d"}
                ]
            },
            "scoring.negative[0].cap",
            "not capped",
        ),
        (
            {"bant": {"stages": ["customer"], "status": "nurturing"}},
            "scoring.bant.stages[0]",
            "stage 'customer' does not allow status 'nurturing'",
        ),
    ],
)
def test_scoring_configuration_errors_name_the_key(
    overrides: dict[str, Any], key: str, message: str
) -> None:
    with pytest.raises(PipelineInvalid) as caught:
        scoring(**overrides)
    assert any(k == key and message in reason for k, reason in caught.value.problems), (
        caught.value.problems
    )


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"every": "30d", "points": 5, "percent": 10}, "scoring.decay"),
        ({"every": "30d"}, "scoring.decay"),
    ],
)
def test_decay_needs_exactly_one_of_points_and_percent(section: dict[str, Any], key: str) -> None:
    with pytest.raises(PipelineInvalid) as caught:
        scoring(decay=section)
    assert any(k == key and "exactly one of points, percent" in r for k, r in caught.value.problems)


def test_a_profile_rule_needs_exactly_one_condition() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        scoring(profile=[{"id": "p", "field": "company", "points": 3}])
    assert any(k == "scoring.profile.0" for k, _ in caught.value.problems), caught.value.problems


def test_a_copy_of_a_lead_shares_no_scoring_state_with_the_original() -> None:
    # the aggregate cache hands out copies: a refused command must not touch the cached lead
    d = Driver(DEFAULT, email="a@x.com", company="Acme")
    d.at(hours=1).activity("page_visit")
    d.at(hours=1).do("change_stage", "mql")
    d.at(hours=1).do("qualify", budget=True)
    original = d.replayed()
    copied = copy.deepcopy(original)
    copied.fit["x"] = 1.0
    copied.awards["page-visit"].append((d.now, 2.0))
    copied.bant["need"] = True
    assert original == d.lead
