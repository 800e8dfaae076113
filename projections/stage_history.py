"""Read model ``stage_history``: every period each lead spent in each stage.

``lf_stage_intervals`` has one row per stage-setting event (the capture, each
``StageChanged``): the stage, when the lead entered it and when it left, each in
business time (``*_at``, the event's ``occurred_at``) AND recording time
(``*_recorded_at``). Both are needed for "as known at" questions: a late, backdated
event can close an interval in business time long after the interval was recorded,
so on an earlier recording date that interval was still open.

``lf_stage_reached`` has one row per lead and stage it ever entered, with the first
entry. Within a lead, events are recorded in order and never backdated past each
other, so the first entry is the earliest in both times: a lead had reached a stage
by ``(as_of, as_known_at)`` exactly when this row's two times are within them.

``lf_funnel_daily`` counts entries, exits and first entries per stage, day and recording
day, so that a funnel over a million leads sums a few thousand rows.

``lf_stage_cursor`` is bookkeeping: per lead, the open interval and the last event a
person (not an automation rule) recorded, which is named as the cause of an
automatic stage change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from leadflow.projections._sql import (
    READ_MODELS,
    RowSet,
    Timestamp,
    as_utc,
    by_lead,
    iso,
    lead_ids_in,
    utc,
)
from leadflow.projections.erasure import erase_columns
from leadflow.projections.log_table import LOG, Sealed, Sql
from leadflow.service.codec import EventRecord, event_id

__all__ = [
    "FUNNEL_DAILY",
    "STAGE_CURSOR",
    "STAGE_INTERVALS",
    "STAGE_REACHED",
    "STAGE_SETTING_TYPES",
    "StageHistory",
    "add_daily",
    "lead_history",
]

STAGE_SETTING_TYPES = frozenset({"LeadCaptured", "StageChanged"})
_STAGED = tuple(sorted(STAGE_SETTING_TYPES))

STAGE_INTERVALS = sa.Table(
    "lf_stage_intervals",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("entered_sequence", sa.Integer, primary_key=True),
    sa.Column("stage", sa.String(64), nullable=False),
    sa.Column("entered_at", Timestamp, nullable=False),
    sa.Column("entered_recorded_at", Timestamp, nullable=False),
    sa.Column("exited_at", Timestamp),
    sa.Column("exited_recorded_at", Timestamp),
    sa.Column("next_stage", sa.String(64)),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("entered_position", sa.BigInteger, nullable=False),
    sa.Column("entered_event_type", sa.String(64), nullable=False),
    sa.Column("entered_by", sa.Text, nullable=False),
    sa.Column("rule", sa.Text),
    sa.Column("reason", sa.Text),
    # The events' ids are not stored: ``event_id(lead_id, sequence)`` gives them.
    sa.Column("cause_sequence", sa.Integer),
    sa.Column("cause_event_type", sa.String(64)),
    sa.Column("exited_sequence", sa.Integer),
    sa.Column("exited_position", sa.BigInteger),
    # One-day windows of the funnel (see FUNNEL_DAILY) are read through these.
    sa.Index("lf_stage_intervals_entered_at", "entered_at"),
    sa.Index("lf_stage_intervals_entered_recorded_at", "entered_recorded_at"),
    sa.Index("lf_stage_intervals_exited_at", "exited_at"),
    sa.Index("lf_stage_intervals_exited_recorded_at", "exited_recorded_at"),
)

STAGE_REACHED = sa.Table(
    "lf_stage_reached",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("stage", sa.String(64), primary_key=True),
    sa.Column("first_entered_at", Timestamp, nullable=False),
    sa.Column("first_entered_recorded_at", Timestamp, nullable=False),
    sa.Column("first_entered_position", sa.BigInteger, nullable=False),
    sa.Index("lf_stage_reached_at", "first_entered_at"),
    sa.Index("lf_stage_reached_recorded_at", "first_entered_recorded_at"),
)

FUNNEL_DAILY = sa.Table(
    "lf_funnel_daily",
    READ_MODELS,
    sa.Column("stage", sa.String(64), primary_key=True),
    sa.Column("measure", sa.String(8), primary_key=True),
    sa.Column("occurred_on", sa.Date, primary_key=True),
    sa.Column("recorded_on", sa.Date, primary_key=True),
    sa.Column("leads", sa.BigInteger, nullable=False),
)
"""How many stage entries (``enter``), exits (``exit``) and first entries (``reach``)
happened on each UTC day, by the day they were recorded: the funnel's whole days are
sums over this small table, and only the partial days at its edges read the intervals."""

_DAILY_KEY = ("stage", "measure", "occurred_on", "recorded_on")

STAGE_CURSOR = sa.Table(
    "lf_stage_cursor",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("open_sequence", sa.Integer),
    sa.Column("last_manual_sequence", sa.Integer),
    sa.Column("last_manual_type", sa.String(64)),
)


class StageHistory:
    name = "stage_history"
    tables = [STAGE_INTERVALS, STAGE_REACHED, STAGE_CURSOR, FUNNEL_DAILY]
    version = 3
    """2: an erased lead's reasons read ``[erased]``; 3: event ids derived, not stored."""

    def reset(self, conn: sa.Connection) -> None:
        for table in self.tables:
            conn.execute(table.delete())

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None:
        grouped = by_lead(records)
        cursors, intervals, reached = (
            RowSet(STAGE_CURSOR),
            RowSet(STAGE_INTERVALS),
            RowSet(STAGE_REACHED),
        )
        for where in lead_ids_in(STAGE_CURSOR.c.lead_id, grouped):
            cursors.load(conn, where)
        staged = [lead for lead, events in grouped.items() if _sets_stage(events)]
        for where in lead_ids_in(STAGE_INTERVALS.c.lead_id, staged):
            intervals.load(conn, sa.and_(where, STAGE_INTERVALS.c.exited_sequence.is_(None)))
        for where in lead_ids_in(STAGE_REACHED.c.lead_id, staged):
            reached.load(conn, where)
        daily: Counter[tuple[str, str, date, date]] = Counter()

        for lead_uuid, events in grouped.items():
            lead_id = str(lead_uuid)
            cursor = cursors.rows.get((lead_id,))
            if cursor is None:
                cursor = cursors.add(
                    {
                        "lead_id": lead_id,
                        "open_sequence": None,
                        "last_manual_sequence": None,
                        "last_manual_type": None,
                    }
                )
            else:
                cursors.touch(cursor)
            for record in events:
                if record.type in STAGE_SETTING_TYPES:
                    self._enter(record, lead_id, cursor, intervals, reached, daily)
                if record.data.get("rule") is None:
                    cursor["last_manual_sequence"] = record.sequence
                    cursor["last_manual_type"] = record.type
        cursors.flush(conn)
        intervals.flush(conn)
        reached.flush(conn)
        add_daily(conn, daily)
        erase_columns(conn, STAGE_INTERVALS, ("reason",), records)

    sealed = [
        Sealed(STAGE_INTERVALS, "reason", ("entered_position", "position"), _STAGED, "reason")
    ]
    """Columns copied from a personal value: opened after a :meth:`build`."""

    def build(self, sql: Sql) -> None:
        """:meth:`handle` of the whole log, in SQL over ``lf_log`` (see
        :mod:`~leadflow.projections.log_table`); the property tests hold the two equal."""
        staged = ", ".join(f"'{t}'" for t in _STAGED)
        intervals, reached = sql.table(STAGE_INTERVALS), sql.table(STAGE_REACHED)
        # Each stage-setting event opens an interval; the next one closes it. An automatic
        # change names the last event a person recorded before it as its cause.
        sql.run(
            f"INSERT INTO {intervals} (lead_id, entered_sequence, stage, entered_at, "
            "entered_recorded_at, exited_at, exited_recorded_at, next_stage, kind, "
            "entered_position, entered_event_type, entered_by, rule, reason, cause_sequence, "
            "cause_event_type, exited_sequence, exited_position) "
            "SELECT s.lead, s.seq, s.stage, s.at, s.rec, s.x_at, s.x_rec, s.x_stage, "
            "COALESCE(NULLIF(s.kind, ''), 'capture'), s.position, s.type, s.actor, s.rule, "
            "s.reason, c.seq, c.type, s.x_seq, s.x_position FROM ("
            "SELECT lead, seq, stage, at, rec, kind, position, type, actor, rule, reason, "
            "LEAD(seq) OVER w AS x_seq, LEAD(position) OVER w AS x_position, "
            "LEAD(at) OVER w AS x_at, LEAD(rec) OVER w AS x_rec, LEAD(stage) OVER w AS x_stage, "
            f"CASE WHEN rule IS NOT NULL THEN (SELECT m.seq FROM {LOG} m WHERE m.lead = l.lead "
            "AND m.seq < l.seq AND m.rule IS NULL ORDER BY m.seq DESC LIMIT 1) END AS cause "
            f"FROM {LOG} l WHERE type IN ({staged}) "
            "WINDOW w AS (PARTITION BY lead ORDER BY seq)) s "
            f"LEFT JOIN {LOG} c ON c.lead = s.lead AND c.seq = s.cause"
        )
        sql.run(
            f"INSERT INTO {reached} (lead_id, stage, first_entered_at, first_entered_recorded_at, "
            "first_entered_position) SELECT lead, stage, at, rec, position FROM ("
            "SELECT lead, stage, at, rec, position, "
            "ROW_NUMBER() OVER (PARTITION BY lead, stage ORDER BY seq) AS n "
            f"FROM {LOG} WHERE type IN ({staged})) r WHERE n = 1"
        )
        sql.run(
            f"INSERT INTO {sql.table(STAGE_CURSOR)} (lead_id, open_sequence, "
            "last_manual_sequence, last_manual_type) SELECT g.lead, g.open, g.manual, m.type "
            f"FROM (SELECT lead, max(CASE WHEN type IN ({staged}) THEN seq END) AS open, "
            "max(CASE WHEN rule IS NULL THEN seq END) AS manual "
            f"FROM {LOG} GROUP BY lead) g "
            f"LEFT JOIN {LOG} m ON m.lead = g.lead AND m.seq = g.manual"
        )
        sql.add_counts(FUNNEL_DAILY, _DAILY_KEY, self._counts(sql))
        sql.drop_zero_counts(FUNNEL_DAILY)
        sql.open_sealed(self.sealed)
        sql.erase(STAGE_INTERVALS, ("reason",))

    def forget(self, sql: Sql) -> None:
        """Before a catch-up's :meth:`build` of the leads it touches: their rows go, and
        their counts are taken out of ``lf_funnel_daily``."""
        sql.add_counts(FUNNEL_DAILY, _DAILY_KEY, self._counts(sql, sign="-"))
        sql.forget([STAGE_INTERVALS, STAGE_REACHED, STAGE_CURSOR])

    @staticmethod
    def _counts(sql: Sql, sign: str = "") -> str:
        """The built leads' entries, exits and first entries per stage and day."""
        day, intervals, reached = sql.day, sql.table(STAGE_INTERVALS), sql.table(STAGE_REACHED)
        lead = sql.only("lead_id")
        return (
            f"SELECT stage, 'enter', {day('entered_at')}, {day('entered_recorded_at')}, "
            f"{sign}count(*) FROM {intervals} WHERE {lead} GROUP BY 1, 2, 3, 4 "
            f"UNION ALL SELECT stage, 'exit', {day('exited_at')}, {day('exited_recorded_at')}, "
            f"{sign}count(*) FROM {intervals} WHERE exited_sequence IS NOT NULL AND {lead} "
            "GROUP BY 1, 2, 3, 4 "
            f"UNION ALL SELECT stage, 'reach', {day('first_entered_at')}, "
            f"{day('first_entered_recorded_at')}, {sign}count(*) FROM {reached} WHERE {lead} "
            "GROUP BY 1, 2, 3, 4"
        )

    @staticmethod
    def _enter(
        record: EventRecord,
        lead_id: str,
        cursor: dict[str, Any],
        intervals: RowSet,
        reached: RowSet,
        daily: Counter[tuple[str, str, date, date]],
    ) -> None:
        data = record.data
        stage = data["stage"]
        at, recorded_at = utc(record.occurred_at), utc(record.recorded_at)
        on, recorded_on = at.date(), recorded_at.date()
        daily[(stage, "enter", on, recorded_on)] += 1
        open_interval = intervals.rows.get((lead_id, cursor["open_sequence"]))
        if open_interval is not None:
            daily[(open_interval["stage"], "exit", on, recorded_on)] += 1
            open_interval.update(
                exited_at=at,
                exited_recorded_at=recorded_at,
                next_stage=stage,
                exited_sequence=record.sequence,
                exited_position=record.position,
            )
            intervals.touch(open_interval)
        automatic = data.get("rule") is not None and cursor["last_manual_sequence"] is not None
        intervals.add(
            {
                "lead_id": lead_id,
                "entered_sequence": record.sequence,
                "stage": stage,
                "entered_at": at,
                "entered_recorded_at": recorded_at,
                "exited_at": None,
                "exited_recorded_at": None,
                "next_stage": None,
                "kind": data.get("kind") or "capture",
                "entered_position": record.position,
                "entered_event_type": record.type,
                "entered_by": record.actor,
                "rule": data.get("rule"),
                "reason": data.get("reason"),
                "cause_sequence": cursor["last_manual_sequence"] if automatic else None,
                "cause_event_type": cursor["last_manual_type"] if automatic else None,
                "exited_sequence": None,
                "exited_position": None,
            }
        )
        cursor["open_sequence"] = record.sequence
        if (lead_id, stage) not in reached.rows:
            daily[(stage, "reach", on, recorded_on)] += 1
            reached.add(
                {
                    "lead_id": lead_id,
                    "stage": stage,
                    "first_entered_at": at,
                    "first_entered_recorded_at": recorded_at,
                    "first_entered_position": record.position,
                }
            )


