"""The one fake clock of the test suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""Where every fake clock starts unless told otherwise (a Monday, 09:00 UTC)."""


class FakeClock:
    """A clock the test moves by hand: ``clock()`` is ``clock.now``; ``advance(days=2)``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        """Move on by ``timedelta(**kwargs)``; returns the new now."""
        self.now += timedelta(**kwargs)
        return self.now
