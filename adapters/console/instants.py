"""The instants the console's funnel asks about: a date and time, or a relative choice.

Relative choices are resolved against the server's clock, in UTC, to the last
microsecond of the period they name (the same instant ``--as-of 2026-06-30`` means
on the command line: a bare date is its end of day). The page always shows, and
every link carries, the absolute instant it resolved to.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from leadflow.adapters.cli_support import parse_time
from leadflow.errors import InvalidInput

__all__ = ["RELATIVE", "resolve_instant"]


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, UTC)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


RELATIVE: dict[str, str] = {
    "now": "now",
    "end_of_yesterday": "end of yesterday",
    "end_of_last_week": "end of last week (Sunday)",
    "end_of_last_month": "end of last month",
    "end_of_last_quarter": "end of last quarter",
    "end_of_last_year": "end of last year",
}
"""The relative choices, by the value the form sends, with their English label."""


def _relative(choice: str, now: datetime) -> datetime:
    today = now.astimezone(UTC).date()
    if choice == "now":
        return now
    if choice == "end_of_yesterday":
        return _end_of(today - timedelta(days=1))
    if choice == "end_of_last_week":
        return _end_of(today - timedelta(days=today.isoweekday()))
    if choice == "end_of_last_month":
        return _end_of(today.replace(day=1) - timedelta(days=1))
    if choice == "end_of_last_quarter":
        return _end_of(_quarter_start(today) - timedelta(days=1))
    if choice == "end_of_last_year":
        return _end_of(date(today.year - 1, 12, 31))
    raise InvalidInput("relative", f"{choice!r} is not one of: {', '.join(RELATIVE)}")


def resolve_instant(
    absolute: str | None, relative: str | None, now: datetime, field: str
) -> datetime | None:
    """The instant a form names: ``relative`` wins over ``absolute``; neither → ``None``.

    ``absolute`` is ISO 8601 as ``<input type=datetime-local>`` sends it (no offset: UTC)
    or a bare date (its end of day).
    """
    if relative:
        return _relative(relative, now)
    if absolute:
        if len(absolute) > 40:
            raise InvalidInput(field, "at most 40 characters")
        return parse_time(absolute, field, end_of_day=True)
    return None
