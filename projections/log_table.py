"""The log as a table: what a first build of the read models reads inside the database.

A full rebuild through the per-event handlers decodes every event in Python and applies
it row by row. A *first build* (every read model at position 0: a new store, an upgrade,
``leadflow rebuild``) can instead run inside the database: the events table is
read once into a temporary table, ``lf_log``, holding per lead event only the fields the
read models use, each decoded by the database's own JSON functions (SQLite
``json_extract``, PostgreSQL ``jsonb``) and only for the event types that use it. Each
read model then fills its tables from ``lf_log`` with ``INSERT … SELECT`` and window
functions (its ``build``, beside its ``handle``, which stays the reference: a property
test checks both give the same tables).

What SQL cannot read: personal values, which the store seals under each lead's data key
(:mod:`leadflow.service.sealing`). A read model that copies one (a stage change's reason,
a hand-off's note) names it in ``SEALED``; after the build, only the events whose sealed
paths include it are decoded, through the store's own mapper (so the value, ``[erased]``
or ``[personal]`` reads exactly as in the handlers), and their rows are updated.

A store whose whole event state is compressed or encrypted (the library's ``COMPRESSOR``
/ ``CIPHER``) gives no :class:`LogSource`: its read models are built by the handlers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from eventsourcing.persistence import StoredEvent

from leadflow.domain.events import EVENT_TYPES, ActivityKind
from leadflow.domain.personal_data import ERASED
from leadflow.projections._sql import chunked
from leadflow.service.codec import LEAD_TOPICS, EventMapper

__all__ = ["LOG", "TOUCHED", "LogSource", "Sealed", "Sql", "build_log_table", "fill_sealed"]

LOG = "lf_log"
"""The temporary table a build reads (dropped at the end of its transaction)."""
TOUCHED = "lf_log_leads"
"""The leads a catch-up inside the database rebuilds (see :class:`Sql`, ``partial``)."""

_TEXT, _TIME, _REAL = "text", "time", "real"

# (column, what it holds, path in the stored envelope, event types that use it; None: every type)
_COLUMNS: list[tuple[str, str, str, Sequence[str] | None]] = [
    ("at", _TIME, "occurred_at", None),
    ("rec", _TIME, "recorded_at", None),
    ("actor", _TEXT, "actor", None),
    # Who decided: ``None`` for a person. Only payloads with a ``rule`` field hold one.
    (
        "rule",
        _TEXT,
        "data.rule",
        [t for t, c in EVENT_TYPES.items() if "rule" in c.DATA.model_fields],
    ),
    ("stage", _TEXT, "data.stage", ["LeadCaptured", "StageChanged"]),
    ("status", _TEXT, "data.status", ["LeadCaptured", "StatusChanged"]),
    ("kind", _TEXT, "data.kind", ["StageChanged"]),
    ("score", _REAL, "data.score", ["LeadScored"]),
    ("owner", _TEXT, "data.owner", ["LeadAssigned", "LeadClaimed", "SlaBreached"]),
    ("to_owner", _TEXT, "data.to_owner", ["LeadHandedOff"]),
    ("from_owner", _TEXT, "data.from_owner", ["LeadHandedOff"]),
    ("note", _TEXT, "data.note", ["LeadHandedOff"]),
    ("sla_due", _TIME, "data.sla_due", ["LeadHandedOff"]),
    ("escalated_to", _TEXT, "data.to", ["HandOffEscalated"]),
    ("reassigned_to", _TEXT, "data.reassigned_to", ["HandOffEscalated"]),
    ("sla", _TEXT, "data.sla", ["SlaBreached"]),
    ("due_at", _TIME, "data.due_at", ["SlaBreached", "HandOffEscalated"]),
    ("by_", _TEXT, "data.by", ["HandOffAccepted", "HandOffRejected"]),
    ("reason", _TEXT, "data.reason", ["StageChanged", "HandOffRejected", "LeadRecycled"]),
    ("into_lead", _TEXT, "data.into_lead_id", ["LeadMerged"]),
    ("touched_at", _TIME, "data.touched_at", ["TouchRecorded"]),
    ("amount", _REAL, "data.amount", ["LeadConverted", "DealWon"]),
    ("currency", _TEXT, "data.currency", ["DealWon"]),
    ("source", _TEXT, "data.source", ["LeadCaptured"]),
    ("campaign", _TEXT, "data.campaign", ["LeadCaptured"]),
    ("region", _TEXT, "data.attributes.region", ["LeadCaptured"]),
    # The attributes and profile changes as JSON text, which the reporting dimensions read.
    ("attrs", _TEXT, "data.attributes", ["LeadCaptured"]),
    ("changes", _TEXT, "data.changes", ["ProfileUpdated"]),
    # The paths sealed under the lead's key (a JSON list), where a read model copies one.
    (
        "sealed",
        _TEXT,
        "pf",
        [
            "LeadCaptured",
            "StageChanged",
            "LeadHandedOff",
            "HandOffRejected",
            "LeadRecycled",
            "ProfileUpdated",
        ],
    ),
]

_CATEGORY_OF = {kind.value: kind.category.value for kind in ActivityKind}
"""Version 1 of ``ActivityRecorded`` named the activity ``kind`` (its upcast gives the category)."""


@dataclass(frozen=True)
class LogSource:
    """Where a store's events are, for a build inside the database."""

    table: str
    """The events table (SQLite: ``stored_events``; PostgreSQL: ``leadflow_events``)."""
    schema: str | None
    """Its PostgreSQL schema."""
    mapper: EventMapper
    """Decodes the few events whose sealed values a read model copies."""


