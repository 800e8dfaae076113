"""The funnel's four figures against a brute-force recomputation from the log.

Random histories (``support.histories``) hold captures into either entry stage, skips
(``mql → sql``, ``sql → customer``), recycles, exits and re-entries, merges and unmerges,
profile updates that change or clear a reporting dimension, and backdated events; each
example is checked at a random business instant ``T`` and, half the time, as known at a
random recording instant ``K``, under both skip policies, on SQLite and on the real
PostgreSQL server.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.projections import FunnelQuery, ProjectionRunner, funnel, funnel_by
from leadflow.projections.funnel import GROUPINGS, SKIP_POLICIES, live_leads
from leadflow.projections.reference import (
    funnel_by_from_events,
    funnel_from_events,
    leads_from_events,
)
from leadflow.service.codec import EventRecord

from support.histories import PIPELINE, build_history, histories, reader

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _instants(history: list[EventRecord], draw: st.DataObject) -> tuple[Any, Any]:
    times = sorted({r.occurred_at for r in history} | {r.recorded_at for r in history})
    offsets = st.sampled_from([timedelta(0), timedelta(seconds=-1), timedelta(minutes=30)])
    as_of = draw.draw(st.sampled_from(times)) + draw.draw(offsets)
    as_known_at = draw.draw(st.none() | st.sampled_from(times))
    if as_known_at is not None:
        as_known_at += draw.draw(offsets)
    return as_of, as_known_at


def _live_by_brute_force(history: list[EventRecord], as_of: Any, as_known_at: Any) -> int:
    """Leads captured by the instant and not then merged into another: folded from the log."""
    counted = [
        r
        for r in history
        if r.occurred_at <= as_of and (as_known_at is None or r.recorded_at <= as_known_at)
    ]
    counted.sort(key=lambda r: (r.occurred_at, r.position))
    leads = leads_from_events(counted)
    return sum(1 for lead in leads.values() if lead.merged_into is None)


@SETTINGS
@given(
    history=histories.filter(bool),
    data=st.data(),
    skip_policy=st.sampled_from(SKIP_POLICIES),
)
def test_the_four_figures_equal_brute_force_as_of_t_and_as_known_at_k(
    runner: ProjectionRunner,
    history: list[EventRecord],
    data: st.DataObject,
    skip_policy: str,
) -> None:
    runner.rebuild(reader(history))
    as_of, as_known_at = _instants(history, data)
    query = FunnelQuery(as_of=as_of, as_known_at=as_known_at, skip_policy=skip_policy)

    with runner.engine.connect() as conn:
        fast = funnel(conn, PIPELINE, query)
        live = live_leads(conn, query).get("", 0)

    assert fast == funnel_from_events(
        history, PIPELINE, as_of, as_known_at, skip_policy=skip_policy
    )
    assert sum(row.in_stage for row in fast) == live
    assert live == _live_by_brute_force(history, as_of, as_known_at)
    for row in fast:
        assert row.conversion_to_next is None or 0 <= row.conversion_to_next <= 1, row
        if row.passed is not None:
            assert row.reached <= row.passed or skip_policy == "strict"


@SETTINGS
@given(
    history=histories.filter(bool),
    data=st.data(),
    by=st.sampled_from(PIPELINE.groupings()),
    cohort=st.booleans(),
    skip_policy=st.sampled_from(SKIP_POLICIES),
)
def test_grouped_and_cohort_figures_equal_brute_force(
    runner: ProjectionRunner,
    history: list[EventRecord],
    data: st.DataObject,
    by: str,
    cohort: bool,
    skip_policy: str,
) -> None:
    runner.rebuild(reader(history))
    as_of, as_known_at = _instants(history, data)
    cohort_from: date | None = None
    cohort_to: date | None = None
    if cohort:
        days = sorted({r.occurred_at.date() for r in history if r.type == "LeadCaptured"})
        cohort_from = data.draw(st.sampled_from(days))
        cohort_to = data.draw(st.sampled_from([d for d in days if d >= cohort_from]))
    query = FunnelQuery(as_of, as_known_at, cohort_from, cohort_to, skip_policy)

    with runner.engine.connect() as conn:
        fast = funnel_by(conn, PIPELINE, query, by)
        live = live_leads(conn, query, by)

    expected = funnel_by_from_events(
        history, PIPELINE, as_of, as_known_at, by, cohort_from, cohort_to, skip_policy
    )
    assert fast == expected
    assert {key: sum(row.in_stage for row in rows) for key, rows in fast} == {
        key: n for key, n in live.items() if n
    }


def test_the_generated_histories_exercise_merges_unmerges_skips_and_recycles() -> None:
    """Guards the properties above against a generator that stops producing the hard cases."""
    kinds: set[str] = set()
    for seed in range(40):
        for record in build_history(seed, 6, 80):
            kinds.add(record.type)
            if record.type == "StageChanged":
                kinds.add(f"kind:{record.data['kind']}")
                if (record.data.get("from_stage"), record.data["stage"]) in {
                    ("mql", "sql"),
                    ("sql", "customer"),
                    ("subscriber", "mql"),
                }:
                    kinds.add("skip")
    assert {"LeadMerged", "LeadUnmerged", "skip", "kind:recycle", "ProfileUpdated"} <= kinds


def test_the_groupings_include_the_pipelines_reporting_dimension() -> None:
    assert PIPELINE.groupings() == (*GROUPINGS, "industry")
