"""Reading pipeline files: the shipped default and a user's TOML file.

The domain validates pipeline documents (:func:`leadflow.domain.pipeline.parse_pipeline`);
reading them from disk or from the package is I/O, so it lives here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from leadflow.domain.pipeline import Pipeline, parse_pipeline_toml
from leadflow.errors import PipelineInvalid

__all__ = ["default_pipeline", "default_pipeline_text", "load_pipeline"]


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate the pipeline file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineInvalid([("(file)", f"{path} does not exist")], str(path)) from None
    except IsADirectoryError:
        raise PipelineInvalid([("(file)", f"{path} is a directory")], str(path)) from None
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte {exc.start + 1}); save the file as UTF-8"
        raise PipelineInvalid([("(file)", reason)], str(path)) from None
    except OSError as exc:
        raise PipelineInvalid([("(file)", f"cannot read {path}: {exc.strerror}")]) from None
    return parse_pipeline_toml(text, str(path))


def default_pipeline_text() -> str:
    """The shipped pipeline file's text (``leadflow/default_pipeline.toml``)."""
    return resources.files("leadflow").joinpath("default_pipeline.toml").read_text("utf-8")


def default_pipeline() -> Pipeline:
    """The shipped B2B lifecycle (``default_pipeline.toml``)."""
    return parse_pipeline_toml(default_pipeline_text(), "default_pipeline.toml")
