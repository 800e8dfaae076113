"""``leadflow report sources``: conversion and won revenue by source, campaign or dimension.

Per group of ``--by`` (``source`` by default; any of
:meth:`~leadflow.domain.pipeline.Pipeline.groupings`: ``campaign``, a reporting dimension,
…), as of ``T`` and as known at ``K``, over live leads (merged duplicates count nowhere):

* the funnel of the group's leads: ``passed`` and ``conversion_to_next`` of each main-path
  stage, exactly as ``funnel --by`` counts them (:func:`~leadflow.projections.funnel.funnel_by`,
  the same code), and the group's live leads;
* **won**: the ``DealWon`` events of the group's leads that count, per currency (deals and
  amount), summed from :func:`~leadflow.projections.revenue.revenue_from_deals` (the function
  behind ``report revenue``). ``--period`` keeps the deals won on those UTC days.

A lead is in the group it is in at ``T`` (its source and campaign as captured, its
dimension's value at ``T``), and its wins count there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from leadflow.domain.pipeline import Pipeline
from leadflow.projections._sql import as_utc
from leadflow.projections.funnel import (
    FunnelQuery,
    _grouped,
    _known,
    _live,
    funnel_by,
    live_leads,
    query_json,
)
from leadflow.projections.reference import FunnelRow
from leadflow.projections.revenue import DEAL_EVENTS, Revenue, revenue_from_deals
from leadflow.projections.velocity import _window

__all__ = ["SourceRow", "source_report", "source_report_json", "source_rows", "won_by_currency"]

Deal = tuple[str, int, str, float | None, str | None, datetime]
"""(lead, sequence, kind, amount, currency, at): what ``revenue_from_deals`` reads."""


@dataclass(frozen=True)
class SourceRow:
    key: str
    """The group (``(none)`` for leads without a value)."""
    live_leads: int
    stages: list[FunnelRow]
    """The main-path stages of the funnel, in path order."""
    won: list[tuple[str, int, float]]
    """(currency, deals, amount), sorted by currency."""


def won_by_currency(revenue: Revenue) -> list[tuple[str, int, float]]:
    """``report revenue``'s won deals summed over the months, per currency."""
    totals: dict[str, list[float]] = {}
    for _, currency, deals, amount in revenue.won_by_month:
        cell = totals.setdefault(currency, [0, 0.0])
        cell[0] += deals
        cell[1] += amount
    return [(c, int(n), round(a, 2)) for c, (n, a) in sorted(totals.items())]


def source_rows(
    pipeline: Pipeline,
    groups: Iterable[tuple[str, list[FunnelRow]]],
    live: dict[str, int],
    deals: dict[str, list[Deal]],
) -> list[SourceRow]:
    """The report from the funnel per group, the live leads per group and each group's
    deals (shared by the read models' answer and the oracle's)."""
    result = []
    for key, rows in groups:
        by_stage = {row.stage: row for row in rows}
        result.append(
            SourceRow(
                key,
                live.get(key, 0),
                [by_stage[stage] for stage in pipeline.main_path],
                won_by_currency(revenue_from_deals(pipeline, deals.get(key, []), {})),
            )
        )
    return result


def source_report(
    conn: sa.Connection,
    pipeline: Pipeline,
    q: FunnelQuery,
    by: str = "source",
    period: tuple[date, date] | None = None,
) -> list[SourceRow]:
    """Per group of ``by``, sorted by key (see the module); ``by`` is checked by the caller
    (:meth:`~leadflow.domain.pipeline.Pipeline.check_grouping`)."""
    d = DEAL_EVENTS
    select = sa.select(d.c.lead_id, d.c.sequence, d.c.kind, d.c.amount, d.c.currency, d.c.at)
    select = select.where(
        d.c.kind == "won", _known(d.c.at, d.c.recorded_at, q), _live(d.c.lead_id, q)
    )
    window = _window(period)
    if window is not None:
        select = select.where(d.c.at >= window[0], d.c.at < window[1])
    select, key = _grouped(select.select_from(d), d.c.lead_id, q, by)
    deals: dict[str, list[Deal]] = {}
    rows: Any = conn.execute(select.add_columns(key.label("key")))
    for lead, sequence, kind, amount, currency, at, name in rows:
        at_utc = as_utc(at)
        assert at_utc is not None
        deal = (str(lead), int(sequence), str(kind), amount, currency, at_utc)
        deals.setdefault(str(name), []).append(deal)
    groups = funnel_by(conn, pipeline, q, by)
    return source_rows(pipeline, groups, live_leads(conn, q, by), deals)


def source_report_json(
    q: FunnelQuery, by: str, period: tuple[date, date] | None, rows: Iterable[SourceRow]
) -> dict[str, Any]:
    """The documented ``leadflow report sources --json`` shape."""
    return {
        **query_json(q),
        "by": by,
        "period": [period[0].isoformat(), period[1].isoformat()] if period else None,
        "groups": [
            {
                "key": row.key,
                "live_leads": row.live_leads,
                "stages": [
                    {
                        "stage": stage.stage,
                        "passed": stage.passed,
                        "conversion_to_next": stage.conversion_to_next,
                    }
                    for stage in row.stages
                ],
                "won": [
                    {"currency": currency, "deals": deals, "amount": amount}
                    for currency, deals, amount in row.won
                ],
            }
            for row in rows
        ],
    }
