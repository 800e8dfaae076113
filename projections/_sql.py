"""Plumbing shared by the read models: the table metadata, time columns, batched writes.

Every read-model table is defined on :data:`READ_MODELS` without a schema; the
runner maps it to the store's PostgreSQL schema with ``schema_translate_map``.

Times are stored in UTC. SQLite keeps them as ISO text without an offset (which sorts
and compares correctly because every value is UTC); PostgreSQL as ``timestamptz``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa

from leadflow.codec import EventRecord

__all__ = [
    "IN_CHUNK",
    "READ_MODELS",
    "RowSet",
    "Timestamp",
    "as_utc",
    "by_lead",
    "chunked",
    "iso",
    "lead_ids_in",
    "utc",
]

READ_MODELS = sa.MetaData()
"""Metadata of every built-in read-model table (no schema: see the runner)."""

Timestamp = sa.DateTime(timezone=True)
IN_CHUNK = 500
"""Most lead ids put in one ``IN (...)`` list."""

T = TypeVar("T")


def utc(value: datetime) -> datetime:
    """``value`` in UTC (events are recorded in UTC, so this is usually a no-op)."""
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A time read back from a table: SQLite returns it naive, and it is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """A stored time as ISO 8601 UTC text (``None`` stays ``None``)."""
    converted = as_utc(value)
    return converted.isoformat() if converted else None


def by_lead(records: Sequence[EventRecord]) -> dict[UUID, list[EventRecord]]:
    """Records grouped by lead, each lead's in the order given (which is its own order)."""
    grouped: dict[UUID, list[EventRecord]] = {}
    for record in records:
        events = grouped.get(record.lead_id)
        if events is None:
            grouped[record.lead_id] = [record]
        else:
            events.append(record)
    return grouped


def chunked(items: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


Row = dict[str, Any]


class RowSet:
    """The rows of one table that a batch reads and changes.

    Rows loaded from the table are updated in place (by primary key) when marked
    with :meth:`touch`; rows added with :meth:`add` are inserted. :meth:`flush` writes
    both with one ``executemany`` each, so per-event work stays in Python dicts.
    """

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.key = tuple(column.name for column in table.primary_key.columns)
        self._times = tuple(
            column.name for column in table.columns if isinstance(column.type, sa.DateTime)
        )
        self.rows: dict[tuple[Any, ...], Row] = {}
        self._new: list[tuple[Any, ...]] = []
        self._dirty: set[tuple[Any, ...]] = set()
        self._update: sa.Update | None = None

    def _key_of(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[name] for name in self.key)

    def load(self, conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[Row]:
        loaded = []
        for mapping in conn.execute(sa.select(self.table).where(where)).mappings():
            row = dict(mapping)
            for name in self._times:
                row[name] = as_utc(row[name])
            self.rows[self._key_of(row)] = row
            loaded.append(row)
        return loaded

    def add(self, row: Row) -> Row:
        key = self._key_of(row)
        self.rows[key] = row
        self._new.append(key)
        return row

    def touch(self, row: Row) -> None:
        self._dirty.add(self._key_of(row))

    def flush(self, conn: sa.Connection) -> None:
        new = set(self._new)
        if self._new:
            conn.execute(self.table.insert(), [self.rows[key] for key in self._new])
        changed = [self.rows[key] for key in self._dirty if key not in new]
        if changed:
            if self._update is None:
                self._update = self.table.update().where(
                    sa.and_(*(self.table.c[name] == sa.bindparam(f"k_{name}") for name in self.key))
                )
            params = []
            for row in changed:
                values = {name: value for name, value in row.items() if name not in self.key}
                values.update({f"k_{name}": row[name] for name in self.key})
                params.append(values)
            conn.execute(self._update, params)
        self._new.clear()
        self._dirty.clear()


def lead_ids_in(
    column: sa.Column[str], lead_ids: Iterable[UUID]
) -> Iterator[sa.ColumnElement[bool]]:
    """``column IN (...)`` conditions covering ``lead_ids`` in chunks."""
    for chunk in chunked(str(lead_id) for lead_id in lead_ids):
        yield column.in_(chunk)
