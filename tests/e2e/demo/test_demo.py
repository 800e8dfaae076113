"""``leadflow demo``: a simulated year through the real engine, deterministic per seed.

One moderate run (module fixture) is inspected for every kind of history the demo
promises; small runs check determinism and the command line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from leadflow.adapters.cli import app as cli
from leadflow.adapters.cli_projections import catch_up, projection_runner
from leadflow.adapters.demo import START, DemoResult, SimClock, funnel, run_demo
from leadflow.adapters.store import open_store
from leadflow.domain.events import EVENT_TYPES
from leadflow.projections.funnel import FunnelQuery
from leadflow.projections.funnel import funnel as sql_funnel
from leadflow.projections.reference import funnel_from_events, pool_from_events
from leadflow.service.application import Leadflow
from leadflow.service.codec import EventRecord

runner = CliRunner()
MODERATE = 400


def _events_json(url: str) -> list[str]:
    result = runner.invoke(cli, ["events", "--json", "--db", url])
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def _simulate(url: str, leads: int, seed: int) -> tuple[Leadflow, DemoResult]:
    clock = SimClock(START)
    app = open_store(url, clock=clock, actor="user:demo")
    return app, run_demo(app, clock, leads, seed)


@dataclass
class History:
    url: str
    app: Leadflow
    result: DemoResult
    records: list[EventRecord]

    def of(self, type_: str) -> list[EventRecord]:
        return [r for r in self.records if r.type == type_]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    app, result = _simulate(url, MODERATE, seed=11)
    yield History(url, app, result, list(app.read_events()))
    app.close()


# ---- determinism ----------------------------------------------------------------------------


def _without_key_ids(event: dict[str, Any]) -> dict[str, Any]:
    """A contact key's id is a keyed HMAC under each store's own secret: two stores of the
    same history give their keys other ids (and so other event ids)."""
    if event["type"].startswith("ContactKey"):
        event.update(id=None, lead_id=None)
    return event


def test_the_same_seed_writes_the_same_log_and_another_seed_a_different_one(
    tmp_path: Path,
) -> None:
    logs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        url = f"sqlite:///{tmp_path / name}.db"
        app, _ = _simulate(url, 150, seed)
        roster_and_pipeline = [
            orjson.dumps(_without_key_ids(r.to_json_dict())).decode()
            for r in app.read_events(include_org=True)
            if r.type not in EVENT_TYPES
        ]
        app.close()
        logs.append((_events_json(url), roster_and_pipeline))
    (same_a, org_a), (same_b, org_b), (other, _) = logs
    assert len(same_a) > 1000
    assert same_a == same_b
    assert len(org_a) > 100  # the pipeline, the roster and its loads
    assert org_a == org_b
    assert other != same_a


# ---- the history is rich -------------------------------------------------------------------


def test_people_are_captured_from_several_sources_campaigns_industries_and_regions(
    history: History,
) -> None:
    captured = [r.data for r in history.of("LeadCaptured")]
    assert len({d["source"] for d in captured}) >= 5
    assert len({d["campaign"] for d in captured}) >= 4
    assert len({d["attributes"]["industry"] for d in captured}) >= 5
    assert len({d["attributes"]["region"] for d in captured}) == 4


def test_duplicate_captures_become_touches_and_some_duplicates_are_merged(
    history: History,
) -> None:
    assert history.of("TouchRecorded")
    assert history.of("LeadMerged")
    assert history.of("DuplicateMerged")


def test_behaviour_scores_decay_and_promotes_to_mql_by_the_threshold(history: History) -> None:
    kinds = {r.data["activity"] for r in history.of("ActivityRecorded")}
    assert {"page_visit", "download", "webinar", "email_open", "email_click"} <= kinds
    assert {"unsubscribe", "email_bounce"} & kinds
    scored = history.of("LeadScored")
    assert any(r.data["kind"] == "decay" and r.actor == "system:decay" for r in scored)
    assert any(r.data["kind"] == "negative" for r in scored)
    automatic_mql = [
        r
        for r in history.of("StageChanged")
        if r.data["stage"] == "mql" and r.actor == "system:mql-threshold"
    ]
    assert automatic_mql
    scripted_mql = [
        r for r in history.of("StageChanged") if r.data["stage"] == "mql" and r.data["rule"] is None
    ]
    assert scripted_mql == []


def test_leads_are_assigned_by_the_strategy_with_the_candidates_it_considered(
    history: History,
) -> None:
    automatic = [r for r in history.of("LeadAssigned") if r.actor.startswith("system:")]
    assert automatic
    assert all(r.data["strategy"] == "weighted" and r.data["candidates"] for r in automatic)
    assert {r.data["rule"] for r in automatic} >= {"east-north", "south-west"}


def test_the_pool_is_worked_by_claims_within_the_daily_limit(history: History) -> None:
    claims = history.of("LeadClaimed")
    assert claims
    assert all(r.data["claims_today"] <= r.data["daily_claim_limit"] for r in claims)


def test_time_driven_rules_fire_from_the_sweep(history: History) -> None:
    released = [r for r in history.of("LeadReleased") if r.actor == "system:no-follow-up"]
    assert released
    assert all(r.data["due_at"] for r in released)
    breached = {(r.data["sla"], r.actor) for r in history.of("SlaBreached")}
    assert breached == {
        ("handoff", "system:handoff-sla"),
        ("stage:mql", "system:stage-sla"),
        ("stage:sal", "system:stage-sla"),
    }
    escalated_to = {r.data["to"] for r in history.of("HandOffEscalated")}
    assert escalated_to == {"manager:lena", "manager:ravi"}  # the sales teams' managers
    assert any(r.actor == "system:opportunity-stalled" for r in history.of("LeadRecycled"))
    assert history.result.sweeps >= 365


def test_the_sales_story_has_rejections_wins_losses_churn_and_upsell(history: History) -> None:
    assert any(r.actor == "system:handoff-rejected" for r in history.of("LeadRecycled"))
    assert history.of("HandOffRejected")
    assert history.of("HandOffAccepted")
    assert any(r.actor == "system:bant" for r in history.of("StatusChanged"))
    assert history.of("DealWon")
    assert history.of("DealLost")
    assert history.of("LeadChurned")
    assert any(r.data["kind"] == "upsell" for r in history.of("StageChanged"))


def test_the_roster_changes_during_the_year(history: History) -> None:
    roster_types = {r.type for r in history.app.read_events(include_org=True)}
    assert {"RepJoined", "RepChanged", "RepLeft", "AbsenceRecorded", "TeamDefined"} <= (
        roster_types
    )
    redistributed = [
        r
        for r in history.of("LeadAssigned")
        if r.data["previous_owner"] == "rep:ana" and r.actor.startswith("system:")
    ]
    assert redistributed


def test_some_activity_is_recorded_days_after_it_happened(history: History) -> None:
    late = [
        r
        for r in history.of("ActivityRecorded")
        if r.occurred_at < r.recorded_at - timedelta(days=1)
    ]
    assert len(late) >= 5
    # never before the lead's latest event: each lead's business times stay in order
    by_lead: dict[Any, list[EventRecord]] = {}
    for record in history.records:
        by_lead.setdefault(record.lead_id, []).append(record)
    for record in late:
        earlier = [r for r in by_lead[record.lead_id] if r.position < record.position]
        assert all(r.occurred_at <= record.occurred_at for r in earlier)


def test_late_recorded_deals_make_a_past_funnel_differ_from_what_was_known_then(
    history: History,
) -> None:
    late_wins = [
        r for r in history.of("DealWon") if r.occurred_at < r.recorded_at - timedelta(days=1)
    ]
    assert late_wins
    day = late_wins[0].occurred_at + timedelta(hours=1)
    as_known_now = funnel_from_events(history.records, history.app.pipeline, day)
    as_known_then = funnel_from_events(history.records, history.app.pipeline, day, as_known_at=day)
    customers_now = next(row.in_stage for row in as_known_now if row.stage == "customer")
    customers_then = next(row.in_stage for row in as_known_then if row.stage == "customer")
    assert customers_now > customers_then


def test_the_read_model_funnel_the_demo_prints_equals_the_reference_funnel(
    history: History,
) -> None:
    url = history.url
    runner = projection_runner(url, history.app)
    catch_up(history.app, runner)
    for day in (history.result.as_of - timedelta(days=200), history.result.as_of):
        with runner.engine.connect() as conn:
            rows = sql_funnel(conn, history.app.pipeline, FunnelQuery(as_of=day))
        assert rows == funnel(history.app, day)


def test_every_stage_is_reached(history: History) -> None:
    rows = funnel(history.app, history.result.as_of)
    assert {row.stage: row.reached > 0 for row in rows} == dict.fromkeys(
        history.app.pipeline.stages, True
    )


# ---- the command line ----------------------------------------------------------------------


def test_the_demo_command_prints_the_funnel_and_refuses_a_store_that_holds_events(
    db_url: str,
) -> None:
    first = runner.invoke(cli, ["demo", "--leads", "60", "--seed", "3", "--db", db_url])
    assert first.exit_code == 0, first.output
    assert "Funnel as of 2026-07-01" in first.stdout
    assert "opportunity" in first.stdout
    assert "Events by type" in first.stdout
    again = runner.invoke(cli, ["demo", "--leads", "60", "--db", db_url])
    assert again.exit_code == 2
    assert "already holds events; the demo needs an empty store" in again.stderr


def test_the_pool_the_demo_summary_counts_is_the_pool_command_and_the_oracle(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    printed = runner.invoke(cli, ["demo", "--leads", "400", "--seed", "7", "--db", url])
    assert printed.exit_code == 0, printed.output
    words = " ".join(printed.stdout.split())  # rich wraps the line at the terminal's width
    listed = runner.invoke(cli, ["pool", "--json", "--db", url])
    app = open_store(url)
    oracle = pool_from_events(app.read_events(), app.pipeline.assignment.closed_stages)
    app.close()

    count = orjson.loads(listed.stdout)["count"]
    assert f"leads waiting in the public pool at the end: {count} " in words
    assert count == len(oracle) > 0
