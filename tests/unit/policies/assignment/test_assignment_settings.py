"""Assignment settings in the pipeline: a bad one is refused, naming its key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from leadflow.domain.pipeline import Pipeline
from leadflow.errors import PipelineInvalid

UsePipeline = Callable[..., Pipeline]


def test_an_assignment_rule_needs_exactly_one_target(make_pipeline: UsePipeline) -> None:
    with pytest.raises(PipelineInvalid) as refused:
        make_pipeline(assignment={"rules": [{"id": "x", "when": {"source": "web"}}]})

    assert refused.value.problems[0][0].startswith("assignment.rules.0")


def test_closed_stages_must_exist(make_pipeline: UsePipeline) -> None:
    with pytest.raises(PipelineInvalid) as refused:
        make_pipeline(assignment={"closed_stages": ["won"]})

    assert ("assignment.closed_stages[0]", "unknown stage 'won'") in refused.value.problems
