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
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing import sqlite as es_sqlite
from eventsourcing.persistence import Notification

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
        raw.execute("PRAGMA secure_delete=ON")  # nothing freed keeps its old bytes
        return connection


class _ApplicationRecorder(es_sqlite.SQLiteApplicationRecorder):
    """Reads notifications as plain tuples and leaves ids as text (converted, cached, by the
    codec): the library's version builds a ``sqlite3.Row`` and a ``UUID`` per event."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        clauses: list[str] = []
        params: list[Any] = []
        if start is not None:
            clauses.append("rowid>=?" if inclusive_of_start else "rowid>?")
            params.append(start)
        if stop is not None:
            clauses.append("rowid<=?")
            params.append(stop)
        if topics:
            clauses.append(f"topic IN ({','.join('?' * len(topics))})")
            params.extend(topics)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} {where}ORDER BY rowid LIMIT ?"
        )
        params.append(limit)
        with self.datastore.transaction(commit=False) as cursor:
            raw: sqlite3.Cursor = cursor.sqlite_cursor
            raw.row_factory = None
            rows = raw.execute(statement, params).fetchall()
        return [
            Notification(
                id=rowid,
                originator_id=originator_id,
                originator_version=version,
                topic=topic,
                state=state,
            )
            for rowid, originator_id, version, topic, state in rows
        ]

    def select_lead_notifications(self, lead_id: UUID) -> Sequence[Notification]:
        """One lead's events with their log positions, by the (originator_id, version) key."""
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE originator_id=? ORDER BY originator_version"
        )
        with self.datastore.transaction(commit=False) as cursor:
            raw: sqlite3.Cursor = cursor.sqlite_cursor
            raw.row_factory = None
            rows = raw.execute(statement, (lead_id.hex,)).fetchall()
        return [
            Notification(
                id=rowid,
                originator_id=originator_id,
                originator_version=version,
                topic=topic,
                state=state,
            )
            for rowid, originator_id, version, topic, state in rows
        ]

    def select_existing_originators(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregate ids have events: one query per 500 ids."""
        found: set[UUID] = set()
        for i in range(0, len(ids), 500):
            chunk = [u.hex for u in ids[i : i + 500]]
            marks = ",".join("?" * len(chunk))
            statement = (
                f"SELECT DISTINCT originator_id FROM {self.events_table_name} "
                f"WHERE originator_id IN ({marks})"
            )
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, chunk)
                found.update(UUID(str(row[0])) for row in cursor.fetchall())
        return found


class Factory(es_sqlite.SQLiteFactory):
    application_recorder_class = _ApplicationRecorder

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
