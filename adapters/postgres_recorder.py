"""PostgreSQL persistence: the eventsourcing library's recorder plus a per-lead read.

Named in ``PERSISTENCE_MODULE``; the library looks for exactly one infrastructure factory
class in it, so the library's classes are referenced via their module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing import postgres as es_postgres
from eventsourcing.persistence import Notification
from psycopg.sql import SQL, Identifier

__all__ = ["Factory"]


class _ApplicationRecorder(es_postgres.PostgresApplicationRecorder):
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
