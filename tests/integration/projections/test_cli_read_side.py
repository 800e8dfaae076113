"""The read-side commands, through the real CLI, on a simulated year (``leadflow demo``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest

from leadflow.adapters.store import open_store
from leadflow.projections.reference import funnel_from_events
from leadflow.service.codec import EventRecord
from leadflow.service.pipeline_files import default_pipeline_text

from support.cli import as_json, cli, demo_store, invoke, new_store, runner


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return demo_store(tmp_path_factory.mktemp("demo"))


def _records_from_events_json(url: str) -> list[EventRecord]:
    lines = invoke("events", "--json", "--db", url).stdout.splitlines()
    records = []
    for line in lines:
        d = orjson.loads(line)
        records.append(
            EventRecord(
                position=d["position"],
                lead_id=UUID(d["lead_id"]),
                sequence=0,
                type=d["type"],
                version=d["version"],
                occurred_at=datetime.fromisoformat(d["occurred_at"]),
                recorded_at=datetime.fromisoformat(d["recorded_at"]),
                actor=d["actor"],
                data=d["data"],
            )
        )
    return records


FIGURES = ("stage", "in_stage", "reached", "passed", "conversion_to_next")


def _as_rows(stages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(s[name] for name in FIGURES) for s in stages]


def test_funnel_as_of_any_past_date_agrees_with_a_recomputation_from_events_json(
    demo_url: str,
) -> None:
    records = _records_from_events_json(demo_url)
    pipeline = open_store(demo_url).pipeline
    for day in ("2025-08-15", "2025-11-01", "2026-02-20", "2026-06-30"):
        answer = as_json("funnel", "--as-of", day, "--db", demo_url)

        as_of = datetime.fromisoformat(answer["as_of"])
        expected = funnel_from_events(records, pipeline, as_of)
        assert answer["as_known_at"] is None
        assert _as_rows(answer["stages"]) == [
            tuple(getattr(r, name) for name in FIGURES) for r in expected
        ]
        assert as_of.date().isoformat() == day


def test_funnel_json_has_exactly_the_documented_shape(demo_url: str) -> None:
    answer = as_json("funnel", "--as-of", "2026-01-01", "--db", demo_url)

    assert set(answer) == {"as_of", "as_known_at", "skip_policy", "live_leads", "stages"}
    pipeline = open_store(demo_url).pipeline
    assert [s["stage"] for s in answer["stages"]] == list(pipeline.stages)
    for stage in answer["stages"]:
        assert set(stage) == set(FIGURES)
        assert isinstance(stage["in_stage"], int)
        assert isinstance(stage["reached"], int)
        on_path = stage["stage"] in pipeline.main_path
        assert isinstance(stage["passed"], int) if on_path else stage["passed"] is None
        assert stage["conversion_to_next"] is None or isinstance(stage["conversion_to_next"], float)


@pytest.mark.parametrize("skip_policy", ["passed", "strict"])
def test_on_the_demo_store_no_conversion_exceeds_one_and_in_stage_sums_to_the_live_leads(
    demo_url: str, skip_policy: str
) -> None:
    app = open_store(demo_url)
    merged = sum(1 for e in app.read_events(types=["LeadMerged"]))
    captured = sum(1 for e in app.read_events(types=["LeadCaptured"]))
    unmerged = sum(1 for e in app.read_events(types=["LeadUnmerged"]))
    assert merged > unmerged, "the demo merges duplicates"

    answer = as_json("funnel", "--skip-policy", skip_policy, "--db", demo_url)

    assert answer["skip_policy"] == skip_policy
    assert answer["live_leads"] == captured - merged + unmerged
    assert sum(s["in_stage"] for s in answer["stages"]) == answer["live_leads"]
    conversions = [s["conversion_to_next"] for s in answer["stages"]]
    assert all(c is None or 0 <= c <= 1 for c in conversions)
    assert any(c is not None for c in conversions)


def test_an_unknown_skip_policy_is_refused_naming_the_option(demo_url: str) -> None:
    result = invoke("funnel", "--skip-policy", "lenient", "--db", demo_url, expect=2)
    assert "skip_policy" in result.stderr


def test_funnel_by_source_wraps_the_same_fields_per_group_and_the_groups_add_up(
    demo_url: str,
) -> None:
    whole = as_json("funnel", "--as-of", "2026-03-01", "--db", demo_url)
    grouped = as_json("funnel", "--as-of", "2026-03-01", "--by", "source", "--db", demo_url)

    assert set(grouped) == {"groups"}
    keys = [g["key"] for g in grouped["groups"]]
    assert keys == sorted(keys)
    assert "web_form" in keys
    for group in grouped["groups"]:
        assert set(group) == {
            "key",
            "as_of",
            "as_known_at",
            "skip_policy",
            "live_leads",
            "stages",
        }
    for i, stage in enumerate(whole["stages"]):
        assert stage["in_stage"] == sum(g["stages"][i]["in_stage"] for g in grouped["groups"])
        assert stage["reached"] == sum(g["stages"][i]["reached"] for g in grouped["groups"])
        if stage["passed"] is not None:
            assert stage["passed"] == sum(g["stages"][i]["passed"] for g in grouped["groups"])
    assert whole["live_leads"] == sum(g["live_leads"] for g in grouped["groups"])


def test_as_known_at_before_a_backdated_correction_reproduces_the_earlier_answer(
    demo_url: str,
) -> None:
    app = open_store(demo_url)
    rows = as_json("audit", "--db", demo_url)
    assert rows, "the demo hands leads off"
    # A lead still in stage "lead": a stage change backdated to just after its last event.
    lead = next(
        lead
        for lead in (
            app.get_lead(UUID(e.lead_id.hex)) for e in app.read_events(types=["LeadCaptured"])
        )
        if lead.stage == "lead" and lead.owner is not None
    )
    assert lead.last_occurred_at is not None
    corrected_at = lead.last_occurred_at + timedelta(hours=1)
    as_of = (corrected_at + timedelta(days=1)).isoformat()
    printed_then = as_json("funnel", "--as-of", as_of, "--db", demo_url)
    known_at = datetime.now(UTC).isoformat()

    invoke("promote", str(lead.id), "mql", "--at", corrected_at.isoformat(), "--db", demo_url)

    now_known = as_json("funnel", "--as-of", as_of, "--db", demo_url)
    reproduced = as_json("funnel", "--as-of", as_of, "--as-known-at", known_at, "--db", demo_url)
    assert reproduced["stages"] == printed_then["stages"]
    assert reproduced["as_known_at"] == known_at
    assert now_known["stages"] != printed_then["stages"]
    before = {s["stage"]: s for s in printed_then["stages"]}
    after = {s["stage"]: s for s in now_known["stages"]}
    assert after["mql"]["in_stage"] == before["mql"]["in_stage"] + 1
    assert after["lead"]["in_stage"] == before["lead"]["in_stage"] - 1


def test_a_write_command_brings_the_read_models_up_to_date(tmp_path: Path) -> None:
    url = new_store(tmp_path / "w.db")
    lead = as_json("capture", "--email", "ada@example.com", "--db", url)["lead_id"]
    for rep in ("rep:mei", "rep:li"):
        invoke("rep", "add", rep, "--db", url)
    invoke("assign", lead, "rep:mei", "--db", url)
    # A pipeline activation is in the log too, but no read model wants it: no lag either.
    other = tmp_path / "other.toml"
    other.write_text(default_pipeline_text().replace('sla = "3d"', 'sla = "4d"'), encoding="utf-8")
    invoke("pipeline", "activate", str(other), "--db", url)

    status = as_json("projections", "--db", url)

    assert status["projections"] == [
        {"name": name, "position": status["log_position"], "lag": 0, "failure": None}
        for name in (
            "leads",
            "stage_history",
            "handoffs",
            "merges",
            "passes",
            "deals",
            "breaches",
            "dimensions",
        )
    ]


def test_history_lists_stage_intervals_with_owners_and_the_events_behind_them(
    tmp_path: Path,
) -> None:
    url = new_store(tmp_path / "h.db")
    lead = as_json("capture", "--email", "ada@example.com", "--db", url)["lead_id"]
    for rep in ("rep:mei", "rep:li"):
        invoke("rep", "add", rep, "--db", url)
    invoke("assign", lead, "rep:mei", "--db", url)
    invoke("promote", lead, "mql", "--reason", "engaged", "--db", url)
    invoke("handoff", lead, "rep:li", "--db", url, "--actor", "rep:mei")
    invoke("accept", lead, "--db", url, "--actor", "rep:li")

    history = as_json("history", lead, "--db", url)

    assert history["lead_id"] == lead
    stages = [(i["stage"], i["kind"], i["open"]) for i in history["intervals"]]
    assert stages == [
        ("lead", "capture", False),
        ("mql", "promotion", False),
        ("sal", "promotion", True),
    ]
    sal = history["intervals"][2]
    assert sal["rule"] == "handoff-accepted-to-sal"
    assert sal["entered_by"] == "system:handoff-accepted-to-sal"
    assert sal["events"]["cause"]["type"] == "HandOffAccepted"
    assert sal["owner"] == "rep:li"
    assert history["intervals"][1]["reason"] == "engaged"
    assert history["intervals"][1]["owners"] == ["rep:mei"]  # rep:li owns it from sal on
    assert history["intervals"][0]["events"]["entered"]["type"] == "LeadCaptured"


def test_audit_shows_who_handed_which_lead_to_whom_and_how_it_ended(tmp_path: Path) -> None:
    url = new_store(tmp_path / "a.db")
    lead = as_json("capture", "--email", "ada@example.com", "--db", url)["lead_id"]
    for rep in ("rep:mei", "rep:li"):
        invoke("rep", "add", rep, "--db", url)
    invoke("assign", lead, "rep:mei", "--db", url)
    invoke("promote", lead, "mql", "--db", url)
    invoke("handoff", lead, "rep:li", "--db", url, "--actor", "rep:mei")
    invoke("reject", lead, "--reason", "too small", "--db", url, "--actor", "rep:li")

    trail = as_json("audit", "--rep", "rep:li", "--db", url)

    assert len(trail) == 1
    entry = trail[0]
    assert (entry["lead_id"], entry["from_owner"], entry["to_owner"]) == (lead, "rep:mei", "rep:li")
    assert entry["handed_off_by"] == "rep:mei"
    assert (entry["outcome"], entry["decided_by"], entry["reason"]) == (
        "rejected",
        "rep:li",
        "too small",
    )
    assert entry["sla_met"] is True
    # The pipeline's recycling rule records the recycle, with the rejection's reason.
    assert (entry["recycled_by"], entry["recycle_reason"]) == (
        "system:handoff-rejected",
        "too small",
    )
    assert as_json("audit", "--rep", "rep:nobody", "--db", url) == []


def test_rebuild_of_an_unknown_read_model_names_the_known_ones(tmp_path: Path) -> None:
    url = new_store(tmp_path / "r.db")
    result = runner.invoke(cli, ["rebuild", "nope", "--db", url, "--json"])

    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "name"
    assert "stage_history" in error["message"]


def test_funnel_by_an_unknown_dimension_is_refused_naming_the_field(tmp_path: Path) -> None:
    url = new_store(tmp_path / "x.db")
    result = runner.invoke(cli, ["funnel", "--by", "planet", "--db", url])

    assert result.exit_code == 2
    assert "by: 'planet' is not one of" in result.stderr
    assert "source" in result.stderr
    assert "industry" in result.stderr  # the shipped pipeline's reporting dimension


def test_history_of_an_unknown_lead_exits_4(tmp_path: Path) -> None:
    url = new_store(tmp_path / "n.db")
    missing = "00000000-0000-4000-8000-000000000000"

    result = runner.invoke(cli, ["history", missing, "--db", url, "--json"])

    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"]["type"] == "LeadNotFound"


def test_a_bad_as_of_is_refused_naming_the_field(tmp_path: Path) -> None:
    result = runner.invoke(
        cli,
        ["funnel", "--as-of", "last tuesday", "--db", new_store(tmp_path / "b.db"), "--json"],
    )

    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["field"] == "as_of"
