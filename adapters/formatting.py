"""How the CLI writes times and durations: one human format and one ISO format.

People read ``2026-01-05 09:00 UTC`` and ``2d 3h``; machines read ISO 8601 with a numeric
offset (``+00:00``, never ``Z``, so that every time leadflow prints parses the same way
with ``datetime.fromisoformat`` on any Python and compares equal as text).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadflow.domain.durations import span

__all__ = ["human_duration", "human_time", "iso_time"]


def _aware(value: datetime) -> datetime:
    # leadflow reads a time without an offset as UTC (see ``cli_support.parse_time``).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def human_time(value: datetime) -> str:
    """``2026-01-05 09:00 UTC``, always in UTC; seconds only when they are not zero."""
    utc = _aware(value).astimezone(UTC)
    shown = utc.strftime("%Y-%m-%d %H:%M:%S" if utc.second else "%Y-%m-%d %H:%M")
    return f"{shown} UTC"


def human_duration(value: timedelta) -> str:
    """``7d``, ``2d 3h``, ``45m``, ``30s``: the engine's own
    :func:`~leadflow.domain.durations.span`."""
    return span(value)


def iso_time(value: datetime) -> str:
    """ISO 8601 with its offset (``+00:00`` for UTC); microseconds only when there are any."""
    return _aware(value).isoformat()
