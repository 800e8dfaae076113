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
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing import persistence as es_persistence
from eventsourcing import sqlite as es_sqlite
from eventsourcing.persistence import Notification, StoredEvent

from leadflow.service.store import insert_groups

__all__ = ["Factory"]

_T = TypeVar("_T")
SQLITE_SYNCHRONOUS = "SQLITE_SYNCHRONOUS"
_LEVELS = {"off", "normal", "full", "extra"}


class _Pool(es_sqlite.SQLiteConnectionPool):
    def __init__(self, *, synchronous: str, **kwargs: Any) -> None:
        self.synchronous = synchronous
        super().__init__(**kwargs)

    def _create_connection(self) -> es_sqlite.SQLiteConnection:
        connection = self._connect_waiting_out_wal_switch()
        raw: sqlite3.Connection = connection._sqlite_conn
        raw.execute(f"PRAGMA synchronous={self.synchronous}")
        raw.execute("PRAGMA secure_delete=ON")  # nothing freed keeps its old bytes
        return connection

    def _connect_waiting_out_wal_switch(self) -> es_sqlite.SQLiteConnection:
        """Switching a new database file to WAL needs the file to itself, and SQLite answers
        "database is locked" at once (its busy timeout does not apply) when another process or
        thread is opening the same new store: wait that out, for up to the lock timeout."""
        return _waiting_out_locks(super()._create_connection, self.lock_timeout)


def _waiting_out_locks(attempt: Callable[[], _T], lock_timeout: float | None) -> _T:
    deadline = time.monotonic() + (lock_timeout or 5)
    pause = 0.01
    while True:
        try:
            return attempt()
        except (sqlite3.OperationalError, es_persistence.OperationalError) as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


class _DeadlineIndexMoved(Exception):
    """The deadline index is not at the state the writer read (rolls the transaction back)."""


