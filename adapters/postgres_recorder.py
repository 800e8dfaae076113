"""PostgreSQL persistence: the eventsourcing library's recorder plus a per-lead read.

Named in ``PERSISTENCE_MODULE``; the library looks for exactly one infrastructure factory
class in it, so the library's classes are referenced via their module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing import postgres as es_postgres
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent
from psycopg.sql import SQL, Identifier

from leadflow.service.store import insert_groups

__all__ = ["Factory"]


class _DeadlineIndexMoved(Exception):
    """The deadline index is not at the state the writer read (rolls the transaction back)."""


class _ApplicationRecorder(es_postgres.PostgresApplicationRecorder):
    """The library's recorder plus leadflow's reads and the deadline index's table
    (:class:`leadflow.service.deadlines.DeadlineTable`)."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        names = {
            "schema": Identifier(self.datastore.schema),
            "rows": Identifier("leadflow_deadlines"),
            "meta": Identifier("leadflow_deadline_index"),
            "due": Identifier("leadflow_deadlines_due"),
        }
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{rows} "
                "(lead_id uuid PRIMARY KEY, due_at bigint NOT NULL)"
            ).format(**names),
            SQL("CREATE INDEX IF NOT EXISTS {due} ON {schema}.{rows} (due_at)").format(**names),
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{meta} (id int PRIMARY KEY CHECK (id = 1), "
                "position bigint NOT NULL, pipeline text NOT NULL)"
            ).format(**names),
            SQL("INSERT INTO {schema}.{meta} VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING").format(
                **names
            ),
        ]
        self._deadline_names = names

    def insert_event_groups(
        self, groups: Sequence[Sequence[StoredEvent]]
    ) -> list[Sequence[int] | None]:
        """Group commit (:class:`leadflow.service.store.GroupRecorder`). First every group
        in one INSERT (the library's pipelined append: the common case, no conflict); if
        that breaks the (originator, version) key, again in one transaction with a
        savepoint per group, so that only the stale groups are left out."""
        if not groups:
            return []
        everything = [event for group in groups for event in group]
        try:
            ids = list(self.insert_events(everything) or ())
        except IntegrityError:
            return self._insert_each(groups)
        answers: list[Sequence[int] | None] = []
        for group in groups:
            answers.append(ids[: len(group)])
            del ids[: len(group)]
        return answers

    def _insert_each(self, groups: Sequence[Sequence[StoredEvent]]) -> list[Sequence[int] | None]:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)

            def insert(group: Sequence[StoredEvent]) -> Sequence[int] | None:
                rows = [
                    self.construct_pg_stored_event(
                        s.originator_id, s.originator_version, s.topic, s.state
                    )
                    for s in group
                ]
                try:
                    with conn.transaction():  # a savepoint
                        curs.execute(self.insert_events_statement, (rows,))
                        return [row["notification_id"] for row in curs.fetchall()]
                except psycopg.errors.UniqueViolation:
                    return None

            return insert_groups(groups, insert)

    def deadline_index_state(self) -> tuple[int, str]:
        statement = SQL("SELECT position, pipeline FROM {schema}.{meta}").format(
            **self._deadline_names
        )
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement)
            row = cursor.fetchall()[0]
        return int(row["position"]), str(row["pipeline"])

    def save_deadlines(
        self,
        rows: Sequence[tuple[UUID, int | None]],
        *,
        expected: tuple[int, str],
        state: tuple[int, str],
        reset: bool = False,
    ) -> bool:
        names = self._deadline_names
        try:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    SQL(
                        "UPDATE {schema}.{meta} SET position=%s, pipeline=%s "
                        "WHERE position=%s AND pipeline=%s"
                    ).format(**names),
                    [*state, *expected],
                )
                if cursor.rowcount != 1:
                    raise _DeadlineIndexMoved
                if reset:
                    cursor.execute(SQL("DELETE FROM {schema}.{rows}").format(**names))
                due = [(lead, at) for lead, at in rows if at is not None]
                if due:
                    cursor.executemany(
                        SQL(
                            "INSERT INTO {schema}.{rows} VALUES (%s, %s) "
                            "ON CONFLICT (lead_id) DO UPDATE SET due_at=excluded.due_at"
                        ).format(**names),
                        due,
                    )
                gone = [lead for lead, at in rows if at is None]
                if gone:
                    cursor.execute(
                        SQL("DELETE FROM {schema}.{rows} WHERE lead_id = ANY(%s)").format(**names),
                        [gone],
                    )
        except _DeadlineIndexMoved:
            return False
        return True

    def select_due_leads(self, until: int) -> list[UUID]:
        statement = SQL(
            "SELECT lead_id FROM {schema}.{rows} WHERE due_at <= %s ORDER BY due_at, lead_id"
        ).format(**self._deadline_names)
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [until])
            return [row["lead_id"] for row in cursor.fetchall()]

    def select_originators_since(
        self, after: int, stop: int, topics: Sequence[str], limit: int
    ) -> tuple[dict[UUID, int], int]:
        """The aggregates with events of these topics after position ``after`` (up to
        ``stop``, at most ``limit`` events), each with its latest version among them, and the
        last position read: ids and versions only, no event is decoded."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version FROM {schema}.{table} "
            "WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
            "ORDER BY notification_id LIMIT %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [after, stop, list(topics), limit])
            rows = cursor.fetchall()
        last = rows[-1]["notification_id"] if len(rows) == limit else stop
        latest: dict[UUID, int] = {}
        for row in rows:
            lead = row["originator_id"]
            latest[lead] = max(row["originator_version"], latest.get(lead, 0))
        return latest, last

    def select_notifications_of(self, ids: Sequence[UUID]) -> Sequence[Notification]:
        """The events of these aggregates, each aggregate's in order (by its key)."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE originator_id = ANY(%s) "
            "ORDER BY originator_id, originator_version"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [list(ids)])
            rows: list[dict[str, Any]] = cursor.fetchall()
        return [
            Notification(
                id=row["notification_id"],
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in rows
        ]

    def select_notification_rows(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The SQLite recorder's fast read under the same name; here the library's read is
        already as fast (psycopg returns ``UUID``\\ s)."""
        rows: Sequence[Notification] = self.select_notifications(
            start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )
        return rows

    def select_lead_notifications(self, lead_id: UUID) -> Sequence[Notification]:
        """One lead's events with their log positions, by the (originator_id, version) key."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE originator_id = %s ORDER BY originator_version"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [lead_id], prepare=True)
            rows: list[dict[str, Any]] = cursor.fetchall()
        return [
            Notification(
                id=row["notification_id"],
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in rows
        ]

    def select_existing_originators(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregate ids have events: one query."""
        statement = SQL(
            "SELECT DISTINCT originator_id FROM {schema}.{table} WHERE originator_id = ANY(%s)"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [list(ids)])
            return {row["originator_id"] for row in cursor.fetchall()}


class Factory(es_postgres.PostgresFactory):
    application_recorder_class = _ApplicationRecorder
