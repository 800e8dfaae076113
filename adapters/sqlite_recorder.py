"""The embedded SQLite persistence: the eventsourcing library's recorder, tuned.

The library opens SQLite in WAL mode with the default ``synchronous=FULL``: every command's
commit waits for an fsync. leadflow sets ``synchronous=NORMAL`` by default, SQLite's own
recommendation for WAL: the database is never corrupted, and a commit survives an application
crash; only a power loss or OS crash may lose the last commits before a checkpoint. Choose
``?synchronous=full`` in the store URL when that matters more than speed.

This module is named in ``PERSISTENCE_MODULE``; the library looks for exactly one
infrastructure factory class in it, so the library's classes are referenced via their module.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from eventsourcing import sqlite as es_sqlite

__all__ = ["Factory"]

SQLITE_SYNCHRONOUS = "SQLITE_SYNCHRONOUS"
_LEVELS = {"off", "normal", "full", "extra"}


class _Pool(es_sqlite.SQLiteConnectionPool):
    def __init__(self, *, synchronous: str, **kwargs: Any) -> None:
        self.synchronous = synchronous
        super().__init__(**kwargs)

    def _create_connection(self) -> es_sqlite.SQLiteConnection:
        connection = super()._create_connection()
        raw: sqlite3.Connection = connection._sqlite_conn
        raw.execute(f"PRAGMA synchronous={self.synchronous}")
        return connection


class Factory(es_sqlite.SQLiteFactory):
    def __init__(self, env: Any) -> None:
        super().__init__(env)
        synchronous = (self.env.get(SQLITE_SYNCHRONOUS) or "normal").lower()
        if synchronous not in _LEVELS:
            raise OSError(
                f"{SQLITE_SYNCHRONOUS}={synchronous!r}: expected one of {sorted(_LEVELS)}"
            )
        old = self.datastore.pool
        self.datastore.pool = _Pool(
            synchronous=synchronous,
            db_name=old.db_name,
            lock_timeout=old.lock_timeout,
        )
        old.close()
