"""The funnel as of any instant, and as known at any instant, answered with SQL.

The definitions are those of :mod:`leadflow.projections.reference` (which recomputes
them from the raw log and is the oracle the tests compare against). An event *counts*
at the instant when ``occurred_at <= as_of`` and, with ``as_known_at``,
``recorded_at <= as_known_at``; that holds for an interval's entry AND its exit, since a
late backdated exit can be recorded long after its entry. Only *live* leads count: a lead
with a merge period (``lf_merge_periods``) open at the instant is a duplicate, not a
person. Per stage:

* ``in_stage``: intervals (``lf_stage_intervals``) whose entry counts and exit does not;
* ``reached``: first entries (``lf_stage_reached``) that count;
* ``passed`` (main path only): leads whose furthest main-path stage reached is this one
  or later, one ``GROUP BY`` of each lead's furthest index, summed from the end of the path;
* ``conversion_to_next``: ``passed(next) / passed(this)``. With ``skip_policy="strict"``,
  ``passed`` is ``reached`` and the conversion counts the leads whose first entry into
  this stage is followed (by log position) by an entry into the next.

Groups (``--by``): ``source``, ``campaign`` and ``region`` are the lead's attribution
as captured; ``cohort`` its capture month; ``owner`` is the owner at the instant
(``lf_ownership``), ``(none)`` for a lead in the public pool; a reporting dimension of the
pipeline (``[reporting] dimensions``) is the lead's value at the instant
(``lf_lead_dimensions``). A missing value is reported as ``(none)``. Which groupings a
caller may ask for is :meth:`~leadflow.domain.pipeline.Pipeline.groupings` of the pipeline
in force (the dimensions the read model keeps).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal

import sqlalchemy as sa

from leadflow.domain.bounds import dimension_problem
from leadflow.domain.pipeline import BUILT_IN_GROUPINGS, Pipeline
from leadflow.projections._sql import utc
from leadflow.projections.dimensions import value_at
from leadflow.projections.leads import LEADS, OWNERSHIP
from leadflow.projections.merges import MERGE_PERIODS, merged_at
from leadflow.projections.passes import PASSES, PASSES_DAILY, built_for
from leadflow.projections.reference import NO_VALUE, SKIP_POLICIES, FunnelRow
from leadflow.projections.stage_history import FUNNEL_DAILY, STAGE_INTERVALS, STAGE_REACHED

__all__ = [
    "GROUPINGS",
    "SKIP_POLICIES",
    "FunnelQuery",
    "funnel",
    "funnel_by",
    "funnel_json",
    "in_cohort",
    "live_leads",
    "query_json",
]

Grouping = Literal["source", "campaign", "owner", "region"]
GROUPINGS: tuple[str, ...] = BUILT_IN_GROUPINGS
"""The built-in groupings (``cohort`` is the capture month, ``YYYY-MM``, UTC); a pipeline's
reporting dimensions come on top (:meth:`~leadflow.domain.pipeline.Pipeline.groupings`)."""
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
    skip_policy: str = "passed"
    """``passed`` (a lead that skipped a stage has passed it) or ``strict``."""

    def __post_init__(self) -> None:
        if self.skip_policy not in SKIP_POLICIES:
            raise ValueError(f"skip_policy must be one of {SKIP_POLICIES}")


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


def _live(lead_id: sa.ColumnElement[Any], q: FunnelQuery) -> sa.ColumnElement[bool]:
    """The lead is not a merged duplicate at ``q``'s instant."""
    merged = merged_at(
        lead_id,
        lambda at, recorded: _known(at, recorded, q),
        lambda at, recorded: _not_yet(at, recorded, q),
    )
    return sa.not_(merged)


def _grouped(
    select: sa.Select[Any],
    lead_id: sa.ColumnElement[Any],
    q: FunnelQuery,
    by: str | None,
    *,
    joined: bool = False,
) -> tuple[sa.Select[Any], Any]:
    """Join what the cohort filter and the grouping need; return (query, key column).

    ``joined``: ``select`` already reads ``lf_leads``.
    """
    if q.cohort_from is not None or q.cohort_to is not None or by in _LEAD_COLUMNS:
        if not joined:
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
    if by not in _LEAD_COLUMNS:  # a reporting dimension: the lead's value at the instant
        if dimension_problem(by) is not None:
            raise ValueError(f"unknown grouping {by!r}")
        d, on = value_at(
            lead_id,
            by,
            lambda at, recorded: _known(at, recorded, q),
            lambda at, recorded: _not_yet(at, recorded, q),
        )
        return select.outerjoin(d, on), sa.func.coalesce(d.c.value, NO_VALUE)
    return select, sa.func.coalesce(LEADS.c[_LEAD_COLUMNS[by]], NO_VALUE)