def add_daily(conn: sa.Connection, counts: Counter[tuple[str, str, date, date]]) -> None:
    """Add ``counts`` to ``lf_funnel_daily`` (an upsert: counters commute across leads)."""
    if not counts:
        return
    rows = [
        {"stage": stage, "measure": measure, "occurred_on": on, "recorded_on": rec, "leads": n}
        for (stage, measure, on, rec), n in counts.items()
    ]
    t = FUNNEL_DAILY
    if conn.dialect.name in ("sqlite", "postgresql"):
        module = sqlite if conn.dialect.name == "sqlite" else postgresql
        stmt = module.insert(t)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[c.name for c in t.primary_key.columns],
                set_={"leads": t.c.leads + stmt.excluded.leads},
            ),
            rows,
        )
        return
    for row in rows:  # any other database: update, else insert
        key = [
            t.c[name] == row[name] for name in ("stage", "measure", "occurred_on", "recorded_on")
        ]
        if (
            conn.execute(t.update().where(*key).values(leads=t.c.leads + row["leads"])).rowcount
            == 0
        ):
            conn.execute(t.insert().values(row))


def _sets_stage(events: list[EventRecord]) -> bool:
    return any(record.type in STAGE_SETTING_TYPES for record in events)


# -- queries --------------------------------------------------------------------------------