@dataclass(frozen=True)
class Sealed:
    """A read-model column copied from a personal value, which SQL cannot open.

    ``key``: the column of ``table`` that names the event (``entered_position``) and the
    column of ``lf_log`` it matches (``position``, or ``lead`` for a row per lead).
    """

    table: sa.Table
    column: str
    key: tuple[str, str]
    types: tuple[str, ...]
    path: str


class Sql:
    """What differs between SQLite and PostgreSQL in the builds' SQL, and between a first
    build and a catch-up inside the database.

    ``partial``: ``lf_log`` holds the whole history of only the leads a catch-up touches
    (listed in :data:`TOUCHED`); their rows were deleted and their counts taken out by
    each read model's ``forget``, and its ``build`` adds them back (:meth:`add_counts`,
    :meth:`only`), leaving every other lead's rows as they are.
    """

    def __init__(
        self, conn: sa.Connection, source: LogSource | None = None, *, partial: bool = False
    ) -> None:
        self.conn = conn
        self.source = source
        self.partial = partial
        self.postgres = conn.dialect.name == "postgresql"
        translate = conn.get_execution_options().get("schema_translate_map") or {}
        self.schema: str | None = translate.get(None)
        self.true, self.false = ("TRUE", "FALSE") if self.postgres else ("1", "0")

    def table(self, table: sa.Table) -> str:
        """A read-model table's name, qualified by the store's schema."""
        return f'"{self.schema}"."{table.name}"' if self.schema else f'"{table.name}"'

    def day(self, time: str) -> str:
        """The UTC date of a time column (``lf_funnel_daily``'s days)."""
        return f"(({time}) AT TIME ZONE 'UTC')::date" if self.postgres else f"substr({time}, 1, 10)"

    def month(self, time: str) -> str:
        return (
            f"to_char(({time}) AT TIME ZONE 'UTC', 'YYYY-MM')"
            if self.postgres
            else f"substr({time}, 1, 7)"
        )

    def seconds(self, start: str, end: str) -> str:
        """``end - start`` in seconds, exactly as ``timedelta.total_seconds`` gives it."""
        if self.postgres:
            return f"(extract(epoch FROM {end}) - extract(epoch FROM {start}))::float8"
        micros = (
            f"((strftime('%s', substr({end}, 1, 19)) - strftime('%s', substr({start}, 1, 19)))"
            " * 1000000"
            f" + (substr({end}, 21, 6) - substr({start}, 21, 6)))"
        )
        return f"({micros} / 1000000.0)"

    def contains(self, text: str, word: str) -> str:
        """``word`` (a JSON string) is in ``text``."""
        needle = f"'\"{word}\"'"
        return f"strpos({text}, {needle}) > 0" if self.postgres else f"instr({text}, {needle}) > 0"

    def run(self, statement: str) -> None:
        self.conn.exec_driver_sql(statement)

    def only(self, column: str) -> str:
        """A condition: ``column`` (a lead id) is one this build rebuilds (any, unless
        ``partial``)."""
        return f"{column} IN (SELECT lead FROM {TOUCHED})" if self.partial else "1 = 1"

    def add_counts(self, table: sa.Table, columns: Sequence[str], select: str) -> None:
        """Add the counts ``select`` gives (its columns: ``columns``, then the count) to the
        counter table ``table``, keyed by ``columns``; rows left at 0 are deleted by
        :meth:`drop_zero_counts`. A first build just inserts them."""
        names = ", ".join([*columns, "leads"])
        target = self.table(table)
        if not self.partial:
            self.run(f"INSERT INTO {target} ({names}) {select}")
            return
        # SQLite needs the WHERE to tell the upsert's ON CONFLICT from a join's ON.
        self.run(
            f"INSERT INTO {target} AS t ({names}) SELECT * FROM ({select}) AS c WHERE 1 = 1 "
            f"ON CONFLICT ({', '.join(columns)}) DO UPDATE SET leads = t.leads + excluded.leads"
        )

    def drop_zero_counts(self, table: sa.Table) -> None:
        """Delete the counters a catch-up left at 0 (a first build writes none)."""
        if self.partial:
            self.run(f"DELETE FROM {self.table(table)} WHERE leads = 0")

    def forget(self, tables: Iterable[sa.Table]) -> None:
        """Delete the touched leads' rows from ``tables`` (each keyed by ``lead_id``)."""
        for table in tables:
            self.run(f"DELETE FROM {self.table(table)} WHERE {self.only('lead_id')}")

    def open_sealed(self, specs: Sequence[Sealed]) -> int:
        """Fill ``specs``' columns from the sealed values (see :func:`fill_sealed`)."""
        assert self.source is not None, "a build needs the log's source"
        return fill_sealed(self.conn, self.source, specs)

    def erase(self, table: sa.Table, columns: Sequence[str]) -> None:
        erase(self.conn, table, columns)


