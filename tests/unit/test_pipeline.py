"""The pipeline file: validation names the offending key; versions are content hashes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from leadflow.domain.pipeline import parse_pipeline
from leadflow.errors import IllegalTransition, PipelineInvalid
from leadflow.service.pipeline_files import default_pipeline, load_pipeline

from support.pipelines import default_document


def problems_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(document)
    return caught.value.problems


def test_the_shipped_pipeline_mirrors_the_b2b_lifecycle() -> None:
    pipeline = default_pipeline()

    assert pipeline.main_path == [
        "subscriber",
        "lead",
        "mql",
        "sal",
        "sql",
        "opportunity",
        "customer",
    ]
    assert {"disqualified", "churned"} <= set(pipeline.stages)
    assert set(pipeline.statuses) == {
        "open", "contacted", "meeting_set", "qualified", "unqualified", "nurturing",
        "opportunity_lost", "customer", "inactive_customer",
    }  # fmt: skip
    assert pipeline.stages["mql"].labels["zh"] == "营销合格线索"
    assert pipeline.stages["mql"].sla == timedelta(days=2)
    assert pipeline.stages["sal"].team == "sales"


@pytest.mark.parametrize(
    ("source", "target", "kind"),
    [
        ("sal", "lead", "recycle"),
        ("opportunity", "lead", "recycle"),
        ("churned", "lead", "re_entry"),
        ("customer", "opportunity", "upsell"),
        ("mql", "sal", "promotion"),
    ],
)
def test_the_shipped_pipeline_allows_the_recycle_and_upsell_paths(
    source: str, target: str, kind: str
) -> None:
    assert default_pipeline().transition_kind(source, target) == kind


def test_an_illegal_move_names_from_to_and_the_allowed_targets() -> None:
    with pytest.raises(IllegalTransition) as caught:
        default_pipeline().transition_kind("lead", "customer")

    assert caught.value.from_ == "lead"
    assert caught.value.to == "customer"
    assert caught.value.allowed == ["mql", "subscriber", "disqualified"]
    assert "lead -> customer" in str(caught.value)


def test_a_transition_to_an_unknown_stage_names_its_key() -> None:
    document = default_document()
    document["stages"]["lead"]["transitions"]["won"] = "promotion"

    assert ("stages.lead.transitions.won", "unknown stage 'won'") in problems_of(document)


def test_an_unknown_key_is_named() -> None:
    document = default_document()
    document["stages"]["mql"]["colour"] = "blue"

    assert problems_of(document) == [("stages.mql.colour", "unknown key")]


def test_a_bad_transition_kind_is_named() -> None:
    document = default_document()
    document["stages"]["sal"]["transitions"]["lead"] = "sideways"

    [(key, reason)] = problems_of(document)
    assert key == "stages.sal.transitions.lead"
    assert "promotion" in reason


def test_a_bad_sla_duration_is_named() -> None:
    document = default_document()
    document["stages"]["mql"]["sla"] = "two days"

    [(key, _)] = problems_of(document)
    assert key == "stages.mql.sla"


def test_automation_must_reference_known_stages_statuses_and_events() -> None:
    document = default_document()
    document["automation"].append(
        {
            "id": "bad",
            "when": {"event": "LeadTeleported", "status": "happy"},
            "then": {"stage": "moon"},
        }
    )

    problems = problems_of(document)
    assert ("automation[11].when.event", "unknown event type 'LeadTeleported'") in problems
    assert ("automation[11].when.status", "unknown status 'happy'") in problems
    assert ("automation[11].then.stage", "unknown stage 'moon'") in problems


def test_duplicate_rule_ids_are_refused() -> None:
    document = default_document()
    document["automation"].append(dict(document["automation"][0]))

    assert ("automation[11].id", "duplicate rule id 'qualified-mql-to-sql'") in problems_of(
        document
    )


def test_the_version_is_a_content_hash_of_the_rules() -> None:
    document = default_document()
    same = parse_pipeline(default_document())
    document["stages"]["mql"]["sla"] = "3d"
    changed = parse_pipeline(document)

    assert same.version == default_pipeline().version
    assert changed.version != same.version
    assert len(same.version) == 16


def test_a_stored_pipeline_reads_back_with_the_same_version_and_stage_order() -> None:
    pipeline = default_pipeline()
    import orjson

    again = parse_pipeline(orjson.loads(pipeline.canonical_json()))

    assert again.version == pipeline.version
    assert list(again.stages) == list(pipeline.stages)


def test_a_syntax_error_in_the_file_is_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = \n", encoding="utf-8")

    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline(path)

    assert str(path) in str(caught.value)
    assert caught.value.problems[0][0] == "(syntax)"
