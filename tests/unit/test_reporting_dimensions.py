"""``[reporting] dimensions``: what reports may group by, never anything personal."""

from __future__ import annotations

from typing import Any

import pytest

from leadflow.domain.bounds import DIMENSION_NAME_MAX, DIMENSIONS_MAX
from leadflow.domain.pipeline import BUILT_IN_GROUPINGS, parse_pipeline
from leadflow.errors import PipelineInvalid

from support.pipelines import default_document


def with_dimensions(dimensions: list[Any], **personal: Any) -> dict[str, Any]:
    document = default_document()
    document["reporting"] = {"dimensions": dimensions}
    if personal:
        document["personal_data"] = personal
    return document


def problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(document, "test")
    return caught.value.problems


def test_the_shipped_pipeline_lists_the_attributes_the_demo_captures() -> None:
    pipeline = parse_pipeline(default_document(), "test")
    assert pipeline.reporting.dimensions == ["industry"]
    assert pipeline.groupings() == (*BUILT_IN_GROUPINGS, "industry")


def test_the_section_is_optional_and_absent_means_none() -> None:
    document = default_document()
    document.pop("reporting")
    pipeline = parse_pipeline(document, "test")
    assert pipeline.reporting.dimensions == []
    assert pipeline.groupings() == BUILT_IN_GROUPINGS


@pytest.mark.parametrize(
    ("dimensions", "key", "reason"),
    [
        (["industry", "tier", "linkedin"], "reporting.dimensions[2]", "personal"),
        (["industry", "email"], "reporting.dimensions[1]", "contact field"),
        (["company"], "reporting.dimensions[0]", "contact field"),
        (["name"], "reporting.dimensions[0]", "contact field"),
        (["industry", "tier", "industry"], "reporting.dimensions[2]", "appears twice"),
        (["Industry"], "reporting.dimensions[0]", "not a lower-case name"),
        (["size-band"], "reporting.dimensions[0]", "not a lower-case name"),
        (["a.b"], "reporting.dimensions[0]", "not a lower-case name"),
        ([""], "reporting.dimensions[0]", "not a lower-case name"),
        ([7], "reporting.dimensions[0]", "not a name"),
        (["x" * (DIMENSION_NAME_MAX + 1)], "reporting.dimensions[0]", "the limit is"),
        (["source"], "reporting.dimensions[0]", "built in"),
        (["region"], "reporting.dimensions[0]", "built in"),
        (["owner"], "reporting.dimensions[0]", "built in"),
    ],
)
def test_a_dimension_that_is_personal_or_badly_named_is_refused_naming_it(
    dimensions: list[Any], key: str, reason: str
) -> None:
    found = problems(with_dimensions(dimensions))
    assert [k for k, _ in found] == [key]
    assert reason in found[0][1]


def test_the_pipelines_own_personal_attributes_are_refused() -> None:
    document = with_dimensions(["industry", "tier"], attributes=["tier"])
    assert [k for k, _ in problems(document)] == ["reporting.dimensions[1]"]
    # the same name is fine where the pipeline does not call it personal
    assert parse_pipeline(with_dimensions(["linkedin"], attributes=[]), "test")


def test_at_most_the_bound_of_dimensions() -> None:
    names = [f"d{i}" for i in range(DIMENSIONS_MAX)]
    assert parse_pipeline(with_dimensions(names), "test").reporting.dimensions == names
    found = problems(with_dimensions([*names, "one_more"]))
    assert found == [("reporting.dimensions", f"lists 21; the limit is {DIMENSIONS_MAX}")]
    assert parse_pipeline(with_dimensions(["x" * DIMENSION_NAME_MAX]), "test")


def test_dimensions_are_part_of_the_version() -> None:
    one = parse_pipeline(with_dimensions(["industry"]), "test")
    two = parse_pipeline(with_dimensions(["industry", "tier"]), "test")
    assert one.version != two.version
