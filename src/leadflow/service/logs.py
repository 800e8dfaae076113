"""Where leadflow's logs go when the application using it never said: stderr.

structlog, left unconfigured, prints to stdout, which is the program's output: a script
that captures leads and prints a report would get log lines in its report. So, on import
of :mod:`leadflow.service`, if (and only if) structlog is not configured yet, leadflow
configures it to write one ``key=value`` line per event to stderr. An application that
configured structlog first keeps its configuration; one that configures it later
overrides what it sets (nothing is cached on first use, so loggers follow the change).
The CLI replaces all of it (``leadflow.adapters.logging_setup``).
"""

from __future__ import annotations

import sys
from typing import Any

import structlog

__all__ = ["CurrentStderr", "configure_default", "get_logger"]


class CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured
    (test runners swap it; a cached logger must not keep writing to a closed one)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_default() -> None:
    """Send structlog's events to stderr, unless structlog is configured already."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.LogfmtRenderer(
                key_order=["timestamp", "level", "event"], drop_missing=True, bool_as_flag=False
            ),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger named ``name``, logging to stderr by default (see above)."""
    configure_default()
    return structlog.get_logger(name)
