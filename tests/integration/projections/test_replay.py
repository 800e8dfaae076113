"""What-if replay: recorded behaviour decided again under other rules, never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadflow.adapters.store import open_store
from leadflow.projections.replay import replay
from leadflow.service.application import Leadflow
from leadflow.service.pipeline_files import (
    default_pipeline,
    default_pipeline_text,
    load_pipeline,
)

from support.cli import as_json, demo_store
from support.clock import FakeClock

WEBINAR_MAKES_MQL = """
[[automation]]
id = "webinar-makes-mql"
description = "Attending a webinar qualifies a lead for marketing."
when = { event = "ActivityRecorded", stage = "lead", data = { activity = "webinar" } }
then = { stage = "mql" }
"""


@pytest.fixture
def webinar_pipeline(tmp_path: Path) -> Path:
    text = default_pipeline_text()
    path = tmp_path / "webinar.toml"
    path.write_text(text + WEBINAR_MAKES_MQL, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return demo_store(tmp_path_factory.mktemp("demo"))


def test_a_rule_that_would_have_made_webinar_attendees_mql_shows_who_and_when(
    app: Leadflow, clock: FakeClock, webinar_pipeline: Path
) -> None:
    attendee = app.capture(email="a@example.com").lead_id
    clock.advance(days=1)
    webinar_at = clock.now
    app.record_activity(attendee, "webinar")
    promoted = app.capture(email="b@example.com").lead_id
    clock.advance(days=2)
    app.change_stage(promoted, "mql")
    idle = app.capture(email="c@example.com").lead_id
    app.record_activity(idle, "page_visit")
    log_before = list(app.read_events(include_org=True))

    result = replay(
        app.read_events(), app.pipeline, load_pipeline(webinar_pipeline), clock.now, stage="mql"
    )

    assert [(c.lead_id, c.actual_at, c.replayed_at) for c in result.changes] == [
        (attendee, None, webinar_at)
    ]
    assert result.leads == 3
    actual = {row.stage: row for row in result.actual}
    replayed = {row.stage: row for row in result.replayed}
    assert (actual["mql"].reached, replayed["mql"].reached) == (1, 2)
    assert (actual["lead"].in_stage, replayed["lead"].in_stage) == (2, 1)
    assert list(app.read_events(include_org=True)) == log_before


def test_replaying_the_demo_under_the_pipeline_in_force_changes_nothing(demo_url: str) -> None:
    app = open_store(demo_url)
    as_of = max(r.occurred_at for r in app.read_events())

    result = replay(app.read_events(), app.pipeline, app.pipeline, as_of)

    # every lead the demo captured (300 people, a few captured twice under a new address)
    assert result.leads == sum(1 for _ in app.read_events(types=["LeadCaptured"]))
    assert result.changes == []
    assert result.replayed == result.actual
    assert result.refused == 0


def test_replay_cli_prints_the_difference_and_leaves_the_log_alone(
    demo_url: str, webinar_pipeline: Path
) -> None:
    app = open_store(demo_url)
    head = app.max_position()

    answer = as_json("replay", "--pipeline", str(webinar_pipeline), "--db", demo_url)

    assert app.max_position() == head
    assert answer["stage"] == "mql"
    assert answer["summary"]["only_replayed"] + answer["summary"]["earlier"] > 0
    assert answer["summary"]["only_actual"] == 0
    mql = next(row for row in answer["funnel_delta"] if row["stage"] == "mql")
    assert mql["reached_delta"] == answer["summary"]["only_replayed"]
    assert all(change["replayed_at"] for change in answer["changes"])
    assert default_pipeline().version != load_pipeline(webinar_pipeline).version


def test_a_lower_mql_threshold_makes_leads_mql_sooner_and_shows_the_funnel_delta(
    demo_url: str, tmp_path: Path
) -> None:
    text = default_pipeline_text()
    assert "threshold = 50" in text
    lower = tmp_path / "lower.toml"
    lower.write_text(text.replace("threshold = 50", "threshold = 20"), encoding="utf-8")
    app = open_store(demo_url)
    as_of = max(r.occurred_at for r in app.read_events())

    result = replay(app.read_events(), app.pipeline, load_pipeline(lower), as_of)

    sooner = [c for c in result.changes if c.actual_at is None or c.replayed_at < c.actual_at]  # type: ignore[operator]
    assert sooner
    assert all(c.replayed_at is not None for c in result.changes)
    actual = {row.stage: row.reached for row in result.actual}
    replayed = {row.stage: row.reached for row in result.replayed}
    assert replayed["mql"] - actual["mql"] == sum(1 for c in result.changes if c.actual_at is None)
