"""``report sla``, ``report reps`` and ``report sources`` recomputed from the raw log: the
oracles of :mod:`leadflow.projections.breaches`, :mod:`leadflow.projections.reps` and
:mod:`leadflow.projections.sources` (same definitions, no read model)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.projections.breaches import Breach, SlaReport, tally
from leadflow.projections.reference import (
    STAGE_SETTING_TYPES,
    _key,
    counted_histories,
    funnel_by_from_events,
)
from leadflow.projections.reference_revenue import deal_of
from leadflow.projections.reps import Period, RepRow, Won, rep_rows
from leadflow.projections.sources import Deal, SourceRow, source_rows
from leadflow.service.codec import EventRecord, lead_event

__all__ = ["reps_from_events", "sla_from_events", "sources_from_events"]


def _in(period: tuple[date, date] | None, at: datetime) -> bool:
    if period is None:
        return True
    start = datetime.combine(period[0], time.min, UTC)
    return start <= at < datetime.combine(period[1] + timedelta(days=1), time.min, UTC)


def sla_from_events(
    records: Iterable[EventRecord],
    pipeline: Pipeline,
    as_of: datetime,
    as_known_at: datetime | None = None,
    cohort_from: date | None = None,
    cohort_to: date | None = None,
    period: tuple[date, date] | None = None,
) -> SlaReport:
    """An escalation counts against the rep the lead's hand-off waited on just before it:
    the folded lead's ``handoff.to_owner``."""
    found: list[Breach] = []
    live = counted_histories(records, as_of, as_known_at, cohort_from, cohort_to)
    for lead_id, events in live.items():
        lead: Lead | None = None
        stage: str | None = None
        for record in events:
            if record.type in ("SlaBreached", "HandOffEscalated") and _in(
                period, record.occurred_at
            ):
                if record.type == "SlaBreached":
                    breach = Breach(
                        str(lead_id), "breach", record.data["sla"], stage, record.data["owner"]
                    )
                else:
                    waited_on = lead.handoff.to_owner if lead and lead.handoff else None
                    breach = Breach(str(lead_id), "escalation", "handoff", stage, waited_on)
                found.append(breach)
            if record.type in STAGE_SETTING_TYPES:
                stage = record.data["stage"]
            lead = Lead.evolve(lead, lead_event(record))
    return tally(pipeline, found)


_NEW_OWNER = frozenset({"LeadAssigned", "LeadClaimed", "HandOffAccepted"})


@dataclass
class _Owned:
    rep: str
    started_at: datetime
    touch: datetime | None = None
    ended_at: datetime | None = None
    converted: bool = False


@dataclass
class _Asked:
    rep: str
    due: datetime | None
    at: datetime
    decided: datetime | None = None


def reps_from_events(
    records: Iterable[EventRecord],
    as_of: datetime,
    as_known_at: datetime | None = None,
    period: tuple[date, date] | None = None,
    cohort_from: date | None = None,
    cohort_to: date | None = None,
) -> list[RepRow]:
    """Who owns the lead, and so whose period runs and whose a won deal is, is the folded
    lead's ``owner``."""
    owned: list[_Owned] = []
    asked: list[_Asked] = []
    wins: list[Won] = []
    for events in counted_histories(records, as_of, as_known_at, cohort_from, cohort_to).values():
        lead: Lead | None = None
        current: _Owned | None = None
        pending: _Asked | None = None
        for record in events:
            before = lead.owner if lead is not None else None
            lead = Lead.evolve(lead, lead_event(record))
            at, kind, data = record.occurred_at.astimezone(UTC), record.type, record.data
            if kind in ("HandOffAccepted", "HandOffRejected") and pending is not None:
                pending.decided, pending = at, None
            if kind in _NEW_OWNER or kind == "LeadReleased":
                if current is not None:
                    current.ended_at = at
                current = None
                if kind != "LeadReleased" and lead.owner is not None:
                    current = _Owned(lead.owner, at)
                    owned.append(current)
            elif kind == "ActivityRecorded" and data.get("category") == "follow_up":
                if current is not None and current.touch is None:
                    current.touch = at
            elif kind == "LeadConverted" and current is not None:
                current.converted = True
            elif kind == "LeadHandedOff":
                due = data.get("sla_due")
                pending = _Asked(data["to_owner"], datetime.fromisoformat(due) if due else None, at)
                asked.append(pending)
            elif kind == "DealWon" and before is not None and _in(period, at):
                wins.append((before, data.get("currency"), data.get("amount")))
    periods = [
        Period(p.rep, p.started_at, p.touch, p.ended_at, p.converted)
        for p in owned
        if _in(period, p.started_at)
    ]
    handoffs = [(h.rep, h.due, h.decided) for h in asked if _in(period, h.at)]
    return rep_rows(periods, handoffs, wins, as_of)


def sources_from_events(
    records: Iterable[EventRecord],
    pipeline: Pipeline,
    as_of: datetime,
    as_known_at: datetime | None = None,
    by: str = "source",
    cohort_from: date | None = None,
    cohort_to: date | None = None,
    period: tuple[date, date] | None = None,
) -> list[SourceRow]:
    """The funnel per group is the reference funnel's; a lead's group, and so where its
    won deals count, is the reference funnel's key of the lead at the instant."""
    records = list(records)
    groups = funnel_by_from_events(
        records, pipeline, as_of, as_known_at, by, cohort_from, cohort_to
    )
    live = {key: sum(row.in_stage for row in rows) for key, rows in groups}
    deals: dict[str, list[Deal]] = {}
    for events in counted_histories(records, as_of, as_known_at, cohort_from, cohort_to).values():
        key = _key(by, events, [r for r in events if r.type == "LeadCaptured"])
        won = [deal_of(r) for r in events if r.type == "DealWon" and _in(period, r.occurred_at)]
        if won:
            deals.setdefault(key, []).extend(won)
    return source_rows(pipeline, groups, live, deals)
