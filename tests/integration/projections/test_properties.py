"""Properties of the read models over random histories (see ``projection_histories``)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.projections import FunnelQuery, funnel, funnel_by
from leadflow.projections.funnel import GROUPINGS
from leadflow.projections.reference import funnel_by_from_events, funnel_from_events
from leadflow.service.codec import EventRecord

from support.histories import (
    PIPELINE,
    dump,
    histories,
    interleavings,
    reader,
    scratch_runner,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(history=histories, batch_size=st.integers(1, 40), split=st.floats(0, 1))
def test_incremental_catch_up_builds_the_same_tables_as_a_full_rebuild(
    history: list[EventRecord], batch_size: int, split: float
) -> None:
    incremental = scratch_runner(batch_size=batch_size)
    cut = int(len(history) * split)
    incremental.catch_up(reader(history[:cut]))
    incremental.catch_up(reader(history))
    incremental.catch_up(reader(history))  # nothing new: nothing changes

    rebuilt = scratch_runner()
    rebuilt.rebuild(reader(history))

    assert dump(incremental) == dump(rebuilt)
    assert set(incremental.positions().values()) == {history[-1].position if history else 0}


@SETTINGS
@given(history=histories, seed=st.integers(0, 2**32), batch_size=st.integers(1, 30))
def test_any_interleaving_across_leads_that_keeps_each_leads_order_gives_the_same_tables(
    history: list[EventRecord], seed: int, batch_size: int
) -> None:
    in_log_order = scratch_runner()
    in_log_order.catch_up(reader(history))

    shuffled = interleavings(history, seed)
    fed = scratch_runner()
    with fed.engine.begin() as conn:
        for start in range(0, len(shuffled), batch_size):
            for projection in fed.projections:
                projection.handle(conn, shuffled[start : start + batch_size])

    assert dump(fed, positions=False) == dump(in_log_order, positions=False)


def _instants(history: list[EventRecord], draw: st.DataObject) -> tuple:  # type: ignore[type-arg]
    times = sorted({r.occurred_at for r in history} | {r.recorded_at for r in history})
    offsets = st.sampled_from([timedelta(0), timedelta(seconds=-1), timedelta(minutes=30)])
    as_of = draw.draw(st.sampled_from(times)) + draw.draw(offsets)
    as_known_at = draw.draw(st.none() | st.sampled_from(times))
    if as_known_at is not None:
        as_known_at += draw.draw(offsets)
    return as_of, as_known_at


@SETTINGS
@given(history=histories.filter(bool), data=st.data())
def test_funnel_as_of_and_as_known_at_equals_brute_force_over_the_log(
    history: list[EventRecord], data: st.DataObject
) -> None:
    runner = scratch_runner()
    runner.catch_up(reader(history))
    as_of, as_known_at = _instants(history, data)
    query = FunnelQuery(as_of=as_of, as_known_at=as_known_at)

    with runner.engine.connect() as conn:
        fast = funnel(conn, PIPELINE, query)

    assert fast == funnel_from_events(history, PIPELINE, as_of, as_known_at)


@SETTINGS
@given(
    history=histories.filter(bool),
    data=st.data(),
    by=st.sampled_from(GROUPINGS),
    cohort=st.booleans(),
)
def test_grouped_and_cohort_funnels_equal_brute_force_over_the_log(
    history: list[EventRecord], data: st.DataObject, by: str, cohort: bool
) -> None:
    runner = scratch_runner()
    runner.catch_up(reader(history))
    as_of, as_known_at = _instants(history, data)
    cohort_from: date | None = None
    cohort_to: date | None = None
    if cohort:
        days = sorted({r.occurred_at.date() for r in history if r.type == "LeadCaptured"})
        cohort_from = data.draw(st.sampled_from(days))
        cohort_to = data.draw(st.sampled_from([d for d in days if d >= cohort_from]))
    query = FunnelQuery(as_of, as_known_at, cohort_from, cohort_to)

    with runner.engine.connect() as conn:
        fast = funnel_by(conn, PIPELINE, query, by)

    expected = funnel_by_from_events(
        history, PIPELINE, as_of, as_known_at, by, cohort_from, cohort_to
    )
    assert fast == expected
