"""Typing helpers for the projection tests."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class FakeClockLike(Protocol):
    now: datetime

    def advance(self, **kwargs: float) -> datetime: ...
