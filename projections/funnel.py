"""The funnel as of any instant, and as known at any instant, answered with SQL.

The definitions are those of :mod:`leadflow.projections.reference` (which recomputes
them from the raw log and is the oracle the tests compare against). Two counts per
stage, each one ``GROUP BY`` over an interval table:

* ``in_stage``: intervals (``lf_stage_intervals``) entered by the instant and not yet
  left, where "by the instant" means ``occurred_at <= as_of`` and, with
  ``as_known_at``, ``recorded_at <= as_known_at`` -- for the entry AND for the exit,
  since a late backdated exit can be recorded long after its entry;
* ``reached``: first entries (``lf_stage_reached``) by the instant.

Groups (``--by``): ``source``, ``campaign`` and ``region`` are the lead's attribution
as captured; ``cohort`` its capture month; ``owner`` is the owner at the instant
(``lf_ownership``), ``(none)`` for a lead in the public pool. A missing value is reported as
``(none)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from leadflow.domain.pipeline import Pipeline
from leadflow.projections._sql import utc
from leadflow.projections.leads import LEADS, OWNERSHIP
from leadflow.projections.reference import NO_VALUE, FunnelRow
from leadflow.projections.stage_history import FUNNEL_DAILY, STAGE_INTERVALS, STAGE_REACHED

__all__ = ["GROUPINGS", "FunnelQuery", "funnel", "funnel_by", "funnel_json"]

Grouping = Literal["source", "campaign", "owner", "region"]
GROUPINGS: tuple[str, ...] = ("source", "campaign", "owner", "region", "cohort")
"""``cohort`` is the capture month (``YYYY-MM``, UTC)."""
_LEAD_COLUMNS = {
    "source": "source",
    "campaign": "campaign",
    "region": "region",
    "cohort": "cohort_month",
}


@dataclass(frozen=True)
class FunnelQuery:
    as_of: datetime
    as_known_at: datetime | None = None
    cohort_from: date | None = None
    """Only leads captured on or after this day (UTC)."""
    cohort_to: date | None = None
    """Only leads captured on or before this day (UTC)."""


def _known(at: sa.ColumnElement[Any], recorded: sa.ColumnElement[Any], q: FunnelQuery) -> Any:
    """The event behind these columns counts at ``q``'s instant."""
    condition = at <= utc(q.as_of)
    if q.as_known_at is not None:
        condition = sa.and_(condition, recorded <= utc(q.as_known_at))
    return condition


def _not_yet(at: sa.ColumnElement[Any], recorded: sa.ColumnElement[Any], q: FunnelQuery) -> Any:
    """The (nullable) closing event behind these columns does not count yet."""
    condition = sa.or_(at.is_(None), at > utc(q.as_of))
    if q.as_known_at is not None:
        condition = sa.or_(condition, recorded > utc(q.as_known_at))
    return condition


def _grouped(
    select: sa.Select[Any], lead_id: sa.ColumnElement[Any], q: FunnelQuery, by: str | None
) -> tuple[sa.Select[Any], Any]:
    """Join what the cohort filter and the grouping need; return (query, key column)."""
    if q.cohort_from is not None or q.cohort_to is not None or by in _LEAD_COLUMNS:
        select = select.join(LEADS, LEADS.c.lead_id == lead_id)
        if q.cohort_from is not None:
            start = datetime.combine(q.cohort_from, time.min, UTC)
            select = select.where(LEADS.c.captured_at >= start)
        if q.cohort_to is not None:
            end = datetime.combine(q.cohort_to + timedelta(days=1), time.min, UTC)
            select = select.where(LEADS.c.captured_at < end)
    if by is None:
        return select, sa.literal("")
    if by == "owner":
        o = OWNERSHIP
        select = select.outerjoin(
            o,
            sa.and_(
                o.c.lead_id == lead_id,
                _known(o.c.started_at, o.c.started_recorded_at, q),
                _not_yet(o.c.ended_at, o.c.ended_recorded_at, q),
            ),
        )
        return select, sa.func.coalesce(o.c.owner, NO_VALUE)
    return select, sa.func.coalesce(LEADS.c[_LEAD_COLUMNS[by]], NO_VALUE)


def _counts(conn: sa.Connection, q: FunnelQuery, by: str | None) -> dict[str, dict[str, list[int]]]:
    """key → stage → [in_stage, reached]."""
    i, r = STAGE_INTERVALS, STAGE_REACHED
    counts: dict[str, dict[str, list[int]]] = {}
    in_stage = sa.select(i.c.stage).where(
        _known(i.c.entered_at, i.c.entered_recorded_at, q),
        _not_yet(i.c.exited_at, i.c.exited_recorded_at, q),
    )
    in_stage, key = _grouped(in_stage.select_from(i), i.c.lead_id, q, by)
    in_stage = in_stage.add_columns(key.label("key"), sa.func.count().label("n"))
    for stage, group, n in conn.execute(in_stage.group_by(i.c.stage, key)):
        counts.setdefault(group, {}).setdefault(stage, [0, 0])[0] = int(n)
    reached = sa.select(r.c.stage).where(
        _known(r.c.first_entered_at, r.c.first_entered_recorded_at, q)
    )
    reached, key = _grouped(reached.select_from(r), r.c.lead_id, q, by)
    reached = reached.add_columns(key.label("key"), sa.func.count().label("n"))
    for stage, group, n in conn.execute(reached.group_by(r.c.stage, key)):
        counts.setdefault(group, {}).setdefault(stage, [0, 0])[1] = int(n)
    return counts