def _in(types: Iterable[str]) -> str:
    return ", ".join(f"'leadflow.lead:{t}'" for t in types)


def _sqlite_time(value: str) -> str:
    """Stored ISO text (any offset) as the read models' SQLite text: UTC, microseconds."""
    return (
        f"CASE WHEN {value} LIKE '%+00:00' AND length({value}) = 32 "
        f"THEN substr({value}, 1, 10) || ' ' || substr({value}, 12, 15) "
        f"WHEN {value} LIKE '%+00:00' AND length({value}) = 25 "
        f"THEN substr({value}, 1, 10) || ' ' || substr({value}, 12, 8) || '.000000' "
        f"WHEN {value} IS NOT NULL THEN strftime('%Y-%m-%d %H:%M:%S', {value}) || '.' || "
        f"CASE WHEN substr({value}, 20, 1) = '.' THEN substr({value}, 21, 6) ELSE '000000' END "
        "END"
    )


def _extract(sql: Sql, column: str, kind: str, path: str) -> str:
    if sql.postgres:
        *parents, last = path.split(".")
        value = "j" + "".join(f"->'{p}'" for p in parents) + f"->>'{last}'"
        if kind == _TIME:
            return f"({value})::timestamptz"
        return f"({value})::float8" if kind == _REAL else value
    value = f"json_extract(state, '$.{path}')"
    if kind == _TIME:
        return _sqlite_time(value)
    return value


def _category(sql: Sql) -> str:
    """``ActivityRecorded``'s category, upcast from version 1's ``kind``."""
    v1 = " ".join(f"WHEN '{k}' THEN '{c}'" for k, c in _CATEGORY_OF.items())
    if sql.postgres:
        return (
            f"CASE WHEN j->>'v' = '1' THEN CASE j->'data'->>'kind' {v1} END "
            "ELSE j->'data'->>'category' END"
        )
    return (
        "CASE WHEN json_extract(state, '$.v') = 1 THEN "
        f"CASE json_extract(state, '$.data.kind') {v1} END "
        "ELSE json_extract(state, '$.data.category') END"
    )


