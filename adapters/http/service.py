"""What one ``leadflow serve`` process holds: the store, its read models, the service
tables, and the lock that makes the store's in-memory state safe under threads.

FastAPI runs the (synchronous) endpoints on a thread pool. The application keeps the
roster and cached leads in memory and a unit of work changes them in place, so the
process lets one request at a time touch the store (:meth:`Service.locked`). Commands
are decided that way too, and saved by group commit (:attr:`Service.commands`: the
commands of concurrent requests in one transaction, each atomic and conflict-checked on
its own, while the next ones are decided). Several
processes (``--workers``) write the same store safely: every append is
conflict-checked, and each process brings its caches up to date before each use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa

from leadflow.adapters.cli_projections import catch_up, projection_runner
from leadflow.adapters.http.database import service_engine
from leadflow.adapters.http.ratelimit import SlidingWindow
from leadflow.adapters.store import open_store, resolve_url
from leadflow.projections import ProjectionRunner
from leadflow.service.application import Leadflow
from leadflow.service.group_commit import GroupCommitter

__all__ = ["Service"]

T = TypeVar("T")


class Service:
    """The store at ``url`` and everything the HTTP layer keeps beside it."""

    def __init__(self, url: str | None, *, clock: Callable[[], datetime] | None = None) -> None:
        self.url = resolve_url(url)
        self.lf: Leadflow = (
            open_store(self.url, actor="api:anonymous")
            if clock is None
            else open_store(self.url, actor="api:anonymous", clock=clock)
        )
        self.engine: sa.Engine = service_engine(self.url)
        self._runner: ProjectionRunner | None = None
        self._lock = threading.RLock()
        self.commands = GroupCommitter(self.lf, self._lock)
        """Commands of concurrent requests, saved by group commit."""
        self.rate_limits = SlidingWindow()

    def now(self) -> datetime:
        return self.lf.clock()

    @contextmanager
    def locked(self) -> Iterator[Leadflow]:
        """The store, for this thread alone until the block ends."""
        with self._lock:
            yield self.lf

    def runner(self) -> ProjectionRunner:
        if self._runner is None:
            self._runner = projection_runner(self.url, self.lf)
        return self._runner

    def read_models(self) -> ProjectionRunner:
        """The read models, caught up with the log (only the events since last time)."""
        with self.locked() as lf:
            runner = self.runner()
            catch_up(lf, runner)
            return runner

    def read(self, query: Callable[[Leadflow], T]) -> T:
        with self.locked() as lf:
            return query(lf)

    def close(self) -> None:
        self.commands.close()
        self.lf.close()
