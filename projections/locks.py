"""One runner at a time per store's read models: a rebuild never races a catch-up.

Two overlapping rebuilds (or a rebuild and a follower) used to interleave their resets
and batches and leave read models with rows missing while their positions said they were
complete. Every runner of a store's read models (a catch-up, a follower, a rebuild,
an in-database rebuild) now holds this lock while it writes them:

* PostgreSQL: a session-level advisory lock keyed by the store's schema, held on a
  connection of its own (released by the server if the process dies).
* SQLite: an exclusive ``flock`` on a file beside the database (``<db>-projections.lock``;
  released by the kernel if the process dies, so a killed rebuild never leaves it held).

``wait=False`` gives up at once (:class:`ReadModelsBusy`) instead of queueing behind a
long rebuild: what a write command's catch-up does, since the runner holding the lock
applies the new events anyway.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from leadflow.errors import LeadflowError

__all__ = ["ReadModelsBusy", "lock_path", "read_models_lock"]


class ReadModelsBusy(LeadflowError):
    """Another runner (a rebuild, a follower) holds the store's read models."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"the read models are being written by another runner ({detail}); "
            "try again when it has finished"
        )


def lock_path(engine: sa.Engine) -> Path | None:
    """The SQLite lock file of the store behind ``engine`` (``None``: not SQLite on disk)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return (
        Path(database).expanduser().resolve().with_name(Path(database).name + "-projections.lock")
    )


def _key(schema: str | None) -> int:
    # Signed 32-bit fits pg_advisory_lock(bigint); distinct from open_store's creation lock.
    return zlib.crc32(f"leadflow.projections:{schema or 'public'}".encode())


@contextmanager
def read_models_lock(
    engine: sa.Engine, schema: str | None, *, wait: bool = True, timeout: float | None = None
) -> Iterator[None]:
    """Hold the store's read-model lock for the duration of the block.

    ``wait``: queue for it (up to ``timeout`` seconds, for ever if ``None``); else raise
    :class:`ReadModelsBusy` at once when another runner holds it. Re-entrant within a
    thread (a rebuild's own catch-up does not wait for itself).
    """
    path = lock_path(engine)
    if engine.dialect.name == "postgresql":
        name = f"pg:{engine.url.render_as_string(hide_password=True)}:{schema}"
    elif path is not None:
        name = f"file:{path}"
    else:
        yield
        return
    held = _held()
    if name in held:
        held[name] += 1
        try:
            yield
        finally:
            held[name] -= 1
        return
    lock = (
        _postgres_lock(engine, schema, wait, timeout)
        if path is None
        else _file_lock(path, wait, timeout)
    )
    with lock:
        held[name] = 1
        try:
            yield
        finally:
            del held[name]


_local = threading.local()


def _held() -> dict[str, int]:
    held: dict[str, int] | None = getattr(_local, "held", None)
    if held is None:
        held = _local.held = {}
    return held


@contextmanager
def _postgres_lock(
    engine: sa.Engine, schema: str | None, wait: bool, timeout: float | None
) -> Iterator[None]:
    key = _key(schema)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            if got:
                break
            if not wait or (deadline is not None and time.monotonic() > deadline):
                raise ReadModelsBusy(f"advisory lock {key} on schema {schema or 'public'}")
            time.sleep(0.05)
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


@contextmanager
def _file_lock(path: Path, wait: bool, timeout: float | None) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or (deadline is not None and time.monotonic() > deadline):
                    raise ReadModelsBusy(f"lock file {path}") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
