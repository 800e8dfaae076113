"""Read model ``passes``: when each lead first passed each stage of the main path.

A lead *passes* a main-path stage when it first reaches that stage or any later one (a lead
captured into ``lead`` has passed ``subscriber``; one moved from ``mql`` to ``sql`` has
passed ``sal``). ``lf_passes`` has one row per lead and main-path stage it passed, with
the first such event's two times; within a lead both times only grow, so "had the lead
passed the stage by ``(T, K)``" is exactly ``first_at <= T AND first_recorded_at <= K``.

``lf_passes_daily`` counts those rows per stage, business day and recording day, so that
``passed`` over a million leads sums a few thousand rows (as ``lf_funnel_daily`` does for
``in_stage`` and ``reached``); ``lf_passes_path`` records the main path the rows were
built for. The main path is this projection's ``settings``: activating a pipeline with
another main path rebuilds it, and a funnel asked under another main path (a past
pipeline version) is answered by scanning ``lf_stage_reached`` instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa

from leadflow.projections._sql import (
    READ_MODELS,
    RowSet,
    Timestamp,
    by_lead,
    lead_ids_in,
    utc,
)
from leadflow.projections.log_table import LOG, Sql
from leadflow.projections.stage_history import STAGE_SETTING_TYPES
from leadflow.service.codec import EventRecord

__all__ = ["PASSES", "PASSES_DAILY", "PASSES_PATH", "Passes", "built_for"]

PASSES = sa.Table(
    "lf_passes",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("stage", sa.String(64), primary_key=True),
    sa.Column("first_at", Timestamp, nullable=False),
    sa.Column("first_recorded_at", Timestamp, nullable=False),
    sa.Column("first_position", sa.BigInteger, nullable=False),
    sa.Index("lf_passes_first_at", "first_at"),
    sa.Index("lf_passes_first_recorded_at", "first_recorded_at"),
)

PASSES_DAILY = sa.Table(
    "lf_passes_daily",
    READ_MODELS,
    sa.Column("stage", sa.String(64), primary_key=True),
    sa.Column("occurred_on", sa.Date, primary_key=True),
    sa.Column("recorded_on", sa.Date, primary_key=True),
    sa.Column("leads", sa.BigInteger, nullable=False),
)

PASSES_PATH = sa.Table(
    "lf_passes_path",
    READ_MODELS,
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("stage", sa.String(64), nullable=False),
)


_DAILY_KEY = ("stage", "occurred_on", "recorded_on")


class Passes:
    name = "passes"

    def __init__(self, main_path: Sequence[str] | None = None) -> None:
        if main_path is None:
            from leadflow.service.pipeline_files import default_pipeline

            main_path = default_pipeline().main_path
        self.main_path = list(main_path)
        self.settings = "main_path=" + ",".join(self.main_path)
        """What else the rows depend on; part of the fingerprint (see the runner)."""
        self.tables = [PASSES, PASSES_DAILY, PASSES_PATH]
        self._index = {stage: i for i, stage in enumerate(self.main_path)}

    def reset(self, conn: sa.Connection) -> None:
        for table in self.tables:
            conn.execute(table.delete())

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None:
        empty = sa.select(sa.func.count()).select_from(PASSES_PATH)
        if self.main_path and conn.execute(empty).scalar() == 0:
            conn.execute(
                PASSES_PATH.insert(),
                [{"position": i, "stage": s} for i, s in enumerate(self.main_path)],
            )
        index = self._index
        grouped = {
            lead: staged
            for lead, events in by_lead(records).items()
            if (staged := [r for r in events if r.type in STAGE_SETTING_TYPES])
        }
        if not grouped:
            return
        passes = RowSet(PASSES)
        for where in lead_ids_in(PASSES.c.lead_id, grouped):
            passes.load(conn, where)
        furthest: dict[str, int] = {}
        for lead_id, stage in passes.rows:
            furthest[lead_id] = max(furthest.get(lead_id, -1), index.get(stage, -1))
        daily: Counter[tuple[str, date, date]] = Counter()
        for lead_uuid, events in grouped.items():
            lead_id = str(lead_uuid)
            reached = furthest.get(lead_id, -1)
            for record in events:
                j = index.get(record.data["stage"], -1)
                if j <= reached:
                    continue
                at, recorded_at = utc(record.occurred_at), utc(record.recorded_at)
                for stage in self.main_path[reached + 1 : j + 1]:
                    passes.add(
                        {
                            "lead_id": lead_id,
                            "stage": stage,
                            "first_at": at,
                            "first_recorded_at": recorded_at,
                            "first_position": record.position,
                        }
                    )
                    daily[(stage, at.date(), recorded_at.date())] += 1
                reached = j
        passes.flush(conn)
        _add_daily(conn, daily)

    def build(self, sql: Sql) -> None:
        """:meth:`handle` of the whole log, in SQL over ``lf_log``: an event passes the
        main-path stages above the furthest one its lead had reached before it."""
        if not self.main_path:
            return
        if sql.conn.exec_driver_sql(f"SELECT 1 FROM {LOG} LIMIT 1").first() is None:
            return
        path_table = sql.table(PASSES_PATH)
        written = sql.partial and sql.conn.exec_driver_sql(f"SELECT 1 FROM {path_table}").first()
        if not written:
            sql.run(
                f"INSERT INTO {path_table} (position, stage) VALUES "
                + ", ".join(f"({i}, {_literal(s)})" for i, s in enumerate(self.main_path))
            )
        index = " ".join(f"WHEN {_literal(s)} THEN {i}" for i, s in enumerate(self.main_path))
        path = " UNION ALL ".join(
            f"SELECT {i} AS k, {_literal(s)} AS stage" for i, s in enumerate(self.main_path)
        )
        staged = ", ".join(f"'{t}'" for t in sorted(STAGE_SETTING_TYPES))
        passes = sql.table(PASSES)
        sql.run(
            f"INSERT INTO {passes} (lead_id, stage, first_at, first_recorded_at, first_position) "
            "SELECT r.lead, p.stage, r.at, r.rec, r.position FROM ("
            "SELECT lead, at, rec, position, j, COALESCE(max(j) OVER (PARTITION BY lead "
            "ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), -1) AS before "
            f"FROM (SELECT lead, seq, at, rec, position, CASE stage {index} ELSE -1 END AS j "
            f"FROM {LOG} WHERE type IN ({staged})) s) r "
            f"JOIN ({path}) p ON p.k > r.before AND p.k <= r.j"
        )
        sql.add_counts(PASSES_DAILY, _DAILY_KEY, self._counts(sql))
        sql.drop_zero_counts(PASSES_DAILY)

    def forget(self, sql: Sql) -> None:
        """Before a catch-up's :meth:`build` of the leads it touches: their rows go, and
        their counts are taken out of ``lf_passes_daily``."""
        sql.add_counts(PASSES_DAILY, _DAILY_KEY, self._counts(sql, sign="-"))
        sql.forget([PASSES])

    @staticmethod
    def _counts(sql: Sql, sign: str = "") -> str:
        return (
            f"SELECT stage, {sql.day('first_at')}, {sql.day('first_recorded_at')}, "
            f"{sign}count(*) FROM {sql.table(PASSES)} WHERE {sql.only('lead_id')} "
            "GROUP BY 1, 2, 3"
        )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _add_daily(conn: sa.Connection, counts: Counter[tuple[str, date, date]]) -> None:
    """Add ``counts`` to ``lf_passes_daily`` (counters commute across leads)."""
    t = PASSES_DAILY
    for (stage, on, recorded_on), n in counts.items():
        key = (t.c.stage == stage, t.c.occurred_on == on, t.c.recorded_on == recorded_on)
        updated = conn.execute(t.update().where(*key).values(leads=t.c.leads + n))
        if updated.rowcount == 0:
            conn.execute(
                t.insert().values(stage=stage, occurred_on=on, recorded_on=recorded_on, leads=n)
            )


def built_for(conn: sa.Connection) -> list[str]:
    """The main path ``lf_passes`` was built for (empty before any stage was reached)."""
    return list(
        conn.execute(sa.select(PASSES_PATH.c.stage).order_by(PASSES_PATH.c.position)).scalars()
    )
