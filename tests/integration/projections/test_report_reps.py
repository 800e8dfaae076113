"""``report reps``: per-rep performance, against a recomputation from the log."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.projections import FunnelQuery, ProjectionRunner
from leadflow.projections.reference_reports import reps_from_events
from leadflow.projections.reps import rep_report
from leadflow.service.codec import EventRecord

from support.cli import as_json, demo_store, invoke
from support.histories import build_history, capture_cohort, reader

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

rep_histories = st.builds(
    build_history, seed=st.integers(0, 2**32), leads=st.integers(1, 6), steps=st.integers(20, 150)
)

_WATCHED = ("LeadAssigned", "LeadClaimed", "HandOffAccepted", "ActivityRecorded", "DealWon")


@SETTINGS
@given(history=rep_histories, data=st.data(), period=st.booleans(), cohort=st.booleans())
def test_rep_report_equals_a_recomputation_from_the_log(
    runner: ProjectionRunner,
    history: list[EventRecord],
    data: st.DataObject,
    period: bool,
    cohort: bool,
) -> None:
    runner.rebuild(reader(history))
    times = sorted({r.occurred_at for r in history} | {r.recorded_at for r in history})
    as_of = data.draw(st.sampled_from(times)) + timedelta(
        minutes=data.draw(st.sampled_from([0, 30]))
    )
    # Just before an event of the report was recorded: "as known at" differs from "as of".
    recorded = [r.recorded_at - timedelta(microseconds=1) for r in history if r.type in _WATCHED]
    as_known_at = data.draw(
        st.sampled_from(recorded)
        if recorded and data.draw(st.booleans())
        else st.none() | st.sampled_from(times)
    )
    window: tuple[date, date] | None = None
    if period:
        days = sorted({r.occurred_at.date() for r in history})
        first = data.draw(st.sampled_from(days))
        window = (first, data.draw(st.sampled_from([d for d in days if d >= first])))

    cohort_from, cohort_to = capture_cohort(data, history) if cohort else (None, None)

    with runner.engine.connect() as conn:
        fast = rep_report(conn, FunnelQuery(as_of, as_known_at, cohort_from, cohort_to), window)

    assert fast == reps_from_events(history, as_of, as_known_at, window, cohort_from, cohort_to)
    for row in fast:
        h = row.handoffs
        assert h.met + h.late + h.pending + h.overdue == h.received
        assert row.followed_up == row.time_to_first_touch.finished <= row.assigned


def test_the_generated_histories_give_reps_touches_hand_offs_and_wins() -> None:
    rows = [
        row
        for seed in range(10)
        for row in reps_from_events(
            build_history(seed, 5, 150), build_history(seed, 5, 150)[-1].occurred_at
        )
    ]
    assert any(row.followed_up for row in rows)
    assert any(row.handoffs.met + row.handoffs.late for row in rows)
    assert any(row.won for row in rows)


def test_report_reps_on_the_demo_json_csv_and_refusals(tmp_path: Path) -> None:
    url = demo_store(tmp_path)
    answer = as_json("report", "reps", "--as-of", "2026-06-30", "--db", url)

    assert set(answer) == {"as_of", "as_known_at", "cohort_from", "cohort_to", "period", "reps"}
    assert answer["reps"], "the demo has reps"
    rep = answer["reps"][0]
    assert set(rep) == {
        "rep",
        "assigned",
        "followed_up",
        "time_to_first_touch",
        "handoffs",
        "converted",
        "won",
    }
    assert set(rep["handoffs"]) == {
        "received",
        "met",
        "late",
        "pending",
        "overdue",
        "sla_met_share",
    }
    won = as_json("report", "revenue", "--as-of", "2026-06-30", "--db", url)["won_by_month"]
    # Each deal won by one owner (the demo's leads change hands, and every won lead has one).
    assert sum(w["deals"] for r in answer["reps"] for w in r["won"]) == sum(m["deals"] for m in won)
    csv = invoke("report", "reps", "--csv", "--as-of", "2026-06-30", "--db", url).stdout
    lines = csv.splitlines()
    assert lines[0].startswith("rep,assigned,followed_up,first_touch_median_days")
    assert len(lines) == 1 + sum(max(len(r["won"]), 1) for r in answer["reps"])
    earlier = as_json("report", "reps", "--as-known-at", "2026-01-01", "--db", url)
    assert sum(r["assigned"] for r in earlier["reps"]) < sum(r["assigned"] for r in answer["reps"])
    cohort = as_json(
        "report",
        "reps",
        "--as-of",
        "2026-06-30",
        "--cohort-from",
        "2026-01-01",
        "--cohort-to",
        "2026-03-31",
        "--db",
        url,
    )
    assert (cohort["cohort_from"], cohort["cohort_to"]) == ("2026-01-01", "2026-03-31")
    assert (
        0 < sum(r["assigned"] for r in cohort["reps"]) < sum(r["assigned"] for r in answer["reps"])
    )
    invoke("report", "reps", "--period", "2026-03-31..2026-01-01", "--db", url, expect=2)
    invoke(
        "report",
        "reps",
        "--cohort-from",
        "2026-03-31",
        "--cohort-to",
        "2026-01-01",
        "--db",
        url,
        expect=2,
    )
    invoke("report", "reps", "--as-known-at", "soon", "--db", url, expect=2)
