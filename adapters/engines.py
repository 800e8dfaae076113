"""One SQLAlchemy engine per store URL, kept for reuse, at most a few at a time.

A command or a server opens one store and reads its read models or service tables many
times: creating an engine (and its connection pool) each time would cost a connection per
read. A long-lived process that opens many stores (a test suite, a tool looping over
tenants) must not keep every pool it ever opened: the cache holds at most ``bound``
engines, disposes the least recently used one past that (its idle connections close; one
still held by a caller keeps working and reconnects on its next use), and
:meth:`EngineCache.dispose` closes them on demand.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["EngineCache"]


class EngineCache:
    """Engines by store URL, least recently used first out (and disposed)."""

    def __init__(self, bound: int = 8) -> None:
        self.bound = bound
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str, make: Callable[[], sa.Engine]) -> sa.Engine:
        """The engine of ``url``, made by ``make`` the first time (or after a dispose)."""
        with self._lock:
            engine = self._engines.get(url)
            if engine is not None:
                self._engines.move_to_end(url)
                return engine
        made = make()
        with self._lock:
            engine = self._engines.setdefault(url, made)
            self._engines.move_to_end(url)
            evicted = []
            while len(self._engines) > self.bound:
                evicted.append(self._engines.popitem(last=False)[1])
        if engine is not made:  # another thread made one first
            evicted.append(made)
        for old in evicted:
            old.dispose()
        return engine

    def dispose(self, matching: Callable[[str], bool] = lambda url: True) -> int:
        """Close and forget the engines whose URL ``matching`` accepts (default: all);
        returns how many."""
        with self._lock:
            gone = [url for url in self._engines if matching(url)]
            engines = [self._engines.pop(url) for url in gone]
        for engine in engines:
            engine.dispose()
        return len(engines)

    def __contains__(self, url: object) -> bool:
        return url in self._engines

    def __len__(self) -> int:
        return len(self._engines)
