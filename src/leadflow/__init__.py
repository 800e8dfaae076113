"""leadflow: an event-sourced lead lifecycle engine."""

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

__version__ = "0.1.0"
