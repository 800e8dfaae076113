"""``[reporting] dimensions`` through the CLI: refused with exit 2 naming the field,
written by ``pipeline show --toml``, listed by ``pipeline diff``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import tomli_w

from leadflow.adapters.store import open_store
from leadflow.service.pipeline_files import default_pipeline_text

from support.cli import as_json, capture, invoke, leadflow


def _file(tmp_path: Path, name: str, dimensions: list[str]) -> Path:
    document = tomllib.loads(default_pipeline_text())
    document["reporting"] = {"dimensions": dimensions}
    path = tmp_path / name
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return path


def test_a_personal_dimension_exits_2_naming_the_field_and_nothing_is_activated(
    db_url: str, tmp_path: Path
) -> None:
    capture(db_url, "--email", "a@example.com")
    before = open_store(db_url).pipeline.version
    bad = _file(tmp_path, "bad.toml", ["industry", "tier", "linkedin"])

    refused = invoke("pipeline", "validate", str(bad), expect=2)
    assert "reporting.dimensions[2]" in refused.stderr
    assert "personal" in refused.stderr
    refused = invoke("pipeline", "activate", str(bad), "--db", db_url, expect=2)
    assert "reporting.dimensions[2]" in refused.stderr
    assert open_store(db_url).pipeline.version == before

    email = _file(tmp_path, "email.toml", ["email"])
    assert "contact field" in invoke("pipeline", "validate", str(email), expect=2).stderr


def test_show_toml_round_trips_the_dimensions_and_diff_shows_them(
    db_url: str, tmp_path: Path
) -> None:
    capture(db_url, "--email", "a@example.com")
    first = open_store(db_url).pipeline.version
    leadflow(db_url, "pipeline", "activate", str(_file(tmp_path, "p.toml", ["industry", "tier"])))

    shown = leadflow(db_url, "pipeline", "show", "--toml")
    assert tomllib.loads(shown)["reporting"] == {"dimensions": ["industry", "tier"]}
    again = tmp_path / "again.toml"
    again.write_text(shown, encoding="utf-8")
    answer = orjson.loads(leadflow(db_url, "pipeline", "activate", str(again), "--json"))
    assert answer["activated"] is False

    changes = {c["key"]: c for c in as_json("pipeline", "diff", first, "--db", db_url)["changes"]}
    assert changes["reporting.dimensions"] == {
        "key": "reporting.dimensions",
        "before": ["industry"],
        "after": ["industry", "tier"],
    }