def build_log_table(conn: sa.Connection, source: LogSource, head: int, *, after: int = 0) -> None:
    """Create ``lf_log``: the lead events up to position ``head``, decoded as the read
    models need them, keyed by (lead, sequence).

    ``after`` (a catch-up): only the leads with an event after that position, each with
    its whole history up to ``head``; they are listed in :data:`TOUCHED`."""
    sql = Sql(conn)
    names = [name for name, *_ in _COLUMNS] + ["category"]
    kinds = {name: kind for name, kind, *_ in _COLUMNS} | {"category": _TEXT}
    types = {"text": "TEXT", "time": "TIMESTAMPTZ" if sql.postgres else "TEXT"}
    types["real"] = "DOUBLE PRECISION" if sql.postgres else "REAL"
    columns = ", ".join(f"{name} {types[kinds[name]]}" for name in names)
    values = []
    for name, kind, path, used_by in _COLUMNS:
        value = _extract(sql, name, kind if sql.postgres else _TEXT, path)
        values.append(
            value if used_by is None else f"CASE WHEN topic IN ({_in(used_by)}) THEN {value} END"
        )
    values.append(f"CASE WHEN topic = 'leadflow.lead:ActivityRecorded' THEN {_category(sql)} END")
    topics = ", ".join(f"'{t}'" for t in LEAD_TOPICS)
    sql.run(f"DROP TABLE IF EXISTS {LOG}")
    sql.run(f"DROP TABLE IF EXISTS {TOUCHED}")
    position = "notification_id" if sql.postgres else "rowid"
    events = f'"{source.schema}"."{source.table}"' if source.schema else f'"{source.table}"'
    o = "originator_id"
    # The rows read: every lead event up to ``head``, or (a catch-up) the new ones, by
    # position, and the earlier events of their leads, by the events' key.
    rows = (
        f"(SELECT {position} AS pos, {o}, originator_version, topic, state FROM {events} "
        f"WHERE {position} > {int(after)} AND {position} <= {int(head)} "
        f"UNION ALL SELECT {position}, {o}, originator_version, topic, state FROM {events} "
        f"WHERE {position} <= {int(after)} AND {o} IN (SELECT {o} FROM {events} "
        f"WHERE topic IN ({topics}) AND {position} > {int(after)} "
        f"AND {position} <= {int(head)})) AS r"
        if after
        else f"(SELECT {position} AS pos, {o}, originator_version, topic, state FROM {events} "
        f"WHERE {position} <= {int(head)}) AS r"
    )
    if sql.postgres:
        sql.run(
            f"CREATE TEMPORARY TABLE {LOG} (lead TEXT NOT NULL, seq BIGINT NOT NULL, "
            f"position BIGINT NOT NULL, type TEXT NOT NULL, {columns}) ON COMMIT DROP"
        )
        sql.run(
            f"INSERT INTO {LOG} SELECT originator_id::text, originator_version, pos, "
            f"substr(topic, 15), {', '.join(values)} FROM ("
            f"SELECT originator_id, originator_version, pos, topic, "
            f"convert_from(state, 'UTF8')::jsonb AS j FROM {rows} "
            f"WHERE topic IN ({topics}) OFFSET 0) AS e"
        )
        sql.run(f"ALTER TABLE {LOG} ADD PRIMARY KEY (lead, seq)")
        if after:
            sql.run(f"CREATE TEMPORARY TABLE {TOUCHED} (lead TEXT PRIMARY KEY) ON COMMIT DROP")
            sql.run(f"INSERT INTO {TOUCHED} SELECT DISTINCT lead FROM {LOG}")
            sql.run(f"ANALYZE {TOUCHED}")
        sql.run(f"ANALYZE {LOG}")
        return
    dashed = (
        f"CASE WHEN length({o}) = 32 THEN substr({o}, 1, 8) || '-' || substr({o}, 9, 4) || '-' "
        f"|| substr({o}, 13, 4) || '-' || substr({o}, 17, 4) || '-' || substr({o}, 21) "
        f"ELSE {o} END"
    )
    outer = [_sqlite_time(name) if kinds[name] == _TIME else name for name in names]
    inner = [f"{value} AS {name}" for name, value in zip(names, values, strict=True)]
    sql.run(
        f"CREATE TEMPORARY TABLE {LOG} (lead TEXT NOT NULL, seq INTEGER NOT NULL, "
        f"position INTEGER NOT NULL, type TEXT NOT NULL, {columns}, PRIMARY KEY (lead, seq)) "
        "WITHOUT ROWID"
    )
    # The OFFSET keeps SQLite from flattening the subquery, so each value is extracted once
    # (the outer query's time conversions read it several times).
    sql.run(
        f"INSERT INTO {LOG} SELECT {dashed}, originator_version, pos, substr(topic, 15), "
        f"{', '.join(outer)} FROM (SELECT pos, {o}, originator_version, topic, "
        f"{', '.join(inner)} FROM {rows} WHERE topic IN ({topics}) "
        "LIMIT -1 OFFSET 0) ORDER BY 1, 2"
    )
    if after:
        sql.run(f"CREATE TEMPORARY TABLE {TOUCHED} (lead TEXT PRIMARY KEY) WITHOUT ROWID")
        sql.run(f"INSERT INTO {TOUCHED} SELECT DISTINCT lead FROM {LOG}")


def drop_log_table(conn: sa.Connection) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {LOG}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TOUCHED}")


SEALED_WINDOW = 50_000
"""How many log positions :func:`fill_sealed` opens at a time: what it holds in memory is
one window's values, whatever the size of the log."""


