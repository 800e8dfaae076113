"""leadflow: an event-sourced lead lifecycle engine.

The public names below are imported on first use (PEP 562), so that importing any part of
leadflow (e.g. the command line, for ``leadflow --help``) does not load all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadflow.domain.lead import Lead
    from leadflow.domain.pipeline import Pipeline
    from leadflow.domain.view import LeadView
    from leadflow.errors import (
        ConcurrencyConflict,
        IllegalTransition,
        InvalidInput,
        LeadflowError,
        LeadNotFound,
        PipelineInvalid,
    )
    from leadflow.service.application import CommandResult, Leadflow
    from leadflow.service.codec import EventRecord
    from leadflow.service.pipeline_files import default_pipeline, load_pipeline

_HOMES = {
    "CommandResult": "leadflow.service.application",
    "ConcurrencyConflict": "leadflow.errors",
    "EventRecord": "leadflow.service.codec",
    "IllegalTransition": "leadflow.errors",
    "InvalidInput": "leadflow.errors",
    "Lead": "leadflow.domain.lead",
    "LeadNotFound": "leadflow.errors",
    "LeadView": "leadflow.domain.view",
    "Leadflow": "leadflow.service.application",
    "LeadflowError": "leadflow.errors",
    "Pipeline": "leadflow.domain.pipeline",
    "PipelineInvalid": "leadflow.errors",
    "default_pipeline": "leadflow.service.pipeline_files",
    "load_pipeline": "leadflow.service.pipeline_files",
}

__all__ = [
    "CommandResult",
    "ConcurrencyConflict",
    "EventRecord",
    "IllegalTransition",
    "InvalidInput",
    "Lead",
    "LeadNotFound",
    "LeadView",
    "Leadflow",
    "LeadflowError",
    "Pipeline",
    "PipelineInvalid",
    "default_pipeline",
    "load_pipeline",
]
assert sorted(__all__) == sorted(_HOMES)

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'leadflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