def _rows(pipeline: Pipeline, counts: dict[str, list[int]]) -> list[FunnelRow]:
    rows = []
    for stage in pipeline.stages:
        in_stage, reached = counts.get(stage, [0, 0])
        following = pipeline.next_on_main_path(stage)
        next_reached = counts.get(following, [0, 0])[1] if following else 0
        conversion = next_reached / reached if following and reached else None
        rows.append(FunnelRow(stage, in_stage, reached, conversion))
    return rows


def _daily_counts(conn: sa.Connection, q: FunnelQuery) -> dict[str, list[int]]:
    """stage → [in_stage, reached], from whole days in ``lf_funnel_daily`` plus the edges.

    An event counts when ``occurred_at <= T`` and ``recorded_at <= K``. Split by days
    (``dT``, ``dK`` = the days of T and K): events before both days are summed per day;
    events on day ``dT`` (by T), and events before ``dT`` recorded on day ``dK`` (by K),
    are counted from the interval tables through their time indexes. Every exit follows
    its entry in both times, so ``in_stage`` = entries that count - exits that count.
    """
    d = FUNNEL_DAILY
    t = utc(q.as_of)
    t_day = t.date()
    t_start = datetime.combine(t_day, time.min, UTC)
    whole = sa.select(d.c.stage, d.c.measure, sa.func.sum(d.c.leads)).where(d.c.occurred_on < t_day)
    k = utc(q.as_known_at) if q.as_known_at is not None else None
    if k is not None:
        whole = whole.where(d.c.recorded_on < k.date())
    totals: dict[tuple[str, str], int] = {}
    for stage, measure, n in conn.execute(whole.group_by(d.c.stage, d.c.measure)):
        totals[(stage, measure)] = int(n or 0)

    def edges(measure: str, stage: Any, at: Any, recorded: Any) -> None:
        windows = [sa.and_(at >= t_start, at <= t)]
        if k is not None:
            k_start = datetime.combine(k.date(), time.min, UTC)
            windows = [
                sa.and_(at >= t_start, at <= t, recorded <= k),
                sa.and_(at < t_start, recorded >= k_start, recorded <= k),
            ]
        for window in windows:
            for name, n in conn.execute(
                sa.select(stage, sa.func.count()).where(window).group_by(stage)
            ):
                totals[(name, measure)] = totals.get((name, measure), 0) + int(n)

    i, r = STAGE_INTERVALS, STAGE_REACHED
    edges("enter", i.c.stage, i.c.entered_at, i.c.entered_recorded_at)
    edges("exit", i.c.stage, i.c.exited_at, i.c.exited_recorded_at)
    edges("reach", r.c.stage, r.c.first_entered_at, r.c.first_entered_recorded_at)
    stages = {stage for stage, _ in totals}
    return {
        stage: [
            totals.get((stage, "enter"), 0) - totals.get((stage, "exit"), 0),
            totals.get((stage, "reach"), 0),
        ]
        for stage in stages
    }


def funnel(conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery) -> list[FunnelRow]:
    """Per stage of ``pipeline``, in its order: in_stage, reached, conversion_to_next.

    Without a cohort, from the daily counts (a few thousand rows, whatever the number of
    leads); with one, by scanning the intervals of the cohort's leads.
    """
    if q.cohort_from is None and q.cohort_to is None:
        return _rows(pipeline, _daily_counts(conn, q))
    return _rows(pipeline, _counts(conn, q, None).get("", {}))


def funnel_by(
    conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery, by: str
) -> list[tuple[str, list[FunnelRow]]]:
    """The funnel per group, groups sorted by key; only groups with a lead in them."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}")
    counts = _counts(conn, q, by)
    return [(key, _rows(pipeline, counts[key])) for key in sorted(counts)]


def _row_json(row: FunnelRow) -> dict[str, Any]:
    return {
        "stage": row.stage,
        "in_stage": row.in_stage,
        "reached": row.reached,
        "conversion_to_next": row.conversion_to_next,
    }


def funnel_json(
    q: FunnelQuery,
    rows: list[FunnelRow] | None = None,
    groups: list[tuple[str, list[FunnelRow]]] | None = None,
) -> dict[str, Any]:
    """The documented ``leadflow funnel --json`` shape."""
    if groups is not None:
        return {
            "groups": [
                {
                    "key": key,
                    "as_of": q.as_of.isoformat(),
                    "as_known_at": q.as_known_at.isoformat() if q.as_known_at else None,
                    "stages": [_row_json(row) for row in group_rows],
                }
                for key, group_rows in groups
            ]
        }
    assert rows is not None
    return {
        "as_of": q.as_of.isoformat(),
        "as_known_at": q.as_known_at.isoformat() if q.as_known_at else None,
        "stages": [_row_json(row) for row in rows],
    }