def in_cohort(
    select: sa.Select[Any], lead_id: sa.ColumnElement[Any], q: FunnelQuery
) -> sa.Select[Any]:
    """``select`` kept to the leads captured in ``q``'s cohort window (unchanged without
    one): the one cohort filter of the funnel and of every report."""
    return _grouped(select, lead_id, q, None)[0]


def query_json(q: FunnelQuery) -> dict[str, Any]:
    """The instants and the cohort a report was asked for, as every report's JSON starts."""
    return {
        "as_of": q.as_of.isoformat(),
        "as_known_at": q.as_known_at.isoformat() if q.as_known_at else None,
        "cohort_from": q.cohort_from.isoformat() if q.cohort_from else None,
        "cohort_to": q.cohort_to.isoformat() if q.cohort_to else None,
    }


def _counts(
    conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery, by: str | None
) -> dict[str, _Counts]:
    """key → the counts of its live leads."""
    i, r = STAGE_INTERVALS, STAGE_REACHED
    counts: dict[str, _Counts] = {}

    def group(key: str) -> _Counts:
        found = counts.get(key)
        if found is None:
            found = counts[key] = _Counts()
        return found

    in_stage = sa.select(i.c.stage).where(
        _known(i.c.entered_at, i.c.entered_recorded_at, q),
        _not_yet(i.c.exited_at, i.c.exited_recorded_at, q),
        _live(i.c.lead_id, q),
    )
    in_stage, key = _grouped(in_stage.select_from(i), i.c.lead_id, q, by)
    in_stage = in_stage.add_columns(key.label("key"), sa.func.count().label("n"))
    for stage, name, n in conn.execute(in_stage.group_by(i.c.stage, key)):
        group(name).in_stage[stage] = int(n)

    reached = sa.select(r.c.stage).where(
        _known(r.c.first_entered_at, r.c.first_entered_recorded_at, q), _live(r.c.lead_id, q)
    )
    reached, key = _grouped(reached.select_from(r), r.c.lead_id, q, by)
    reached = reached.add_columns(key.label("key"), sa.func.count().label("n"))
    for stage, name, n in conn.execute(reached.group_by(r.c.stage, key)):
        group(name).reached[stage] = int(n)

    path = pipeline.main_path
    if not path:
        return counts
    index = sa.case({stage: position for position, stage in enumerate(path)}, value=r.c.stage)
    furthest = sa.select(r.c.lead_id, sa.func.max(index).label("furthest")).where(
        r.c.stage.in_(path),
        _known(r.c.first_entered_at, r.c.first_entered_recorded_at, q),
        _live(r.c.lead_id, q),
    )
    furthest, key = _grouped(furthest.select_from(r), r.c.lead_id, q, by)
    per_lead = furthest.add_columns(key.label("key")).group_by(r.c.lead_id, key).subquery()
    for name, position, n in conn.execute(
        sa.select(per_lead.c.key, per_lead.c.furthest, sa.func.count()).group_by(
            per_lead.c.key, per_lead.c.furthest
        )
    ):
        group(name).furthest[int(position)] = int(n)

    if q.skip_policy == "strict" and len(path) > 1:
        following = sa.case(dict(pairwise(path)), value=r.c.stage)
        later = sa.select(sa.literal(1)).where(
            i.c.lead_id == r.c.lead_id,
            i.c.stage == following,
            i.c.entered_position > r.c.first_entered_position,
            _known(i.c.entered_at, i.c.entered_recorded_at, q),
        )
        moved = sa.select(r.c.stage).where(
            r.c.stage.in_(path[:-1]),
            _known(r.c.first_entered_at, r.c.first_entered_recorded_at, q),
            _live(r.c.lead_id, q),
            later.exists(),
        )
        moved, key = _grouped(moved.select_from(r), r.c.lead_id, q, by)
        moved = moved.add_columns(key.label("key"), sa.func.count().label("n"))
        for stage, name, n in conn.execute(moved.group_by(r.c.stage, key)):
            group(name).moved_on[stage] = int(n)
    return counts


