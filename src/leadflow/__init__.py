"""leadflow: an event-sourced lead lifecycle engine."""

from leadflow.application import CommandResult, Leadflow
from leadflow.codec import EventRecord
from leadflow.errors import (
    ConcurrencyConflict,
    IllegalTransition,
    InvalidInput,
    LeadflowError,
    LeadNotFound,
    PipelineInvalid,
)
from leadflow.lead import Lead
from leadflow.pipeline import Pipeline, default_pipeline, load_pipeline

__all__ = [
    "CommandResult",
    "ConcurrencyConflict",
    "EventRecord",
    "IllegalTransition",
    "InvalidInput",
    "Lead",
    "LeadNotFound",
    "Leadflow",
    "LeadflowError",
    "Pipeline",
    "PipelineInvalid",
    "default_pipeline",
    "load_pipeline",
]

__version__ = "0.1.0"
