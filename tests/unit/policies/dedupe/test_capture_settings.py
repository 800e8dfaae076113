"""Capture and dedupe settings in the pipeline: a bad one is refused, naming its key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from leadflow.domain.pipeline import Pipeline
from leadflow.errors import PipelineInvalid

UsePipeline = Callable[..., Pipeline]


@pytest.mark.parametrize(
    ("section", "changes", "key"),
    [
        ("capture", {"default_region": "XX"}, "capture.default_region"),
        ("capture", {"contact_fields": []}, "capture.contact_fields"),
        ("capture", {"contact_fields": ["fax"]}, "capture.contact_fields.0"),
        ("dedupe", {"keys": ["email", "email"]}, "dedupe.keys"),
    ],
)
def test_bad_capture_and_dedupe_settings_name_the_key(
    make_pipeline: UsePipeline, section: str, changes: dict[str, object], key: str
) -> None:
    with pytest.raises(PipelineInvalid) as refused:
        make_pipeline(**{section: changes})

    assert key in [k for k, _ in refused.value.problems]
