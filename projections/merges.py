"""Read model ``merges``: the periods during which a lead was merged into another.

``lf_merge_periods`` has one row per ``LeadMerged`` (recorded on the duplicate), closed by
the ``LeadUnmerged`` that undid it. Each end has both times, business (``*_at``) and
recording (``*_recorded_at``): a lead is a merged duplicate at ``(T, K)`` exactly when a
period's merge counts there (``merged_at <= T`` and ``merged_recorded_at <= K``) and its
unmerge does not. The funnel leaves such leads out (a duplicate is not a person) and
counts them again from their unmerge on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from leadflow.projections._sql import READ_MODELS, RowSet, Timestamp, by_lead, lead_ids_in, utc
from leadflow.projections.log_table import LOG, Sql
from leadflow.service.codec import EventRecord

__all__ = ["MERGE_PERIODS", "Merges", "merged_at"]

MERGE_PERIODS = sa.Table(
    "lf_merge_periods",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("merged_sequence", sa.Integer, primary_key=True),
    sa.Column("into_lead_id", sa.String(36), nullable=False),
    sa.Column("merged_at", Timestamp, nullable=False),
    sa.Column("merged_recorded_at", Timestamp, nullable=False),
    sa.Column("unmerged_sequence", sa.Integer),
    sa.Column("unmerged_at", Timestamp),
    sa.Column("unmerged_recorded_at", Timestamp),
)

_TYPES = frozenset({"LeadMerged", "LeadUnmerged"})


class Merges:
    name = "merges"
    tables = [MERGE_PERIODS]

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(MERGE_PERIODS.delete())

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None:
        grouped = {
            lead: [r for r in events if r.type in _TYPES]
            for lead, events in by_lead(records).items()
        }
        grouped = {lead: events for lead, events in grouped.items() if events}
        if not grouped:
            return
        periods = RowSet(MERGE_PERIODS)
        for where in lead_ids_in(MERGE_PERIODS.c.lead_id, grouped):
            periods.load(conn, sa.and_(where, MERGE_PERIODS.c.unmerged_sequence.is_(None)))
        open_by_lead: dict[str, dict[str, Any]] = {
            row["lead_id"]: row for row in periods.rows.values()
        }
        for lead_uuid, events in grouped.items():
            lead_id = str(lead_uuid)
            for record in events:
                if record.type == "LeadMerged":
                    open_by_lead[lead_id] = periods.add(
                        {
                            "lead_id": lead_id,
                            "merged_sequence": record.sequence,
                            "into_lead_id": str(record.data["into_lead_id"]),
                            "merged_at": utc(record.occurred_at),
                            "merged_recorded_at": utc(record.recorded_at),
                            "unmerged_sequence": None,
                            "unmerged_at": None,
                            "unmerged_recorded_at": None,
                        }
                    )
                    continue
                row = open_by_lead.pop(lead_id, None)
                if row is None:  # an unmerge without its merge: nothing to close
                    continue
                row.update(
                    unmerged_sequence=record.sequence,
                    unmerged_at=utc(record.occurred_at),
                    unmerged_recorded_at=utc(record.recorded_at),
                )
                periods.touch(row)
        periods.flush(conn)

    def forget(self, sql: Sql) -> None:
        """Before a catch-up's :meth:`build` of the leads it touches: their rows go."""
        sql.forget(self.tables)

    def build(self, sql: Sql) -> None:
        """:meth:`handle` of the whole log, in SQL: a merge is closed by the unmerge that
        follows it, if no other merge comes first."""
        sql.run(
            f"INSERT INTO {sql.table(MERGE_PERIODS)} (lead_id, merged_sequence, into_lead_id, "
            "merged_at, merged_recorded_at, unmerged_sequence, unmerged_at, unmerged_recorded_at) "
            "SELECT lead, seq, into_lead, at, rec, "
            "CASE WHEN n_type = 'LeadUnmerged' THEN n_seq END, "
            "CASE WHEN n_type = 'LeadUnmerged' THEN n_at END, "
            "CASE WHEN n_type = 'LeadUnmerged' THEN n_rec END FROM ("
            "SELECT lead, seq, type, into_lead, at, rec, LEAD(type) OVER w AS n_type, "
            "LEAD(seq) OVER w AS n_seq, LEAD(at) OVER w AS n_at, LEAD(rec) OVER w AS n_rec "
            f"FROM {LOG} WHERE type IN ('LeadMerged', 'LeadUnmerged') "
            "WINDOW w AS (PARTITION BY lead ORDER BY seq)) m WHERE type = 'LeadMerged'"
        )


def merged_at(lead_id: sa.ColumnElement[Any], counts: Any, not_yet: Any) -> sa.ColumnElement[bool]:
    """``EXISTS`` a merge period of ``lead_id`` open at the instant.

    ``counts(at, recorded)`` / ``not_yet(at, recorded)``: whether an event with these
    times counts at the instant (see :mod:`leadflow.projections.funnel`).
    """
    m = MERGE_PERIODS
    return (
        sa.select(sa.literal(1))
        .where(
            m.c.lead_id == lead_id,
            counts(m.c.merged_at, m.c.merged_recorded_at),
            not_yet(m.c.unmerged_at, m.c.unmerged_recorded_at),
        )
        .exists()
    )
