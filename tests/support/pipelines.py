"""The shipped pipeline, as a document to edit and as a pipeline with some sections changed."""

from __future__ import annotations

import tomllib
from typing import Any

from leadflow.domain.pipeline import Pipeline, parse_pipeline
from leadflow.service.pipeline_files import default_pipeline_text


def default_document() -> dict[str, Any]:
    """The shipped ``default_pipeline.toml`` as a fresh dict (edit it, then ``parse_pipeline``)."""
    return tomllib.loads(default_pipeline_text())


def pipeline_with(**sections: Any) -> Pipeline:
    """The shipped pipeline with some top-level sections changed.

    A dict merges its keys into the section (``pool={"daily_claim_limit": 2}`` keeps the
    other pool settings; each key's value is replaced whole); any other value replaces the
    section; ``None`` removes it. For deeper edits, change ``default_document()`` and parse it.
    """
    document = default_document()
    for name, value in sections.items():
        if value is None:
            document.pop(name, None)
        elif isinstance(value, dict) and isinstance(document.get(name), dict):
            document[name] = {**document[name], **value}
        else:
            document[name] = value
    return parse_pipeline(document, "test pipeline")