def fill_sealed(conn: sa.Connection, source: LogSource, specs: Sequence[Sealed]) -> int:
    """Open the sealed values the built rows copy (see the module); returns how many events
    were decoded.

    The rows to fill are first listed inside the database (a temporary table per spec,
    indexed by position); they are then opened and written back one window of
    :data:`SEALED_WINDOW` positions at a time, so memory stays flat as the log grows."""
    sql = Sql(conn)
    staged: list[tuple[Sealed, str, list[str]]] = []
    bounds: list[tuple[int, int]] = []
    for index, spec in enumerate(specs):
        table_key, log_key = spec.key
        primary = [c.name for c in spec.table.primary_key.columns]
        name = f"lf_sealed_{index}"
        sql.run(f"DROP TABLE IF EXISTS {name}")
        sql.run(
            f"CREATE TEMPORARY TABLE {name} AS SELECT l.position AS position, "
            f"{', '.join('t.' + c for c in primary)} "
            f"FROM {LOG} l JOIN {sql.table(spec.table)} t "
            f"ON t.{table_key} = l.{log_key} WHERE l.type IN "
            f"({', '.join(repr(t) for t in spec.types)}) AND l.sealed IS NOT NULL "
            f"AND {sql.contains('l.sealed', spec.path)}"
        )
        sql.run(f"CREATE INDEX {name}_position ON {name} (position)")
        if sql.postgres:
            sql.run(f"ANALYZE {name}")
        lowest, highest = conn.exec_driver_sql(
            f"SELECT min(position), max(position) FROM {name}"
        ).one()
        if highest is not None:
            bounds.append((int(lowest), int(highest)))
        staged.append((spec, name, primary))
    opened = 0
    first = min((b for b, _ in bounds), default=0)
    last = max((t for _, t in bounds), default=-1)
    for low in range(first, last + 1, SEALED_WINDOW):
        wanted: dict[int, list[tuple[Sealed, tuple[Any, ...]]]] = {}
        for spec, name, primary in staged:
            rows = conn.exec_driver_sql(
                f"SELECT position, {', '.join(primary)} FROM {name} "
                f"WHERE position >= {low} AND position < {low + SEALED_WINDOW}"
            )
            for row in rows:
                wanted.setdefault(int(row[0]), []).append((spec, tuple(row[1:])))
        opened += _open_window(conn, sql, source, wanted)
    for _spec, name, _primary in staged:
        sql.run(f"DROP TABLE {name}")
    return opened


def _open_window(
    conn: sa.Connection,
    sql: Sql,
    source: LogSource,
    wanted: dict[int, list[tuple[Sealed, tuple[Any, ...]]]],
) -> int:
    """Decode the events at ``wanted``'s positions and write each value into its row."""
    if not wanted:
        return 0
    events = f'"{source.schema}"."{source.table}"' if source.schema else f'"{source.table}"'
    column = "notification_id" if sql.postgres else "rowid"
    updates: dict[tuple[sa.Table, str], list[tuple[Any, ...]]] = {}
    for chunk in chunked(sorted(wanted)):
        stored = conn.exec_driver_sql(
            f"SELECT {column}, originator_id, originator_version, topic, state FROM {events} "
            f"WHERE {column} IN ({', '.join(str(p) for p in chunk)}) ORDER BY {column}"
        ).all()
        source.mapper.prefetch([row[1] for row in stored])
        for position, originator, version, topic, state in stored:
            record = source.mapper.to_record(
                int(position),
                StoredEvent(
                    originator_id=originator,
                    originator_version=version,
                    topic=topic,
                    state=bytes(state),
                ),
            )
            for spec, key in wanted[int(position)]:
                value: Any = record.data
                for part in spec.path.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                updates.setdefault((spec.table, spec.column), []).append((value, *key))
    marker = "%s" if sql.postgres else "?"
    for (table, name), params in updates.items():
        where = " AND ".join(f"{c.name} = {marker}" for c in table.primary_key.columns)
        conn.exec_driver_sql(
            f"UPDATE {sql.table(table)} SET {name} = {marker} WHERE {where}", params
        )
    return len(wanted)


def erase(conn: sa.Connection, table: sa.Table, columns: Sequence[str]) -> None:
    """What :func:`~leadflow.projections.erasure.erase_columns` does per batch, for a
    build: the erased leads' copied free text reads ``[erased]``."""
    sql = Sql(conn)
    marker = "%s" if sql.postgres else "?"
    for name in columns:
        conn.exec_driver_sql(
            f"UPDATE {sql.table(table)} SET {name} = {marker} WHERE {name} IS NOT NULL AND "
            f"lead_id IN (SELECT lead FROM {LOG} WHERE type = 'PersonalDataErased')",
            (ERASED,),
        )
