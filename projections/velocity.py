"""``leadflow report stages``: time in stage and velocity to the next stage, censoring honestly.

For each stage, as of ``T`` (and as known at ``K``), over live leads (merged duplicates left
out), optionally a capture cohort and a period:

* **time in stage**: the stage's intervals (``lf_stage_intervals``) entered by ``T`` — within
  the period, if one is given — each lasting from its entry to its exit. An interval still
  open at ``T`` (the lead is still in the stage) is **censored** at ``T``: it lasted at least
  that long, and we do not know how much longer;
* **to next** (main-path stages but the last): from the lead's first entry into the stage
  (``lf_stage_reached``; within the period, if given) to the first time it *passed* the next
  main-path stage afterwards (reached it or any later one: the earliest such first entry in
  ``lf_stage_reached``, so any past version's main path can be asked). A lead that has not
  passed it by ``T`` is censored at ``T``. A lead that had passed the next stage before first
  entering this one (it came back down) is not counted here.

Median and 90th percentile are read from the Kaplan-Meier estimate of the share of leads still
"waiting" after each number of days: the first duration at which that share falls to 50% (10%)
or below. Censored leads count as waiting up to their censoring time and are then dropped
from the risk set, never counted as finished; where the estimate never falls that low (too
many leads have not moved on yet) the figure is ``null`` rather than a guess. ``finished`` and
``censored`` say how many of each the figures rest on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from leadflow.domain.pipeline import Pipeline
from leadflow.projections._sql import as_utc, utc
from leadflow.projections.funnel import (
    FunnelQuery,
    _known,
    _live,
    _not_yet,
    in_cohort,
    query_json,
)
from leadflow.projections.stage_history import STAGE_INTERVALS, STAGE_REACHED

__all__ = [
    "Durations",
    "StageTimes",
    "durations_json",
    "kaplan_meier_quantile",
    "stage_times",
    "stage_times_json",
    "summarise",
]

DAY = 86_400.0


@dataclass(frozen=True)
class Durations:
    """How many leads, how many finished (the rest censored), median and p90 in days."""

    leads: int
    finished: int
    censored: int
    median_days: float | None
    p90_days: float | None


@dataclass(frozen=True)
class StageTimes:
    stage: str
    entered: int
    """Intervals of the stage counted (entered by T, within the period)."""
    time_in_stage: Durations
    to_next: Durations | None
    """``None`` off the main path and for its last stage."""


def kaplan_meier_quantile(samples: Sequence[tuple[float, bool]], share: float) -> float | None:
    """The first duration at which the Kaplan-Meier share still waiting is <= ``1 - share``.

    ``samples``: (duration, finished); a sample not finished is censored at its duration.
    At equal durations, finishes are taken before censorings (the usual convention).
    """
    ordered = sorted(samples, key=lambda s: (s[0], not s[1]))
    at_risk = len(ordered)
    waiting = 1.0
    i = 0
    while i < len(ordered):
        duration = ordered[i][0]
        finished = censored = 0
        while i < len(ordered) and ordered[i][0] == duration:
            if ordered[i][1]:
                finished += 1
            else:
                censored += 1
            i += 1
        if finished:
            waiting *= 1 - finished / at_risk
            if waiting <= 1 - share + 1e-12:
                return duration
        at_risk -= finished + censored
    return None


def summarise(samples: Sequence[tuple[float, bool]]) -> Durations:
    """``samples`` in seconds → :class:`Durations` in days."""
    days = [(seconds / DAY, done) for seconds, done in samples]
    finished = sum(1 for _, done in days if done)
    median, p90 = kaplan_meier_quantile(days, 0.5), kaplan_meier_quantile(days, 0.9)
    return Durations(
        len(days),
        finished,
        len(days) - finished,
        round(median, 6) if median is not None else None,
        round(p90, 6) if p90 is not None else None,
    )


def _window(period: tuple[date, date] | None) -> tuple[datetime, datetime] | None:
    if period is None:
        return None
    start = datetime.combine(period[0], time.min, UTC)
    return start, datetime.combine(period[1] + timedelta(days=1), time.min, UTC)


def stage_times(
    conn: sa.Connection,
    pipeline: Pipeline,
    q: FunnelQuery,
    period: tuple[date, date] | None = None,
) -> list[StageTimes]:
    """Per stage of ``pipeline``, in its order (see the module for the definitions)."""
    t = utc(q.as_of)
    window = _window(period)
    i, r = STAGE_INTERVALS, STAGE_REACHED

    exit_counts = sa.and_(
        i.c.exited_at.is_not(None), sa.not_(_not_yet(i.c.exited_at, i.c.exited_recorded_at, q))
    )
    intervals = sa.select(
        i.c.stage, i.c.entered_at, sa.case((exit_counts, i.c.exited_at), else_=None)
    ).where(_known(i.c.entered_at, i.c.entered_recorded_at, q), _live(i.c.lead_id, q))
    if window is not None:
        intervals = intervals.where(i.c.entered_at >= window[0], i.c.entered_at < window[1])
    intervals = in_cohort(intervals.select_from(i), i.c.lead_id, q)
    in_stage: dict[str, list[tuple[float, bool]]] = {}
    interval_rows: Any = conn.execute(intervals)
    for name, entered, exited in interval_rows:
        start, end = as_utc(entered), as_utc(exited)
        assert start is not None
        in_stage.setdefault(str(name), []).append(
            ((end - start).total_seconds(), True) if end else ((t - start).total_seconds(), False)
        )

    path = pipeline.main_path
    onward: dict[str, list[tuple[float, bool]]] = {}
    r2 = r.alias("later")
    for index, stage in enumerate(path[:-1]):
        passed = sa.select(sa.func.min(r2.c.first_entered_at)).where(
            r2.c.lead_id == r.c.lead_id,
            r2.c.stage.in_(path[index + 1 :]),
            _known(r2.c.first_entered_at, r2.c.first_entered_recorded_at, q),
        )
        reached = sa.select(r.c.first_entered_at, passed.scalar_subquery()).where(
            r.c.stage == stage,
            _known(r.c.first_entered_at, r.c.first_entered_recorded_at, q),
            _live(r.c.lead_id, q),
        )
        if window is not None:
            reached = reached.where(
                r.c.first_entered_at >= window[0], r.c.first_entered_at < window[1]
            )
        reached = in_cohort(reached.select_from(r), r.c.lead_id, q)
        reached_rows: Any = conn.execute(reached)
        for entered, passed_at in reached_rows:
            start, end = as_utc(entered), as_utc(passed_at)
            assert start is not None
            sample = _onward(start, end, t)
            if sample is not None:
                onward.setdefault(stage, []).append(sample)
    return _rows(pipeline, in_stage, onward)


def _onward(start: datetime, passed: datetime | None, t: datetime) -> tuple[float, bool] | None:
    if passed is None:
        return ((t - start).total_seconds(), False)
    if passed < start:
        return None  # it had passed the next stage before: not a move from this one
    return ((passed - start).total_seconds(), True)


def _rows(
    pipeline: Pipeline,
    in_stage: dict[str, list[tuple[float, bool]]],
    onward: dict[str, list[tuple[float, bool]]],
) -> list[StageTimes]:
    path = pipeline.main_path
    rows = []
    for stage in pipeline.stages:
        has_next = stage in path and path.index(stage) + 1 < len(path)
        rows.append(
            StageTimes(
                stage,
                len(in_stage.get(stage, [])),
                summarise(in_stage.get(stage, [])),
                summarise(onward.get(stage, [])) if has_next else None,
            )
        )
    return rows


def durations_json(d: Durations) -> dict[str, Any]:
    """:class:`Durations` as every report's JSON writes them."""
    return {
        "leads": d.leads,
        "finished": d.finished,
        "censored": d.censored,
        "median_days": d.median_days,
        "p90_days": d.p90_days,
    }


def stage_times_json(
    q: FunnelQuery, period: tuple[date, date] | None, rows: Iterable[StageTimes]
) -> dict[str, Any]:
    """The documented ``leadflow report stages --json`` shape."""

    return {
        **query_json(q),
        "period": [period[0].isoformat(), period[1].isoformat()] if period else None,
        "stages": [
            {
                "stage": row.stage,
                "entered": row.entered,
                "time_in_stage": durations_json(row.time_in_stage),
                "to_next": durations_json(row.to_next) if row.to_next else None,
            }
            for row in rows
        ],
    }
