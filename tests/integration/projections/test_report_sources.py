"""``report sources``: the funnel and won revenue per source, campaign or reporting
dimension, against a recomputation from the log, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.projections import FunnelQuery, ProjectionRunner
from leadflow.projections.reference_reports import sources_from_events
from leadflow.projections.sources import source_report
from leadflow.service.codec import EventRecord

from support.cli import as_json, demo_store, invoke
from support.histories import PIPELINE, build_history, reader

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

source_histories = st.builds(
    build_history, seed=st.integers(0, 2**32), leads=st.integers(1, 4), steps=st.integers(60, 250)
)
"""Few leads, long lives: about a third of these histories win a deal (of 1-6 leads over
20-150 steps, 1 in 30 does)."""

_WATCHED = ("LeadCaptured", "ProfileUpdated", "DealWon", "LeadMerged", "LeadUnmerged")


@SETTINGS
@given(
    history=source_histories,
    data=st.data(),
    by=st.sampled_from(["source", "campaign", "industry", "industry", "region", "owner"]),
    cohort=st.booleans(),
    period=st.booleans(),
)
def test_report_sources_equals_a_recomputation_from_the_log(
    runner: ProjectionRunner,
    history: list[EventRecord],
    data: st.DataObject,
    by: str,
    cohort: bool,
    period: bool,
) -> None:
    runner.rebuild(reader(history))
    times = sorted({r.occurred_at for r in history} | {r.recorded_at for r in history})
    as_of = data.draw(st.sampled_from(times)) + timedelta(
        minutes=data.draw(st.sampled_from([0, 30]))
    )
    # Just before a profile update, a win or a merge was recorded: "as known at" differs.
    recorded = [r.recorded_at - timedelta(microseconds=1) for r in history if r.type in _WATCHED]
    as_known_at = data.draw(
        st.sampled_from(recorded)
        if recorded and data.draw(st.booleans())
        else st.none() | st.sampled_from(times)
    )
    days = sorted({r.occurred_at.date() for r in history})
    cohort_from: date | None = None
    cohort_to: date | None = None
    if cohort:
        cohort_from = data.draw(st.sampled_from(days))
        cohort_to = data.draw(st.sampled_from([d for d in days if d >= cohort_from]))
    window: tuple[date, date] | None = None
    if period:
        first = data.draw(st.sampled_from(days))
        window = (first, data.draw(st.sampled_from([d for d in days if d >= first])))
    query = FunnelQuery(as_of, as_known_at, cohort_from, cohort_to)

    with runner.engine.connect() as conn:
        fast = source_report(conn, PIPELINE, query, by, window)

    assert fast == sources_from_events(
        history, PIPELINE, as_of, as_known_at, by, cohort_from, cohort_to, window
    )
    for row in fast:
        assert [s.stage for s in row.stages] == PIPELINE.main_path
        for s in row.stages:
            assert s.conversion_to_next is None or 0 <= s.conversion_to_next <= 1


def test_the_generated_histories_change_dimensions_merge_and_win() -> None:
    """Guards the property above against a generator that stops producing the hard cases."""
    kinds: set[str] = set()
    for seed in range(10):
        history = build_history(seed, 5, 150)
        kinds |= {r.type for r in history}
        rows = sources_from_events(history, PIPELINE, history[-1].occurred_at, by="industry")
        if len(rows) > 1 and any(row.won for row in rows):
            kinds.add("won in several groups")
        if any(
            r.type == "ProfileUpdated" and r.data["changes"].get("attributes.industry") is None
            for r in history
        ):
            kinds.add("cleared")
    assert {"ProfileUpdated", "LeadMerged", "LeadUnmerged", "DealWon"} <= kinds
    assert {"won in several groups", "cleared"} <= kinds


def test_report_sources_on_the_demo_json_csv_and_refusals(tmp_path: Path) -> None:
    url = demo_store(tmp_path)
    answer = as_json("report", "sources", "--as-of", "2026-06-30", "--db", url)

    assert set(answer) == {
        "as_of",
        "as_known_at",
        "by",
        "cohort_from",
        "cohort_to",
        "period",
        "groups",
    }
    assert answer["by"] == "source"
    group = answer["groups"][0]
    assert set(group) == {"key", "live_leads", "stages", "won"}
    assert set(group["stages"][0]) == {"stage", "passed", "conversion_to_next"}
    funnel = as_json("funnel", "--by", "source", "--as-of", "2026-06-30", "--db", url)
    assert [g["key"] for g in answer["groups"]] == [g["key"] for g in funnel["groups"]]
    for ours, theirs in zip(answer["groups"], funnel["groups"], strict=True):
        assert ours["live_leads"] == theirs["live_leads"]
        main = [s for s in theirs["stages"] if s["passed"] is not None]
        assert ours["stages"] == [
            {k: s[k] for k in ("stage", "passed", "conversion_to_next")} for s in main
        ]
    won = as_json("report", "revenue", "--as-of", "2026-06-30", "--db", url)["won_by_month"]
    assert sum(w["deals"] for g in answer["groups"] for w in g["won"]) == sum(
        m["deals"] for m in won
    )

    by_industry = as_json("report", "sources", "--by", "industry", "--db", url)
    assert len(by_industry["groups"]) > 1  # the demo captures an industry for every lead
    assert sum(g["live_leads"] for g in by_industry["groups"]) == sum(
        g["live_leads"] for g in as_json("report", "sources", "--db", url)["groups"]
    )
    csv = invoke("report", "sources", "--csv", "--as-of", "2026-06-30", "--db", url).stdout
    lines = csv.splitlines()
    assert lines[0].startswith("key,live_leads,subscriber_passed,subscriber_conversion_to_next")
    assert len(lines) == 1 + sum(max(len(g["won"]), 1) for g in answer["groups"])
    in_period = as_json("report", "sources", "--period", "2026-03-01..2026-03-31", "--db", url)
    assert sum(w["deals"] for g in in_period["groups"] for w in g["won"]) < sum(
        w["deals"] for g in answer["groups"] for w in g["won"]
    )

    refused = invoke("report", "sources", "--by", "linkedin", "--db", url, expect=2)
    assert "by: 'linkedin' is not one of" in refused.stderr
    assert "industry" in refused.stderr
    invoke("report", "sources", "--by", "email", "--db", url, expect=2)
    invoke("funnel", "--by", "nothing", "--db", url, expect=2)
    invoke("report", "sources", "--period", "2026-03-31..2026-01-01", "--db", url, expect=2)
    invoke("report", "sources", "--as-known-at", "soon", "--db", url, expect=2)
    invoke("report", "sources", "--cohort-from", "March", "--db", url, expect=2)
