"""Time in stage and velocity recomputed from the raw log: the oracle of
:mod:`leadflow.projections.velocity` (same definitions, no read model)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from leadflow.domain.pipeline import Pipeline
from leadflow.projections.reference import STAGE_SETTING_TYPES, counted_histories
from leadflow.projections.velocity import StageTimes, _onward, _rows
from leadflow.service.codec import EventRecord

__all__ = ["stage_times_from_events"]


def stage_times_from_events(
    records: Iterable[EventRecord],
    pipeline: Pipeline,
    as_of: datetime,
    as_known_at: datetime | None = None,
    cohort_from: date | None = None,
    cohort_to: date | None = None,
    period: tuple[date, date] | None = None,
) -> list[StageTimes]:
    start = end = None
    if period is not None:
        start = datetime.combine(period[0], time.min, UTC)
        end = datetime.combine(period[1] + timedelta(days=1), time.min, UTC)

    def in_period(at: datetime) -> bool:
        return start is None or end is None or start <= at < end

    path = pipeline.main_path
    in_stage: dict[str, list[tuple[float, bool]]] = {}
    onward: dict[str, list[tuple[float, bool]]] = {}
    for events in counted_histories(records, as_of, as_known_at, cohort_from, cohort_to).values():
        entries = [
            (r.data["stage"], r.occurred_at) for r in events if r.type in STAGE_SETTING_TYPES
        ]
        for n, (stage, entered) in enumerate(entries):
            if not in_period(entered):
                continue
            if n + 1 < len(entries):
                sample = ((entries[n + 1][1] - entered).total_seconds(), True)
            else:
                sample = ((as_of - entered).total_seconds(), False)
            in_stage.setdefault(stage, []).append(sample)
        first: dict[str, datetime] = {}
        for stage, entered in entries:
            first.setdefault(stage, entered)
        for index, stage in enumerate(path[:-1]):
            if stage not in first or not in_period(first[stage]):
                continue
            later = [first[s] for s in path[index + 1 :] if s in first]
            found = _onward(first[stage], min(later) if later else None, as_of)
            if found is not None:
                onward.setdefault(stage, []).append(found)
    return _rows(pipeline, in_stage, onward)
