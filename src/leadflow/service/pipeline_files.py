"""Reading pipeline files: the shipped default and a user's TOML file.

The domain validates pipeline documents (:func:`leadflow.domain.pipeline.parse_pipeline`);
reading them from disk or from the package is I/O, so it lives here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from leadflow.domain.pipeline import Pipeline, parse_pipeline_toml
from leadflow.errors import PipelineInvalid

__all__ = ["default_pipeline", "default_pipeline_text", "load_pipeline", "pipeline_toml"]


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate the pipeline file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineInvalid([("(file)", f"{path} does not exist")], str(path)) from None
    return parse_pipeline_toml(text, str(path))


def default_pipeline_text() -> str:
    """The shipped pipeline file's text (``leadflow/default_pipeline.toml``)."""
    return resources.files("leadflow").joinpath("default_pipeline.toml").read_text("utf-8")


def default_pipeline() -> Pipeline:
    """The shipped B2B lifecycle (``default_pipeline.toml``)."""
    return parse_pipeline_toml(default_pipeline_text(), "default_pipeline.toml")


def pipeline_toml(pipeline: Pipeline) -> str:
    """``pipeline`` as a TOML file that ``pipeline activate`` accepts unchanged.

    Every setting is written out (defaults included, so the file does not depend on this
    leadflow's defaults), except unset optional ones (TOML has no null); it validates to the
    same version.
    """
    header = (
        f"# pipeline {pipeline.name!r}, version {pipeline.version}\n"
        "# written by `leadflow pipeline show --toml`: every setting, defaults included\n\n"
    )
    return header + tomli_w.dumps(_without_none(pipeline.model_dump(mode="json")))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