class _ApplicationRecorder(es_sqlite.SQLiteApplicationRecorder):
    """The library's recorder (its ``select_notifications`` and every other method keep the
    library's contract, checked by its own conformance suite in tests/integration) plus
    leadflow's reads under their own names and the deadline index's table
    (:class:`leadflow.service.deadlines.DeadlineTable`)."""

    def create_table(self) -> None:
        """The library's, retried while SQLite answers "database is locked" at once (a new file
        being switched to WAL by another opener; its busy timeout does not cover that). The
        statements are idempotent (``IF NOT EXISTS``, ``INSERT OR IGNORE``)."""
        _waiting_out_locks(super().create_table, self.datastore.pool.lock_timeout)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS leadflow_deadlines "
            "(lead_id TEXT PRIMARY KEY, due_at INTEGER NOT NULL) WITHOUT ROWID",
            "CREATE INDEX IF NOT EXISTS leadflow_deadlines_due ON leadflow_deadlines (due_at)",
            "CREATE TABLE IF NOT EXISTS leadflow_deadline_index (id INTEGER PRIMARY KEY "
            "CHECK (id = 1), position INTEGER NOT NULL, pipeline TEXT NOT NULL)",
            "INSERT OR IGNORE INTO leadflow_deadline_index VALUES (1, 0, '')",
        ]

    def insert_event_groups(
        self, groups: Sequence[Sequence[StoredEvent]]
    ) -> list[Sequence[int] | None]:
        """Group commit (:class:`leadflow.service.store.GroupRecorder`): one transaction,
        a savepoint per group; a group that breaks the (originator, version) key is
        rolled back to its savepoint alone."""
        with self.datastore.transaction(commit=True) as cursor:
            raw: sqlite3.Cursor = cursor.sqlite_cursor
            statement = self.insert_events_statement

            def insert(group: Sequence[StoredEvent]) -> Sequence[int] | None:
                raw.execute("SAVEPOINT command")
                ids: list[int] = []
                try:
                    for s in group:
                        raw.execute(
                            statement,
                            (_hex(s.originator_id), s.originator_version, s.topic, s.state),
                        )
                        assert raw.lastrowid is not None
                        ids.append(raw.lastrowid)
                except sqlite3.IntegrityError:
                    raw.execute("ROLLBACK TO command")
                    raw.execute("RELEASE command")
                    return None
                raw.execute("RELEASE command")
                return ids

            return insert_groups(groups, insert)

    def deadline_index_state(self) -> tuple[int, str]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT position, pipeline FROM leadflow_deadline_index")
            position, pipeline = cursor.fetchall()[0]
        return int(position), str(pipeline)

    def save_deadlines(
        self,
        rows: Sequence[tuple[UUID, int | None]],
        *,
        expected: tuple[int, str],
        state: tuple[int, str],
        reset: bool = False,
    ) -> bool:
        try:
            with self.datastore.transaction(commit=True) as cursor:
                raw: sqlite3.Cursor = cursor.sqlite_cursor
                raw.execute(
                    "UPDATE leadflow_deadline_index SET position=?, pipeline=? "
                    "WHERE position=? AND pipeline=?",
                    (*state, *expected),
                )
                if raw.rowcount != 1:
                    raise _DeadlineIndexMoved
                if reset:
                    raw.execute("DELETE FROM leadflow_deadlines")
                raw.executemany(
                    "INSERT INTO leadflow_deadlines VALUES (?, ?) "
                    "ON CONFLICT (lead_id) DO UPDATE SET due_at=excluded.due_at",
                    [(lead.hex, due) for lead, due in rows if due is not None],
                )
                raw.executemany(
                    "DELETE FROM leadflow_deadlines WHERE lead_id=?",
                    [(lead.hex,) for lead, due in rows if due is None],
                )
        except _DeadlineIndexMoved:
            return False
        return True

    def select_due_leads(self, until: int) -> list[UUID]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT lead_id FROM leadflow_deadlines WHERE due_at<=? ORDER BY due_at, lead_id",
                (until,),
            )
            return [UUID(row[0]) for row in cursor.fetchall()]

    def select_originators_since(
        self, after: int, stop: int, topics: Sequence[str], limit: int
    ) -> tuple[dict[UUID, int], int]:
        """The aggregates with events of these topics after position ``after`` (up to
        ``stop``, at most ``limit`` events), each with its latest version among them, and the
        last position read: ids and versions only, no event is decoded."""
        statement = (
            f"SELECT rowid, originator_id, originator_version FROM {self.events_table_name} "
            "WHERE rowid>? "
            f"AND rowid<=? AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as cursor:
            raw: sqlite3.Cursor = cursor.sqlite_cursor
            raw.row_factory = None
            rows = raw.execute(statement, (after, stop, *topics, limit)).fetchall()
        last = rows[-1][0] if len(rows) == limit else stop
        latest: dict[str, int] = {}
        for _, hex_id, version in rows:
            latest[hex_id] = max(version, latest.get(hex_id, 0))
        return {UUID(hex_id): version for hex_id, version in latest.items()}, last

    def select_notifications_of(self, ids: Sequence[UUID]) -> Sequence[Notification]:
        """The events of these aggregates, each aggregate's in order (by its key)."""
        found: list[Notification] = []
        for i in range(0, len(ids), 500):
            chunk = [u.hex for u in ids[i : i + 500]]
            statement = (
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} WHERE originator_id IN "
                f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version"
            )
            with self.datastore.transaction(commit=False) as cursor:
                raw: sqlite3.Cursor = cursor.sqlite_cursor
                raw.row_factory = None
                rows = raw.execute(statement, chunk).fetchall()
            found += [
                Notification(
                    id=rowid,
                    originator_id=originator_id,
                    originator_version=version,
                    topic=topic,
                    state=state,
                )
                for rowid, originator_id, version, topic, state in rows
            ]
        return found

    def select_notification_rows(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """``select_notifications``, fast: plain tuples, and originator ids left as the
        stored hex text (leadflow's codec parses them, cached); the library's version
        builds a ``sqlite3.Row`` and a ``UUID`` per event."""
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
