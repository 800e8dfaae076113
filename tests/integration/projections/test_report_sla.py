"""``report sla`` and the ``breaches`` read model, against a recomputation from the log."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.projections import FunnelQuery, ProjectionRunner
from leadflow.projections.breaches import sla_report
from leadflow.projections.reference_reports import sla_from_events
from leadflow.service.codec import EventRecord

from support.cli import as_json, demo_store, invoke
from support.histories import build_history, dump, reader
from support.pipelines import pipeline_with

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

WATCHED = pipeline_with(
    sla={
        "handoff": {"id": "handoff-sla", "escalate_to": "manager:sales", "reassign_to": "rep:c"},
        "stage": {"id": "stage-sla"},
    }
)
"""The shipped pipeline with every stage SLA watched and breached hand-offs reassigned."""

breach_histories = st.builds(
    build_history,
    seed=st.integers(0, 2**32),
    leads=st.integers(1, 6),
    steps=st.integers(20, 120),
    pipeline=st.just(WATCHED),
)


def test_the_generated_histories_breach_stage_and_hand_off_slas_and_escalate() -> None:
    kinds = {
        (r.type, str(r.data.get("sla", "")).partition(":")[0])
        for seed in range(20)
        for r in build_history(seed, 5, 120, WATCHED)
        if r.type in ("SlaBreached", "HandOffEscalated")
    }
    assert kinds == {("SlaBreached", "stage"), ("SlaBreached", "handoff"), ("HandOffEscalated", "")}


@SETTINGS
@given(history=breach_histories, data=st.data(), cohort=st.booleans(), period=st.booleans())
def test_sla_report_equals_a_recomputation_from_the_log(
    runner: ProjectionRunner,
    history: list[EventRecord],
    data: st.DataObject,
    cohort: bool,
    period: bool,
) -> None:
    runner.rebuild(reader(history))
    times = sorted({r.occurred_at for r in history} | {r.recorded_at for r in history})
    as_of = data.draw(st.sampled_from(times)) + timedelta(
        minutes=data.draw(st.sampled_from([0, 30]))
    )
    # Just before a breach was recorded: where "as known at" differs from "as of".
    breach_times = [
        r.recorded_at - timedelta(microseconds=1)
        for r in history
        if r.type in ("SlaBreached", "HandOffEscalated")
    ]
    as_known_at = data.draw(
        st.sampled_from(breach_times)
        if breach_times and data.draw(st.booleans())
        else st.none() | st.sampled_from(times)
    )
    days = sorted({r.occurred_at.date() for r in history})
    cohort_from = cohort_to = None
    if cohort:
        cohort_from = data.draw(st.sampled_from(days))
        cohort_to = data.draw(st.sampled_from([d for d in days if d >= cohort_from]))
    window: tuple[date, date] | None = None
    if period:
        first = data.draw(st.sampled_from(days))
        window = (first, data.draw(st.sampled_from([d for d in days if d >= first])))

    with runner.engine.connect() as conn:
        fast = sla_report(
            conn, WATCHED, FunnelQuery(as_of, as_known_at, cohort_from, cohort_to), window
        )

    assert fast == sla_from_events(
        history, WATCHED, as_of, as_known_at, cohort_from, cohort_to, window
    )


@SETTINGS
@given(history=breach_histories, batch_size=st.integers(1, 6))
def test_breaches_fed_in_small_batches_equal_a_rebuild(
    runner: ProjectionRunner, history: list[EventRecord], batch_size: int
) -> None:
    runner.rebuild(reader(history))
    rebuilt = dump(runner)["lf_sla_breaches"]
    breaches = runner.projection("breaches")
    with runner.engine.begin() as conn:
        breaches.reset(conn)
    for start in range(0, len(history), batch_size):  # an escalation apart from its breach
        with runner.engine.begin() as conn:
            breaches.handle(conn, history[start : start + batch_size])

    assert dump(runner)["lf_sla_breaches"] == rebuilt


def test_report_sla_on_the_demo_json_csv_and_refusals(tmp_path: Path) -> None:
    url = demo_store(tmp_path)
    answer = as_json("report", "sla", "--as-of", "2026-06-30", "--db", url)

    assert set(answer) == {
        "as_of",
        "as_known_at",
        "cohort_from",
        "cohort_to",
        "period",
        "total",
        "by_stage",
        "by_team",
        "by_rep",
    }
    assert answer["total"]["stage_sla_breaches"] > 0, "the demo watches stage SLAs"
    for part in ("by_stage", "by_team", "by_rep"):
        for key in ("stage_sla_breaches", "handoff_sla_breaches", "escalations"):
            assert sum(row[key] for row in answer[part]) == answer["total"][key]
    lines = invoke("report", "sla", "--csv", "--as-of", "2026-06-30", "--db", url).stdout
    rows = lines.splitlines()
    assert rows[0] == "by,key,stage_sla_breaches,handoff_sla_breaches,escalations,leads"
    assert len(rows) == 2 + sum(len(answer[p]) for p in ("by_stage", "by_team", "by_rep"))
    early = as_json("report", "sla", "--period", "2025-07-01..2025-07-31", "--db", url)
    assert early["total"]["stage_sla_breaches"] < answer["total"]["stage_sla_breaches"]
    cohort = as_json(
        "report",
        "sla",
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
    assert 0 < cohort["total"]["leads"] < answer["total"]["leads"]
    invoke("report", "sla", "--period", "2026-03-31..2026-01-01", "--db", url, expect=2)
    invoke(
        "report",
        "sla",
        "--cohort-from",
        "2026-03-31",
        "--cohort-to",
        "2026-01-01",
        "--db",
        url,
        expect=2,
    )
    invoke("report", "sla", "--as-of", "yesterday", "--db", url, expect=2)
