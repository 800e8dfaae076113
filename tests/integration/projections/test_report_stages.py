"""``report stages``: time in stage and velocity, against a recomputation from the log."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.projections import FunnelQuery, ProjectionRunner
from leadflow.projections.reference_stages import stage_times_from_events
from leadflow.projections.velocity import kaplan_meier_quantile, stage_times
from leadflow.service.codec import EventRecord

from support.cli import as_json, invoke
from support.histories import PIPELINE, histories, reader

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_kaplan_meier_drops_censored_leads_from_the_risk_set_instead_of_finishing_them() -> None:
    # Two leads still waiting at day 5: counting them as finished would put the median at 5.
    samples = [(1.0, True), (5.0, False), (5.0, False), (6.0, True)]

    assert kaplan_meier_quantile(samples, 0.5) == 6.0
    assert kaplan_meier_quantile([(1.0, True), (2.0, True), (3.0, True), (4.0, True)], 0.5) == 2.0
    assert kaplan_meier_quantile([(1.0, True), (2.0, True), (3.0, True), (4.0, True)], 0.9) == 4.0
    assert kaplan_meier_quantile([(1.0, True), (9.0, False), (9.0, False)], 0.5) is None
    assert kaplan_meier_quantile([], 0.5) is None


def _instants(history: list[EventRecord], draw: st.DataObject) -> tuple[Any, Any]:
    times = sorted({r.occurred_at for r in history} | {r.recorded_at for r in history})
    as_of = draw.draw(st.sampled_from(times)) + timedelta(
        minutes=draw.draw(st.sampled_from([0, 30]))
    )
    as_known_at = draw.draw(st.none() | st.sampled_from(times))
    return as_of, as_known_at


@SETTINGS
@given(history=histories.filter(bool), data=st.data(), cohort=st.booleans(), period=st.booleans())
def test_stage_times_equal_a_recomputation_from_the_log(
    runner: ProjectionRunner,
    history: list[EventRecord],
    data: st.DataObject,
    cohort: bool,
    period: bool,
) -> None:
    runner.rebuild(reader(history))
    as_of, as_known_at = _instants(history, data)
    days = sorted({r.occurred_at.date() for r in history})
    cohort_from = cohort_to = None
    if cohort:
        cohort_from = data.draw(st.sampled_from(days))
        cohort_to = data.draw(st.sampled_from([d for d in days if d >= cohort_from]))
    window: tuple[date, date] | None = None
    if period:
        first = data.draw(st.sampled_from(days))
        window = (first, data.draw(st.sampled_from([d for d in days if d >= first])))
    query = FunnelQuery(as_of, as_known_at, cohort_from, cohort_to)

    with runner.engine.connect() as conn:
        fast = stage_times(conn, PIPELINE, query, window)

    assert fast == stage_times_from_events(
        history, PIPELINE, as_of, as_known_at, cohort_from, cohort_to, window
    )
    for row in fast:
        assert row.time_in_stage.finished + row.time_in_stage.censored == row.entered


def test_report_stages_json_csv_and_refusals(tmp_path: Any) -> None:
    from support.cli import demo_store

    url = demo_store(tmp_path)
    answer = as_json("report", "stages", "--as-of", "2026-06-30", "--db", url)
    assert set(answer) == {"as_of", "as_known_at", "cohort_from", "cohort_to", "period", "stages"}
    sal = next(s for s in answer["stages"] if s["stage"] == "sal")
    assert set(sal["to_next"]) == {"leads", "finished", "censored", "median_days", "p90_days"}
    assert next(s for s in answer["stages"] if s["stage"] == "churned")["to_next"] is None
    lines = invoke("report", "stages", "--csv", "--db", url).stdout.splitlines()
    assert lines[0].startswith("stage,entered,time_in_stage_median_days")
    assert len(lines) == 1 + len(answer["stages"])
    windowed = as_json(
        "report",
        "stages",
        "--period",
        "2026-01-01..2026-03-31",
        "--cohort-from",
        "2025-10-01",
        "--db",
        url,
    )
    assert windowed["period"] == ["2026-01-01", "2026-03-31"]
    invoke("report", "stages", "--period", "2026-03-31..2026-01-01", "--db", url, expect=2)
    invoke("report", "stages", "--period", "March", "--db", url, expect=2)
    invoke("report", "--db", url, expect=2)
