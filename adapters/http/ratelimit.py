"""Sliding-window rate limits, kept in the process's memory.

Each key (a form, or a form and a client address) keeps the times of its recent
requests; a request over the limit is refused with the seconds until the oldest one
leaves the window (``Retry-After``). With several ``--workers`` each process counts its
own requests, so the limit a client meets is up to the limit times the workers.
"""

from __future__ import annotations

import math
import threading
from collections import deque

__all__ = ["SlidingWindow"]


class SlidingWindow:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, limit: int, seconds: float, now: float) -> int | None:
        """Count a request; ``None`` if allowed, else the seconds to wait (at least 1)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self._max_keys:
                    self._forget_idle(now, seconds)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - seconds:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, math.ceil(hits[0] + seconds - now))
            hits.append(now)
            return None

    def _forget_idle(self, now: float, seconds: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - seconds]:
            del self._hits[key]
