"""``leadflow report reps``: what each rep did with the leads they held.

As of ``T`` (as known at ``K``), over live leads (merged duplicates left out), per rep:

* **assigned**: ownership periods (``lf_ownership``) that started: an assignment, a claim,
  or an accepted hand-off each start one for the lead's new owner;
* **followed_up**: of those, the periods in which the rep recorded a follow-up (call,
  email, meeting, note: an ``ActivityRecorded`` of category ``follow_up``);
* **time_to_first_touch**: from the period's start to that first follow-up, in days, median
  and p90 by Kaplan-Meier as ``report stages`` reads them: a period with no follow-up yet is
  censored when it ended (the lead went to someone else or back to the pool) or, if it is
  still open, at ``T``;
* **handoffs**: the hand-offs made to the rep (``lf_handoffs.to_owner``, the rep first asked,
  even if an escalation reassigned it): ``met`` (accepted or rejected by the SLA due time
  set at the hand-off), ``late`` (decided after it), ``pending`` (undecided, not yet due),
  ``overdue`` (undecided and past due); ``sla_met_share`` = met / (met + late + overdue),
  ``null`` when that is 0;
* **converted**: periods during which the lead converted (``LeadConverted``);
* **won**: the ``DealWon`` events of the rep's leads while the rep owned them, by currency:
  deals and amount (a deal without an amount counts as a deal).

``--period FROM..TO`` keeps the periods that started, the hand-offs made and the deals won
in those days (UTC); a capture cohort (``--cohort-from/--cohort-to``) keeps the leads
captured in its days, as everywhere else (:func:`~leadflow.projections.funnel.in_cohort`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from leadflow.projections._sql import as_utc, utc
from leadflow.projections.funnel import FunnelQuery, _known, _live, _not_yet, in_cohort, query_json
from leadflow.projections.handoffs import HANDOFFS
from leadflow.projections.leads import OWNERSHIP
from leadflow.projections.reference import NO_VALUE
from leadflow.projections.revenue import DEAL_EVENTS
from leadflow.projections.velocity import Durations, _window, durations_json, summarise

__all__ = [
    "HandOffCounts",
    "Period",
    "RepRow",
    "Won",
    "rep_report",
    "rep_report_json",
    "rep_rows",
]


@dataclass(frozen=True)
class Period:
    """One ownership period as it stands at the instant."""

    rep: str
    started_at: datetime
    first_touch_at: datetime | None
    """The first follow-up, if it counts."""
    ended_at: datetime | None
    """If the end counts."""
    converted: bool


@dataclass(frozen=True)
class HandOffCounts:
    received: int
    met: int
    late: int
    pending: int
    overdue: int
    sla_met_share: float | None


@dataclass(frozen=True)
class RepRow:
    rep: str
    assigned: int
    followed_up: int
    time_to_first_touch: Durations
    handoffs: HandOffCounts
    converted: int
    won: list[tuple[str, int, float]]
    """(currency, deals, amount), by currency."""


Won = tuple[str, str | None, float | None]
"""(rep, currency, amount) of a deal won while the rep owned the lead."""


def rep_rows(
    periods: Iterable[Period],
    handoffs: Iterable[tuple[str, datetime | None, datetime | None]],
    wins: Iterable[Won],
    as_of: datetime,
) -> list[RepRow]:
    """The report from what counts (shared with the recomputation from the log).

    ``handoffs``: (rep, SLA due, decided at if the decision counts)."""
    owned: dict[str, list[Period]] = {}
    for period in periods:
        owned.setdefault(period.rep, []).append(period)
    tallies: dict[str, list[int]] = {}
    for rep, due, decided in handoffs:
        tally = tallies.setdefault(rep, [0, 0, 0, 0])
        if decided is not None:
            tally[0 if due is None or decided <= due else 1] += 1
        else:
            tally[3 if due is not None and as_of > due else 2] += 1
    won: dict[str, dict[str, list[float]]] = {}
    for rep, currency, amount in wins:
        cell = won.setdefault(rep, {}).setdefault(currency or NO_VALUE, [0, 0.0])
        cell[0] += 1
        cell[1] += amount or 0.0
    rows = []
    for rep in sorted(set(owned) | set(tallies) | set(won)):
        mine = owned.get(rep, [])
        samples = [
            (
                ((p.first_touch_at - p.started_at).total_seconds(), True)
                if p.first_touch_at is not None
                else (((p.ended_at or as_of) - p.started_at).total_seconds(), False)
            )
            for p in mine
        ]
        met, late, pending, overdue = tallies.get(rep, [0, 0, 0, 0])
        came_due = met + late + overdue
        rows.append(
            RepRow(
                rep=rep,
                assigned=len(mine),
                followed_up=sum(1 for p in mine if p.first_touch_at is not None),
                time_to_first_touch=summarise(samples),
                handoffs=HandOffCounts(
                    met + late + pending + overdue,
                    met,
                    late,
                    pending,
                    overdue,
                    round(met / came_due, 6) if came_due else None,
                ),
                converted=sum(1 for p in mine if p.converted),
                won=[
                    (currency, int(n), round(amount, 2))
                    for currency, (n, amount) in sorted(won.get(rep, {}).items())
                ],
            )
        )
    return rows


def rep_report(
    conn: sa.Connection, q: FunnelQuery, period: tuple[date, date] | None = None
) -> list[RepRow]:
    """Per rep, sorted by rep (see the module for the definitions)."""
    o, h, d = OWNERSHIP, HANDOFFS, DEAL_EVENTS
    window = _window(period)
    t = utc(q.as_of)

    def within(column: Any) -> list[Any]:
        return [] if window is None else [column >= window[0], column < window[1]]

    touch_counts = sa.not_(_not_yet(o.c.first_touch_at, o.c.first_touch_recorded_at, q))
    end_counts = sa.not_(_not_yet(o.c.ended_at, o.c.ended_recorded_at, q))
    converted = sa.not_(_not_yet(o.c.converted_at, o.c.converted_recorded_at, q))
    owned = sa.select(
        o.c.owner,
        o.c.started_at,
        sa.case((touch_counts, o.c.first_touch_at), else_=None),
        sa.case((end_counts, o.c.ended_at), else_=None),
        converted,
    ).where(
        _known(o.c.started_at, o.c.started_recorded_at, q),
        _live(o.c.lead_id, q),
        *within(o.c.started_at),
    )
    rows: Any = conn.execute(in_cohort(owned.select_from(o), o.c.lead_id, q))
    periods = [
        Period(str(rep), _at(started), as_utc(touch), as_utc(ended), bool(done))
        for rep, started, touch, ended, done in rows
    ]
    decided = sa.not_(_not_yet(h.c.decided_at, h.c.decided_recorded_at, q))
    asked = sa.select(
        h.c.to_owner, h.c.sla_due, sa.case((decided, h.c.decided_at), else_=None)
    ).where(
        _known(h.c.handed_off_at, h.c.handed_off_recorded_at, q),
        _live(h.c.lead_id, q),
        *within(h.c.handed_off_at),
    )
    handoff_rows: Any = conn.execute(in_cohort(asked.select_from(h), h.c.lead_id, q))
    handoffs = [(str(rep), as_utc(due), as_utc(at)) for rep, due, at in handoff_rows]
    holder = sa.and_(
        o.c.lead_id == d.c.lead_id,
        o.c.started_sequence < d.c.sequence,
        sa.or_(o.c.ended_sequence.is_(None), o.c.ended_sequence > d.c.sequence),
    )
    won = (
        sa.select(o.c.owner, d.c.currency, d.c.amount)
        .select_from(d.join(o, holder))
        .where(
            d.c.kind == "won",
            _known(d.c.at, d.c.recorded_at, q),
            _live(d.c.lead_id, q),
            *within(d.c.at),
        )
    )
    win_rows: Any = conn.execute(in_cohort(won, d.c.lead_id, q))
    wins = [(str(rep), currency, amount) for rep, currency, amount in win_rows]
    return rep_rows(periods, handoffs, wins, t)


def _at(value: Any) -> datetime:
    at = as_utc(value)
    assert at is not None
    return at


def rep_report_json(
    q: FunnelQuery, period: tuple[date, date] | None, rows: Iterable[RepRow]
) -> dict[str, Any]:
    """The documented ``leadflow report reps --json`` shape."""
    return {
        **query_json(q),
        "period": [period[0].isoformat(), period[1].isoformat()] if period else None,
        "reps": [
            {
                "rep": row.rep,
                "assigned": row.assigned,
                "followed_up": row.followed_up,
                "time_to_first_touch": durations_json(row.time_to_first_touch),
                "handoffs": {
                    "received": row.handoffs.received,
                    "met": row.handoffs.met,
                    "late": row.handoffs.late,
                    "pending": row.handoffs.pending,
                    "overdue": row.handoffs.overdue,
                    "sla_met_share": row.handoffs.sla_met_share,
                },
                "converted": row.converted,
                "won": [
                    {"currency": currency, "deals": n, "amount": amount}
                    for currency, n, amount in row.won
                ],
            }
            for row in rows
        ],
    }