def lead_history(conn: sa.Connection, lead_id: UUID, now: datetime) -> dict[str, Any]:
    """The documented JSON shape of ``leadflow history LEAD --json``.

    Each interval lists the owners during it (from ``lf_ownership``); an open
    interval's duration runs to ``now``.
    """
    from leadflow.projections.leads import OWNERSHIP

    i, o = STAGE_INTERVALS, OWNERSHIP
    rows = conn.execute(
        sa.select(i).where(i.c.lead_id == str(lead_id)).order_by(i.c.entered_sequence)
    ).mappings()
    periods = [
        (as_utc(p.started_at), as_utc(p.ended_at), p.owner)
        for p in conn.execute(
            sa.select(o.c.started_at, o.c.ended_at, o.c.owner)
            .where(o.c.lead_id == str(lead_id))
            .order_by(o.c.started_sequence)
        )
    ]
    intervals = []
    for row in rows:
        entered, exited = as_utc(row["entered_at"]), as_utc(row["exited_at"])
        assert entered is not None
        end = exited or now
        owners = [
            owner
            for start, stop, owner in periods
            if start is not None and start < end and (stop is None or stop > entered)
        ]
        owner_at_entry = next(
            (
                owner
                for start, stop, owner in reversed(periods)
                if start is not None and start <= entered and (stop is None or stop > entered)
            ),
            None,
        )
        intervals.append(
            {
                "stage": row["stage"],
                "entered_at": entered.isoformat(),
                "exited_at": exited.isoformat() if exited else None,
                "duration_seconds": (end - entered).total_seconds(),
                "open": exited is None,
                "owner": owner_at_entry,
                "owners": list(dict.fromkeys(owners)),
                "kind": row["kind"],
                "next_stage": row["next_stage"],
                "entered_by": row["entered_by"],
                "rule": row["rule"],
                "reason": row["reason"],
                "events": {
                    "entered": {
                        "id": str(event_id(lead_id, row["entered_sequence"])),
                        "position": row["entered_position"],
                        "type": row["entered_event_type"],
                        "recorded_at": iso(row["entered_recorded_at"]),
                    },
                    "cause": (
                        {
                            "id": str(event_id(lead_id, row["cause_sequence"])),
                            "type": row["cause_event_type"],
                        }
                        if row["cause_sequence"] is not None
                        else None
                    ),
                    "exited": (
                        {
                            "id": str(event_id(lead_id, row["exited_sequence"])),
                            "position": row["exited_position"],
                            "recorded_at": iso(row["exited_recorded_at"]),
                        }
                        if row["exited_sequence"] is not None
                        else None
                    ),
                },
            }
        )
    return {"lead_id": str(lead_id), "intervals": intervals}
