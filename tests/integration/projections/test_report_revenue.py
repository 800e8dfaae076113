"""``report revenue``: won amounts and open pipeline value, against the raw log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.projections import FunnelQuery, ProjectionRunner
from leadflow.projections.reference_revenue import revenue_from_events
from leadflow.projections.revenue import revenue
from leadflow.service.codec import EventRecord

from support.cli import as_json, demo_store, invoke
from support.histories import PIPELINE, build_history, capture_cohort, reader

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


deal_histories = st.builds(
    build_history, seed=st.integers(0, 2**32), leads=st.integers(2, 5), steps=st.integers(80, 200)
)
"""Longer histories: enough of them reach conversions, wins, losses and merged deal holders."""


@SETTINGS
@given(history=deal_histories, data=st.data())
def test_revenue_equals_a_recomputation_from_the_log(
    runner: ProjectionRunner, history: list[EventRecord], data: st.DataObject
) -> None:
    runner.rebuild(reader(history))
    times = sorted({r.occurred_at for r in history} | {r.recorded_at for r in history})
    as_of = data.draw(st.sampled_from(times)) + timedelta(
        minutes=data.draw(st.sampled_from([0, 30]))
    )
    # Just before a deal event was recorded: where "as known at" differs from "as of".
    deal_times = [
        r.recorded_at - timedelta(microseconds=1)
        for r in history
        if r.type in ("LeadConverted", "DealWon", "DealLost")
    ]
    as_known_at = data.draw(
        st.sampled_from(deal_times)
        if deal_times and data.draw(st.booleans())
        else st.none() | st.sampled_from(times)
    )
    if data.draw(st.booleans()):
        as_of = times[-1]  # the whole history: every deal event counts in business time
    cohort_from, cohort_to = capture_cohort(data, history)

    with runner.engine.connect() as conn:
        fast = revenue(conn, PIPELINE, FunnelQuery(as_of, as_known_at, cohort_from, cohort_to))

    assert fast == revenue_from_events(
        history, PIPELINE, as_of, as_known_at, cohort_from, cohort_to
    )


def test_the_generated_histories_win_deals_with_amounts() -> None:
    won = [r for seed in range(30) for r in build_history(seed, 6, 80) if r.type == "DealWon"]
    assert any(r.data.get("amount") for r in won)


def test_report_revenue_json_and_csv_on_the_demo(tmp_path: Path) -> None:
    url = demo_store(tmp_path)
    answer = as_json("report", "revenue", "--as-of", "2026-06-30", "--db", url)

    assert set(answer) == {
        "as_of",
        "as_known_at",
        "cohort_from",
        "cohort_to",
        "won_by_month",
        "pipeline_by_stage",
    }
    assert answer["won_by_month"], "the demo wins deals"
    months = [row["month"] for row in answer["won_by_month"]]
    assert months == sorted(months)
    assert all(row["amount"] > 0 for row in answer["won_by_month"])
    lines = invoke("report", "revenue", "--csv", "--as-of", "2026-06-30", "--db", url).stdout
    assert lines.splitlines()[0] == "kind,key,currency,deals,amount"
    assert len(lines.splitlines()) == 1 + len(answer["won_by_month"]) + len(
        answer["pipeline_by_stage"]
    )


def test_a_cohort_keeps_only_the_deals_of_the_leads_captured_in_it(
    runner: ProjectionRunner,
) -> None:
    differed = 0
    for seed in range(12):
        history = build_history(seed, 5, 200)
        as_of = history[-1].occurred_at
        first = min(r.occurred_at for r in history if r.type == "LeadCaptured").date()
        everyone = revenue_from_events(history, PIPELINE, as_of)
        cohort = revenue_from_events(history, PIPELINE, as_of, None, first, first)
        if cohort == everyone:
            continue
        differed += 1
        runner.rebuild(reader(history))
        with runner.engine.connect() as conn:
            assert revenue(conn, PIPELINE, FunnelQuery(as_of, None, first, first)) == cohort
    assert differed, "some histories win deals for leads captured after the first day"
