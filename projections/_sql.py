"""Plumbing shared by the read models: the table metadata, time columns, batched writes.

Every read-model table is defined on :data:`READ_MODELS` without a schema; the
runner maps it to the store's PostgreSQL schema with ``schema_translate_map``.

Times are stored in UTC. SQLite keeps them as ISO text without an offset (which sorts
and compares correctly because every value is UTC); PostgreSQL as ``timestamptz``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa

from leadflow.service.codec import EventRecord

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
        self._key_of: Callable[[Row], tuple[Any, ...]]
        if len(self.key) == 1:
            only = self.key[0]
            self._key_of = lambda row: (row[only],)
        else:
            self._key_of = operator.itemgetter(*self.key)
        # Times are read raw and parsed here (SQLAlchemy's per-value processing is slower).
        self._select = sa.select(
            *(
                sa.type_coerce(column, sa.types.NullType()).label(column.name)
                if column.name in self._times
                else column
                for column in table.columns
            )
        )

    def load(self, conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[Row]:
        loaded = []
        times = self._times
        for mapping in conn.execute(self._select.where(where)).mappings():
            row = dict(mapping)
            for name in times:
                row[name] = _read_time(row[name])
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
        """Insert the added rows and update the touched ones (one ``executemany`` each).

        Rows go to the driver directly: SQLAlchemy's per-row parameter processing costs
        more than the database's work here, and a rebuild writes every row once.
        """
        new = set(self._new)
        if self._new:
            sql, names, convert = _statement(conn, self.table, "insert")
            conn.exec_driver_sql(sql, _params([self.rows[k] for k in self._new], names, convert))
        changed = [self.rows[key] for key in self._dirty if key not in new]
        if changed:
            sql, names, convert = _statement(conn, self.table, "update")
            conn.exec_driver_sql(sql, _params(changed, names, convert))
        self._new.clear()
        self._dirty.clear()


Convert = Callable[[Any], Any]
_STATEMENTS: dict[
    tuple[str, str, str, str | None], tuple[str, list[str], list[Convert | None]]
] = {}


_TEXT: dict[datetime, str] = {}
_TEXT_MAX = 20_000
"""Times repeat within a batch (one event's time goes to several rows and columns), so a
memo the size of a batch keeps the gain; a larger one only grows a rebuild's memory."""


def _sqlite_time(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text for a UTC time (always with microseconds).

    Memoised: the same event time is written to several rows and columns.
    """
    if value is None:
        return None
    text = _TEXT.get(value)
    if text is None:
        if len(_TEXT) > _TEXT_MAX:
            _TEXT.clear()
        text = _TEXT[value] = utc(value).isoformat(" ", "microseconds")[:26]
    return text


def _read_time(value: str | datetime | None) -> datetime | None:
    """A stored time read raw: SQLite text (UTC) or a driver's datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return as_utc(value)


def _statement(
    conn: sa.Connection, table: sa.Table, kind: str
) -> tuple[str, list[str], list[Convert | None]]:
    """Driver-level SQL for inserting or updating (by primary key) whole rows of ``table``.

    Returns the SQL, the row keys in parameter order, and a converter per parameter.
    """
    dialect = conn.dialect
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    cache_key = (table.name, kind, dialect.name, schema)
    cached = _STATEMENTS.get(cache_key)
    if cached is not None:
        return cached
    key = [column.name for column in table.primary_key.columns]
    if kind == "insert":
        stmt: sa.Insert | sa.Update = table.insert().values(
            {column.name: sa.bindparam(f"v_{column.name}") for column in table.columns}
        )
    else:
        stmt = (
            table.update()
            .where(*(table.c[name] == sa.bindparam(f"v_{name}") for name in key))
            .values(
                {
                    column.name: sa.bindparam(f"v_{column.name}")
                    for column in table.columns
                    if column.name not in key
                }
            )
        )
    compiled = stmt.compile(
        dialect=dialect, schema_translate_map=translate or None, render_schema_translate=True
    )
    order = list(compiled.positiontup or []) if dialect.positional else list(compiled.params)
    names = [name.removeprefix("v_") for name in order]
    times = {c.name for c in table.columns if isinstance(c.type, sa.DateTime)}
    sqlite = dialect.name == "sqlite"
    convert: list[Convert | None] = [
        _sqlite_time if sqlite and name in times else None for name in names
    ]
    result = (str(compiled), names if dialect.positional else order, convert)
    _STATEMENTS[cache_key] = result
    return result


def _params(rows: list[Row], names: list[str], convert: list[Convert | None]) -> Any:
    """Parameters for ``exec_driver_sql``: tuples (positional drivers) or dicts."""
    if names and names[0].startswith("v_"):  # named parameters (e.g. psycopg)
        keys = [name.removeprefix("v_") for name in names]
        return [
            {
                name: (fn(row[key]) if fn else row[key])
                for name, key, fn in zip(names, keys, convert, strict=True)
            }
            for row in rows
        ]
    if not any(convert):
        return [tuple(row[name] for name in names) for row in rows]
    pairs = list(zip(names, convert, strict=True))
    return [tuple(fn(row[name]) if fn else row[name] for name, fn in pairs) for row in rows]


def lead_ids_in(
    column: sa.Column[str], lead_ids: Iterable[UUID]
) -> Iterator[sa.ColumnElement[bool]]:
    """``column IN (...)`` conditions covering ``lead_ids`` in chunks."""
    for chunk in chunked(str(lead_id) for lead_id in lead_ids):
        yield column.in_(chunk)
