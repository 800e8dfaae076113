"""Revenue recomputed from the raw log: the oracle of :mod:`leadflow.projections.revenue`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from leadflow.domain.pipeline import Pipeline
from leadflow.projections.reference import STAGE_SETTING_TYPES, counted_histories
from leadflow.projections.revenue import KINDS, Revenue, revenue_from_deals
from leadflow.service.codec import EventRecord

__all__ = ["deal_of", "revenue_from_events"]


def revenue_from_events(
    records: Iterable[EventRecord],
    pipeline: Pipeline,
    as_of: datetime,
    as_known_at: datetime | None = None,
    cohort_from: date | None = None,
    cohort_to: date | None = None,
) -> Revenue:
    deals = []
    stage_of: dict[str, str] = {}
    for lead_id, events in counted_histories(
        records, as_of, as_known_at, cohort_from, cohort_to
    ).items():
        stages = [r.data["stage"] for r in events if r.type in STAGE_SETTING_TYPES]
        if stages:
            stage_of[str(lead_id)] = stages[-1]
        deals += [deal_of(r) for r in events if r.type in KINDS]
    return revenue_from_deals(pipeline, deals, stage_of)


def deal_of(r: EventRecord) -> tuple[str, int, str, float | None, str | None, datetime]:
    """A deal event as ``revenue_from_deals`` reads it (what ``lf_deal_events`` holds)."""
    amount = r.data.get("amount")
    return (
        str(r.lead_id),
        r.sequence,
        KINDS[r.type],
        float(amount) if amount is not None else None,
        r.data.get("currency"),
        r.occurred_at.astimezone(UTC),
    )