@dataclass
class _Counts:
    in_stage: dict[str, int] = field(default_factory=dict)
    reached: dict[str, int] = field(default_factory=dict)
    furthest: dict[int, int] = field(default_factory=dict)
    """Main-path index → live leads whose furthest stage reached on the path is there."""
    moved_on: dict[str, int] = field(default_factory=dict)
    """Stage → leads that entered the next main-path stage after reaching it (strict)."""


def _rows(pipeline: Pipeline, counts: _Counts, skip_policy: str) -> list[FunnelRow]:
    path = pipeline.main_path
    passed: dict[str, int] = {}
    total = 0
    for position in range(len(path) - 1, -1, -1):
        total += counts.furthest.get(position, 0)
        passed[path[position]] = total
    rows = []
    for stage in pipeline.stages:
        in_stage, reached = counts.in_stage.get(stage, 0), counts.reached.get(stage, 0)
        if stage not in passed:
            rows.append(FunnelRow(stage, in_stage, reached, None, None))
            continue
        following = pipeline.next_on_main_path(stage)
        if skip_policy == "strict":
            through, onward = reached, counts.moved_on.get(stage, 0)
        else:
            through, onward = passed[stage], passed[following] if following else 0
        conversion = onward / through if following and through else None
        rows.append(FunnelRow(stage, in_stage, reached, through, conversion))
    return rows


def _daily_counts(conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery) -> _Counts:
    """The counts from whole days of the daily tables plus the edges, less merged leads.

    An event counts when ``occurred_at <= T`` and ``recorded_at <= K``. Split by days
    (``dT``, ``dK`` = the days of T and K): events before both days are summed per day
    (``lf_funnel_daily``, ``lf_passes_daily``); events on day ``dT`` (by T), and events
    before ``dT`` recorded on day ``dK`` (by K), are counted from the row tables through
    their time indexes. Every exit follows its entry in both times, so ``in_stage`` =
    entries that count - exits that count. The counters include every lead; the few that
    are merged duplicates at the instant are then taken out, lead by lead.
    """
    t = utc(q.as_of)
    t_day = t.date()
    t_start = datetime.combine(t_day, time.min, UTC)
    k = utc(q.as_known_at) if q.as_known_at is not None else None
    totals: Counter[tuple[str, str]] = Counter()
    d, p = FUNNEL_DAILY, PASSES_DAILY
    whole = sa.select(d.c.stage, d.c.measure, sa.func.sum(d.c.leads)).where(d.c.occurred_on < t_day)
    passes = sa.select(p.c.stage, sa.literal("pass"), sa.func.sum(p.c.leads)).where(
        p.c.occurred_on < t_day
    )
    if k is not None:
        whole = whole.where(d.c.recorded_on < k.date())
        passes = passes.where(p.c.recorded_on < k.date())
    for select in (whole.group_by(d.c.stage, d.c.measure), passes.group_by(p.c.stage)):
        for stage, measure, n in conn.execute(select):
            totals[(stage, measure)] += int(n or 0)

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
                totals[(name, measure)] += int(n)

    i, r, ps = STAGE_INTERVALS, STAGE_REACHED, PASSES
    edges("enter", i.c.stage, i.c.entered_at, i.c.entered_recorded_at)
    edges("exit", i.c.stage, i.c.exited_at, i.c.exited_recorded_at)
    edges("reach", r.c.stage, r.c.first_entered_at, r.c.first_entered_recorded_at)
    edges("pass", ps.c.stage, ps.c.first_at, ps.c.first_recorded_at)

    # Merged duplicates at the instant: few, each found through its open merge period.
    m = MERGE_PERIODS
    merged = sa.and_(
        _known(m.c.merged_at, m.c.merged_recorded_at, q),
        _not_yet(m.c.unmerged_at, m.c.unmerged_recorded_at, q),
    )
    taken_out: list[tuple[str, Any]] = [
        (
            "enter",
            sa.select(i.c.stage, sa.func.count())
            .join(m, m.c.lead_id == i.c.lead_id)
            .where(
                merged,
                _known(i.c.entered_at, i.c.entered_recorded_at, q),
                _not_yet(i.c.exited_at, i.c.exited_recorded_at, q),
            )
            .group_by(i.c.stage),
        ),
        (
            "reach",
            sa.select(r.c.stage, sa.func.count())
            .join(m, m.c.lead_id == r.c.lead_id)
            .where(merged, _known(r.c.first_entered_at, r.c.first_entered_recorded_at, q))
            .group_by(r.c.stage),
        ),
        (
            "pass",
            sa.select(ps.c.stage, sa.func.count())
            .join(m, m.c.lead_id == ps.c.lead_id)
            .where(merged, _known(ps.c.first_at, ps.c.first_recorded_at, q))
            .group_by(ps.c.stage),
        ),
    ]
    for measure, select in taken_out:
        for stage, n in conn.execute(select):
            totals[(stage, measure)] -= int(n)

    counts = _Counts()
    path = {stage: position for position, stage in enumerate(pipeline.main_path)}
    passed = {stage: totals[(stage, "pass")] for stage in path}
    for stage in {stage for stage, _ in totals}:
        counts.in_stage[stage] = totals[(stage, "enter")] - totals[(stage, "exit")]
        counts.reached[stage] = totals[(stage, "reach")]
    # As the scan's "furthest" counts: passed(s) - passed(next) leads got no further than s.
    for stage, position in path.items():
        following = pipeline.next_on_main_path(stage)
        counts.furthest[position] = passed[stage] - (passed[following] if following else 0)
    return counts


