"""Pipeline changes keep the past: stranded leads, mappings, answers as known before."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
import tomli_w

from leadflow.adapters.store import open_store
from leadflow.service.pipeline_files import default_pipeline, default_pipeline_text

from support.cli import as_json, capture, invoke, leadflow


def _without(stage: str, data: Any) -> Any:
    """The pipeline document with ``stage`` gone everywhere (rules that name it too)."""
    if isinstance(data, dict):
        return {k: _without(stage, v) for k, v in data.items() if stage not in (k, v)}
    if isinstance(data, list):
        return [
            _without(stage, v)
            for v in data
            if v != stage
            and not (
                isinstance(v, dict)
                and stage in (v.get("when", {}).get("stage"), v.get("then", {}).get("stage"))
            )
        ]
    return data


@pytest.fixture
def without_sal(tmp_path: Path) -> Path:
    path = tmp_path / "no-sal.toml"
    document = _without("sal", tomllib.loads(default_pipeline_text()))
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return path


def _in_sal(db_url: str, n: int) -> list[str]:
    leads = []
    for i in range(n):
        lead = capture(db_url, "--email", f"sal{i}@example.com")
        leadflow(db_url, "promote", lead, "mql")
        leadflow(db_url, "promote", lead, "sal")
        leads.append(lead)
    return leads


def test_a_version_without_a_stage_leads_are_in_is_refused_naming_the_stage_and_count(
    db_url: str, without_sal: Path
) -> None:
    _in_sal(db_url, 3)
    capture(db_url, "--email", "other@example.com")
    head = open_store(db_url).max_position()

    result = invoke("pipeline", "activate", str(without_sal), "--db", db_url, expect=2)

    assert "'sal' (3 leads)" in result.stderr
    assert "--map" in result.stderr
    app = open_store(db_url)
    assert app.max_position() == head, "nothing written"
    assert app.pipeline.version == default_pipeline().version


def test_with_a_mapping_each_stranded_lead_is_moved_by_its_own_event_and_stays_workable(
    db_url: str, without_sal: Path
) -> None:
    stranded = _in_sal(db_url, 2)
    elsewhere = capture(db_url, "--email", "other@example.com")

    answer = orjson.loads(
        leadflow(db_url, "pipeline", "activate", str(without_sal), "--map", "sal=sql", "--json")
    )

    app = open_store(db_url)
    assert answer["activated"] is True
    new_version = app.pipeline.version
    assert "sal" not in app.pipeline.stages
    moves = [e for e in app.read_events(types=["StageChanged"]) if e.data["kind"] == "remap"]
    assert sorted(str(e.lead_id) for e in moves) == sorted(stranded)
    for move in moves:
        assert move.data["from_stage"] == "sal"
        assert move.data["stage"] == "sql"
        assert move.data["mapping"] == "sal=sql"
        assert move.data["pipeline_version"] == new_version
    assert app.get_lead(UUID(elsewhere)).stage == "lead"
    for lead in stranded:  # every command works on them again (no KeyError: 'sal')
        assert as_json("show", lead, "--db", db_url)["stage"] == "sql"
        leadflow(db_url, "status", lead, "contacted")
    leadflow(db_url, "disqualify", stranded[0], "--reason", "no budget")
    leadflow(db_url, "convert", stranded[1], "opportunity", "--account", "acme", "--amount", "9")
    assert as_json("show", stranded[1], "--db", db_url)["stage"] == "opportunity"
    leadflow(db_url, "promote", stranded[1], "customer")
    funnel = as_json("funnel", "--db", db_url)
    assert sum(s["in_stage"] for s in funnel["stages"]) == funnel["live_leads"] == 3
    assert "sal" not in [s["stage"] for s in funnel["stages"]]


def test_a_mapping_that_names_no_dropped_stage_or_an_unknown_target_is_refused(
    db_url: str, without_sal: Path
) -> None:
    _in_sal(db_url, 1)
    for item, why in [
        ("sal=nowhere", "'nowhere' is not a stage of the new pipeline"),
        ("mql=sql", "'mql' is still a stage"),
        ("sal", "is not OLD=NEW"),
    ]:
        result = invoke(
            "pipeline", "activate", str(without_sal), "--map", item, "--db", db_url, expect=2
        )
        assert why in result.stderr


def test_the_funnel_as_known_before_an_activation_is_unchanged_by_it(
    db_url: str, without_sal: Path, tmp_path: Path
) -> None:
    _in_sal(db_url, 2)
    capture(db_url, "--email", "other@example.com")
    known_at = datetime.now(UTC).isoformat()
    at = ("--as-of", known_at, "--as-known-at", known_at, "--db", db_url)
    asked = ("funnel", *at)
    printed_then = as_json(*asked)
    reports = [("report", name, *at) for name in ("stages", "revenue", "reps", "sla")]
    reports_then = [as_json(*report) for report in reports]
    page = tmp_path / "then.html"
    invoke("report", "--out", str(page), *at)
    page_then = page.read_text(encoding="utf-8")

    leadflow(db_url, "pipeline", "activate", str(without_sal), "--map", "sal=sql")

    reproduced = as_json(*asked)
    assert reproduced == printed_then
    assert [as_json(*report) for report in reports] == reports_then  # every report too
    invoke("report", "--out", str(page), *at)
    assert page.read_text(encoding="utf-8") == page_then
    assert "Sales accepted lead" in page_then
    assert {s["stage"]: s["in_stage"] for s in reproduced["stages"]}["sal"] == 2
    now = as_json("funnel", "--db", db_url)
    assert {s["stage"]: s["in_stage"] for s in now["stages"]}["sql"] == 2


def test_show_toml_prints_a_file_that_activate_accepts_unchanged_for_any_version(
    db_url: str, without_sal: Path, tmp_path: Path
) -> None:
    capture(db_url, "--email", "a@example.com")
    first = open_store(db_url).pipeline.version
    leadflow(db_url, "pipeline", "activate", str(without_sal))
    second = open_store(db_url).pipeline.version

    current = tmp_path / "current.toml"
    current.write_text(leadflow(db_url, "pipeline", "show", "--toml"), encoding="utf-8")
    again = orjson.loads(leadflow(db_url, "pipeline", "activate", str(current), "--json"))
    assert again == {"version": second, "activated": False}

    past = tmp_path / "past.toml"
    past.write_text(
        leadflow(db_url, "pipeline", "show", "--version", first[:6], "--toml"), encoding="utf-8"
    )
    back = orjson.loads(leadflow(db_url, "pipeline", "activate", str(past), "--json"))
    assert back == {"version": first, "activated": True}


def test_diff_names_what_changed_between_two_versions(db_url: str, without_sal: Path) -> None:
    capture(db_url, "--email", "a@example.com")
    first = open_store(db_url).pipeline.version
    leadflow(db_url, "pipeline", "activate", str(without_sal))

    answer = as_json("pipeline", "diff", first, "--db", db_url)

    changes = {c["key"]: c for c in answer["changes"]}
    assert answer["from"] == first
    assert changes["stages.sal"]["after"] is None
    assert changes["stages.sal"]["before"]["label"] == "Sales accepted lead"
    assert "sal" in changes["main_path"]["before"]
    assert "sal" not in changes["main_path"]["after"]
    assert as_json("pipeline", "diff", first, first, "--db", db_url)["changes"] == []
    invoke("pipeline", "diff", "zzzz", "--db", db_url, expect=2)


MINIMAL = """
name = "Minimal"
main_path = ["lead", "customer"]
entry_stages = ["lead"]
initial_status = "open"

[stages.lead]
label = "Lead"
transitions = { customer = "promotion" }

[stages.customer]
label = "Customer"

[statuses.open]
label = "Open"
"""


def test_a_minimal_pipeline_without_assignment_or_teams_is_accepted_and_works(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "minimal.toml"
    path.write_text(MINIMAL, encoding="utf-8")

    leadflow(db_url, "pipeline", "activate", str(path))
    lead = capture(db_url, "--email", "a@example.com")
    leadflow(db_url, "promote", lead, "customer")

    app = open_store(db_url)
    assert app.pipeline.assignment.closed_stages == ["customer"]
    assert as_json("show", lead, "--db", db_url)["stage"] == "customer"
