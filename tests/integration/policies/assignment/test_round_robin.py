"""Assignment at capture: round-robin, weights, caps, absences, attribute rules (part 4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from leadflow.domain.pipeline import Pipeline
from leadflow.service.application import Leadflow

UsePipeline = Callable[..., Pipeline]


def capture_many(app: Leadflow, count: int, start: int = 0, **fields: object) -> list[str | None]:
    owners = []
    for i in range(start, start + count):
        result = app.capture(email=f"lead{i}@example.com", **fields)  # type: ignore[arg-type]
        owners.append(app.get_lead(result.lead_id).owner)
    return owners


def assigned_events(app: Leadflow) -> list[dict[str, object]]:
    return [r.data for r in app.read_events(types=["LeadAssigned"])]


def test_round_robin_spreads_new_leads_evenly(app: Leadflow) -> None:
    for rep in ("rep:a", "rep:b", "rep:c"):
        app.add_rep(rep)

    owners = capture_many(app, 9)

    assert Counter(owners) == {"rep:a": 3, "rep:b": 3, "rep:c": 3}
    assert owners[:3] == ["rep:a", "rep:b", "rep:c"]  # the tie-break is deterministic


def test_with_no_reps_a_new_lead_waits_in_the_pool(app: Leadflow) -> None:
    assert capture_many(app, 1) == [None]
    assert assigned_events(app) == []


def test_assignment_at_capture_can_be_switched_off(
    app: Leadflow, use_pipeline: UsePipeline
) -> None:
    use_pipeline(assignment={"on_capture": False})
    app.add_rep("rep:a")

    assert capture_many(app, 1) == [None]


def test_the_event_records_strategy_candidates_loads_and_the_tie(app: Leadflow) -> None:
    app.add_rep("rep:a")
    app.add_rep("rep:b")
    capture_many(app, 1)

    capture_many(app, 1, start=1)

    first, second = assigned_events(app)
    assert first["strategy"] == "round_robin"
    assert first["rule"] == "assignment.round_robin"
    assert first["candidates"] == [
        {"rep": "rep:a", "open_leads": 0, "cap": None, "weight": 1.0, "skipped": None},
        {"rep": "rep:b", "open_leads": 0, "cap": None, "weight": 1.0, "skipped": None},
    ]
    assert "rep:a, rep:b" in str(first["tie_break"])
    assert second["owner"] == "rep:b"
    assert second["tie_break"] is None
    assert [c["open_leads"] for c in second["candidates"]] == [1, 0]  # type: ignore[union-attr]
    assert isinstance(second["roster_version"], int)
    actors = [r.actor for r in app.read_events(types=["LeadAssigned"])]
    assert actors == ["system:assignment.round_robin"] * 2


def test_the_roster_behind_a_past_decision_can_be_rebuilt(app: Leadflow) -> None:
    app.add_rep("rep:a")
    capture_many(app, 1)
    app.add_rep("rep:b")

    version = assigned_events(app)[0]["roster_version"]
    assert isinstance(version, int)

    assert sorted(app.roster_at(version).reps) == ["rep:a"]
    assert sorted(app.roster().reps) == ["rep:a", "rep:b"]


def test_an_absent_rep_is_skipped_and_catches_up_on_return(app: Leadflow, clock) -> None:  # type: ignore[no-untyped-def]
    for rep in ("rep:a", "rep:b"):
        app.add_rep(rep)
    app.record_absence("rep:b", clock.now, clock.now + timedelta(days=1), reason="leave")

    during = capture_many(app, 4)
    clock.advance(days=1)
    after = capture_many(app, 6, start=4)

    assert during == ["rep:a"] * 4
    skipped = assigned_events(app)[0]["candidates"]
    assert {
        "rep": "rep:b",
        "open_leads": 0,
        "cap": None,
        "weight": 1.0,
        "skipped": "absent",
    } in skipped  # type: ignore[operator]
    assert after[:4] == ["rep:b"] * 4  # kept their credit
    assert Counter(after[4:]) == {"rep:a": 1, "rep:b": 1}


def test_adding_a_rep_resets_nobodys_count(app: Leadflow) -> None:
    app.add_rep("rep:a")
    capture_many(app, 3)

    app.add_rep("rep:b")
    owners = capture_many(app, 4, start=3)

    assert owners == ["rep:b", "rep:b", "rep:b", "rep:a"]
    assert (app.roster().load("rep:a"), app.roster().load("rep:b")) == (4, 3)


def test_a_rep_at_their_cap_is_skipped(app: Leadflow) -> None:
    app.add_rep("rep:a", capacity=1)
    app.add_rep("rep:b")

    owners = capture_many(app, 3)

    assert owners == ["rep:a", "rep:b", "rep:b"]
    assert assigned_events(app)[2]["candidates"][0]["skipped"] == "at_cap"  # type: ignore[index]


def test_the_pipeline_cap_applies_to_reps_without_their_own(
    app: Leadflow, use_pipeline: UsePipeline
) -> None:
    use_pipeline(assignment={"max_open_leads": 1})
    app.add_rep("rep:a")
    app.add_rep("rep:b", capacity=2)

    assert capture_many(app, 4) == ["rep:a", "rep:b", "rep:b", None]


def test_weighted_gives_leads_in_proportion_to_weight(
    app: Leadflow, use_pipeline: UsePipeline
) -> None:
    use_pipeline(assignment={"strategy": "weighted"})
    app.add_rep("rep:a", weight=2)
    app.add_rep("rep:b", weight=1)

    owners = capture_many(app, 9)

    assert Counter(owners) == {"rep:a": 6, "rep:b": 3}


def test_round_robin_ignores_weights(app: Leadflow) -> None:
    app.add_rep("rep:a", weight=2)
    app.add_rep("rep:b", weight=1)

    assert Counter(capture_many(app, 8)) == {"rep:a": 4, "rep:b": 4}


def test_an_attribute_rule_sends_matching_leads_to_its_team(
    app: Leadflow, use_pipeline: UsePipeline
) -> None:
    use_pipeline(
        assignment={
            "rules": [
                {
                    "id": "finance-east",
                    "when": {"industry": "finance", "region": ["east", "north"]},
                    "team": "east",
                },
            ]
        }
    )
    app.define_team("east", [])
    app.define_team("west", [])
    app.add_rep("rep:east1", team="east")
    app.add_rep("rep:west1", team="west")

    matching = capture_many(app, 2, attributes={"industry": "finance", "region": "north"})
    other = capture_many(app, 2, start=2, attributes={"industry": "retail", "region": "north"})

    assert matching == ["rep:east1", "rep:east1"]
    assert "rep:west1" in other
    rules = [e["rule"] for e in assigned_events(app)]
    assert rules[:2] == ["finance-east", "finance-east"]
    assert rules[2:] == ["assignment.round_robin"] * 2


def test_a_rule_can_name_a_rep_by_source(app: Leadflow, use_pipeline: UsePipeline) -> None:
    use_pipeline(
        assignment={
            "rules": [{"id": "partners-to-li", "when": {"source": "partner"}, "rep": "rep:li"}]
        }
    )
    app.add_rep("rep:li")
    app.add_rep("rep:sam")

    assert capture_many(app, 2, source="partner") == ["rep:li", "rep:li"]
    assert capture_many(app, 1, start=2, source="web") == ["rep:sam"]
    assert assigned_events(app)[0]["strategy"] == "rule"


def test_a_default_team_limits_candidates_when_no_rule_matches(
    app: Leadflow, use_pipeline: UsePipeline
) -> None:
    use_pipeline(assignment={"default_team": "inbound"})
    app.define_team("inbound", [])
    app.define_team("outbound", [])
    app.add_rep("rep:in", team="inbound")
    app.add_rep("rep:out", team="outbound")

    assert capture_many(app, 3) == ["rep:in"] * 3