def funnel(conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery) -> list[FunnelRow]:
    """Per stage of ``pipeline``, in its order: in_stage, reached, passed, conversion_to_next.

    Without a cohort and with the ``passed`` skip policy, from the daily counters (a few
    thousand rows, whatever the number of leads) when ``lf_passes`` was built for this
    pipeline's main path; otherwise by scanning the intervals of the leads concerned.
    """
    fast = (
        q.cohort_from is None
        and q.cohort_to is None
        and q.skip_policy == "passed"
        and built_for(conn) in ([], list(pipeline.main_path))
    )
    counts = (
        _daily_counts(conn, pipeline, q)
        if fast
        else _counts(conn, pipeline, q, None).get("", _Counts())
    )
    return _rows(pipeline, counts, q.skip_policy)


def live_leads(conn: sa.Connection, q: FunnelQuery, by: str | None = None) -> dict[str, int]:
    """key → live leads at the instant (captured by then, not merged): ``in_stage``'s sum."""
    lead = LEADS
    select = sa.select(sa.func.count()).where(
        _known(lead.c.captured_at, lead.c.captured_recorded_at, q), _live(lead.c.lead_id, q)
    )
    select, key = _grouped(select.select_from(lead), lead.c.lead_id, q, by, joined=True)
    select = select.add_columns(key.label("key")).group_by(key)
    rows: Any = conn.execute(select)
    return {str(name): int(n) for n, name in rows}


def funnel_by(
    conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery, by: str
) -> list[tuple[str, list[FunnelRow]]]:
    """The funnel per group, groups sorted by key; only groups with a lead in them.

    ``by``: a built-in grouping or a reporting dimension of the pipeline in force (the
    caller checks it against :meth:`~leadflow.domain.pipeline.Pipeline.groupings`)."""
    counts = _counts(conn, pipeline, q, by)
    return [(key, _rows(pipeline, counts[key], q.skip_policy)) for key in sorted(counts)]


def _row_json(row: FunnelRow) -> dict[str, Any]:
    return {
        "stage": row.stage,
        "in_stage": row.in_stage,
        "reached": row.reached,
        "passed": row.passed,
        "conversion_to_next": row.conversion_to_next,
    }


def funnel_json(
    q: FunnelQuery,
    rows: list[FunnelRow] | None = None,
    groups: list[tuple[str, list[FunnelRow]]] | None = None,
    live: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The documented ``leadflow funnel --json`` shape.

    ``live``: :func:`live_leads` of the same query (key ``""`` without groups).
    """
    head = {
        "as_of": q.as_of.isoformat(),
        "as_known_at": q.as_known_at.isoformat() if q.as_known_at else None,
        "skip_policy": q.skip_policy,
    }
    live = live or {}
    if groups is not None:
        return {
            "groups": [
                {
                    "key": key,
                    **head,
                    "live_leads": live.get(key, 0),
                    "stages": [_row_json(row) for row in group_rows],
                }
                for key, group_rows in groups
            ]
        }
    assert rows is not None
    return {**head, "live_leads": live.get("", 0), "stages": [_row_json(row) for row in rows]}
