"""Fixtures for policy tests: the shipped pipeline with some sections changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from leadflow.domain.pipeline import Pipeline, parse_pipeline
from leadflow.service.application import Leadflow
from leadflow.service.pipeline_files import default_pipeline

UsePipeline = Callable[..., Pipeline]


def pipeline_with(**sections: dict[str, Any]) -> Pipeline:
    """The shipped pipeline with keys of some top-level sections replaced."""
    doc = default_pipeline().model_dump(mode="json")
    for name, changes in sections.items():
        doc[name] = {**doc.get(name, {}), **changes}
    return parse_pipeline(doc, "test pipeline")


@pytest.fixture
def use_pipeline(app: Leadflow) -> UsePipeline:
    """``use_pipeline(dedupe={"keys": ["email"]})`` activates such a pipeline on ``app``."""

    def activate(**sections: dict[str, Any]) -> Pipeline:
        pipeline = pipeline_with(**sections)
        app.activate_pipeline(pipeline)
        return pipeline

    return activate


@pytest.fixture
def make_pipeline() -> UsePipeline:
    """``make_pipeline(pool={...})``: the shipped pipeline with those keys changed."""
    return pipeline_with
