"""Read model ``deals`` and ``leadflow report revenue``: won amounts, open pipeline value.

``lf_deal_events`` has one row per deal event of a lead: ``expected`` (``LeadConverted``
with its ``amount``, the expected deal value), ``won`` (``DealWon``: ``amount``,
``currency``) and ``lost`` (``DealLost``), each with both times.

As of ``T`` (as known at ``K``), over live leads (merged duplicates left out):

* **won**: the ``DealWon`` events that count, by UTC month of ``occurred_at`` and currency
  (a deal won without an amount counts as a deal, adds nothing to the amount);
* **pipeline**: each lead whose latest counting deal event is an ``expected`` one (converted,
  not yet won or lost), its amount summed by the lead's stage at ``T``. ``LeadConverted``
  records no currency: pipeline amounts are as recorded.

A capture cohort (``--cohort-from/--cohort-to``) keeps the deals of the leads captured in its
days.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadflow.domain.pipeline import Pipeline
from leadflow.projections._sql import READ_MODELS, RowSet, Timestamp, as_utc, by_lead, utc
from leadflow.projections.funnel import (
    FunnelQuery,
    _known,
    _live,
    _not_yet,
    in_cohort,
    query_json,
)
from leadflow.projections.log_table import LOG, Sql
from leadflow.projections.stage_history import STAGE_INTERVALS
from leadflow.service.codec import EventRecord

__all__ = ["DEAL_EVENTS", "Deals", "Revenue", "revenue", "revenue_from_deals", "revenue_json"]

NO_CURRENCY = "(none)"

DEAL_EVENTS = sa.Table(
    "lf_deal_events",
    READ_MODELS,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("amount", sa.Float),
    sa.Column("currency", sa.String(3)),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.Index("lf_deal_events_at", "at"),
)

KINDS = {"LeadConverted": "expected", "DealWon": "won", "DealLost": "lost"}


class Deals:
    name = "deals"
    tables = [DEAL_EVENTS]

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(DEAL_EVENTS.delete())

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None:
        rows = RowSet(DEAL_EVENTS)
        for lead_id, events in by_lead(records).items():
            for record in events:
                kind = KINDS.get(record.type)
                if kind is None:
                    continue
                amount = record.data.get("amount")
                rows.add(
                    {
                        "lead_id": str(lead_id),
                        "sequence": record.sequence,
                        "kind": kind,
                        "amount": float(amount) if amount is not None else None,
                        "currency": record.data.get("currency"),
                        "at": utc(record.occurred_at),
                        "recorded_at": utc(record.recorded_at),
                    }
                )
        rows.flush(conn)

    def forget(self, sql: Sql) -> None:
        """Before a catch-up's :meth:`build` of the leads it touches: their rows go."""
        sql.forget(self.tables)

    def build(self, sql: Sql) -> None:
        """:meth:`handle` of the whole log, in SQL."""
        kinds = " ".join(f"WHEN '{t}' THEN '{k}'" for t, k in KINDS.items())
        sql.run(
            f"INSERT INTO {sql.table(DEAL_EVENTS)} (lead_id, sequence, kind, amount, currency, "
            f"at, recorded_at) SELECT lead, seq, CASE type {kinds} END, amount, currency, at, rec "
            f"FROM {LOG} WHERE type IN ({', '.join(repr(t) for t in KINDS)})"
        )


@dataclass(frozen=True)
class Revenue:
    won_by_month: list[tuple[str, str, int, float]]
    """(month ``YYYY-MM``, currency, deals, amount), sorted."""
    pipeline_by_stage: list[tuple[str, int, float]]
    """(stage, deals, amount) in pipeline order, stages with an open deal only."""


def revenue_from_deals(
    pipeline: Pipeline,
    deals: Iterable[tuple[str, int, str, float | None, str | None, datetime]],
    stage_of: dict[str, str],
) -> Revenue:
    """``deals``: (lead, sequence, kind, amount, currency, at) of live leads, counting at T;
    ``stage_of``: each such lead's stage at T."""
    won: dict[tuple[str, str], list[float]] = {}
    latest: dict[str, tuple[int, str, float | None]] = {}
    for lead, sequence, kind, amount, currency, at in deals:
        if kind == "won":
            month = f"{at.year:04d}-{at.month:02d}"
            cell = won.setdefault((month, currency or NO_CURRENCY), [0, 0.0])
            cell[0] += 1
            cell[1] += amount or 0.0
        if lead not in latest or sequence > latest[lead][0]:
            latest[lead] = (sequence, kind, amount)
    open_by_stage: dict[str, list[float]] = {}
    for lead, (_, kind, amount) in latest.items():
        if kind == "expected" and lead in stage_of:
            cell = open_by_stage.setdefault(stage_of[lead], [0, 0.0])
            cell[0] += 1
            cell[1] += amount or 0.0
    return Revenue(
        [(m, c, int(n), round(a, 2)) for (m, c), (n, a) in sorted(won.items())],
        [
            (stage, int(open_by_stage[stage][0]), round(open_by_stage[stage][1], 2))
            for stage in pipeline.stages
            if stage in open_by_stage
        ],
    )


def revenue(conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery) -> Revenue:
    """Won amounts by month and open pipeline value by stage (see the module)."""
    d, i = DEAL_EVENTS, STAGE_INTERVALS
    deal_rows = sa.select(
        d.c.lead_id, d.c.sequence, d.c.kind, d.c.amount, d.c.currency, d.c.at
    ).where(_known(d.c.at, d.c.recorded_at, q), _live(d.c.lead_id, q))
    rows: Any = conn.execute(in_cohort(deal_rows.select_from(d), d.c.lead_id, q))
    deals = [(str(a), int(b), str(c), e, f, as_utc(g)) for a, b, c, e, f, g in rows]
    leads = sorted({deal[0] for deal in deals})
    stage_of: dict[str, str] = {}
    for start in range(0, len(leads), 500):
        chunk = leads[start : start + 500]
        for lead, stage in conn.execute(
            sa.select(i.c.lead_id, i.c.stage).where(
                i.c.lead_id.in_(chunk),
                _known(i.c.entered_at, i.c.entered_recorded_at, q),
                _not_yet(i.c.exited_at, i.c.exited_recorded_at, q),
            )
        ):
            stage_of[str(lead)] = str(stage)
    return revenue_from_deals(pipeline, deals, stage_of)  # type: ignore[arg-type]


def revenue_json(q: FunnelQuery, result: Revenue) -> dict[str, Any]:
    """The documented ``leadflow report revenue --json`` shape."""
    return {
        **query_json(q),
        "won_by_month": [
            {"month": m, "currency": c, "deals": n, "amount": a}
            for m, c, n, a in result.won_by_month
        ],
        "pipeline_by_stage": [
            {"stage": s, "deals": n, "amount": a} for s, n, a in result.pipeline_by_stage
        ],
    }
