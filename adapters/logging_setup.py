"""structlog configuration for the CLI: one event per line on stderr."""

from __future__ import annotations

import logging
import os
import sys

import structlog

from leadflow.service.logs import CurrentStderr

__all__ = ["configure_logging"]


def configure_logging(level: str | None = None, *, json: bool | None = None) -> None:
    """``level`` defaults to ``$LEADFLOW_LOG_LEVEL`` or ``warning``; JSON lines when not a TTY."""
    name = (level or os.environ.get("LEADFLOW_LOG_LEVEL") or "warning").upper()
    numeric = logging.getLevelNamesMapping().get(name, logging.WARNING)
    as_json = json if json is not None else not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
