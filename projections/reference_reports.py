"""``report sla``, ``report reps`` and ``report sources`` recomputed from the raw log: the
oracles of :mod:`leadflow.projections.breaches`, :mod:`leadflow.projections.reps` and
:mod:`leadflow.projections.sources` (same definitions, no read model)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.projections.breaches import Breach, SlaReport, tally
from leadflow.projections.reference import STAGE_SETTING_TYPES, counted_histories
from leadflow.service.codec import EventRecord, lead_event

__all__ = ["sla_from_events"]


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
