"""``leadflow explain``: how a score came to be, read from the lead's events alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID

import orjson
from typer.testing import CliRunner

from leadflow.adapters.cli import app as cli
from leadflow.adapters.store import open_store
from leadflow.domain.explain import Cause, explain_lead
from leadflow.domain.pipeline import parse_pipeline
from leadflow.service.application import Leadflow

from support.clock import FakeClock
from support.pipelines import default_document
from support.stores import on_roster


def _engaged_lead(app: Leadflow, clock: FakeClock) -> str:
    lead_id = app.capture(
        email="a@example.com", company="Acme", attributes={"industry": "software"}
    ).lead_id
    for kind in ("webinar", "download", "unsubscribe"):
        clock.advance(hours=2)
        app.record_activity(lead_id, kind)
    return str(lead_id)


def test_explain_lists_every_score_change_with_rule_delta_and_score(
    app: Leadflow, clock: FakeClock
) -> None:
    lead_id = _engaged_lead(app, clock)
    clock.advance(days=45)
    app.sweep()
    history = app.lead_history(UUID(lead_id))
    explanation = explain_lead(history[0].lead_id, history, app.pipeline_log().versions.get)
    assert [(s.rule, s.delta, s.score) for s in explanation.steps] == [
        ("fit-industry", 15.0, 15.0),
        ("fit-company-known", 5.0, 20.0),
        ("webinar", 20.0, 40.0),
        ("download", 10.0, 50.0),
        ("unsubscribed", -30.0, 20.0),
        ("decay", -2.0, 18.0),
    ]
    assert explanation.steps[2].cause == Cause(4, "ActivityRecorded")
    assert explanation.steps[-1].due_at == history[-2].occurred_at + timedelta(days=30)
    assert explanation.score == 18.0
    assert explanation.consistent
    [promotion] = explanation.promotions
    assert (promotion.rule, promotion.stage, promotion.score) == ("mql-threshold", "mql", 50.0)
    assert promotion.threshold == 50


def test_the_promotion_threshold_is_the_one_in_force_then_not_today(
    app: Leadflow, clock: FakeClock
) -> None:
    lead_id = _engaged_lead(app, clock)
    document = default_document()
    document["scoring"]["mql"]["threshold"] = 70
    app.activate_pipeline(parse_pipeline(document))
    history = app.lead_history(UUID(lead_id))
    explanation = explain_lead(history[0].lead_id, history, app.pipeline_log().versions.get)
    assert explanation.promotions[0].threshold == 50


def test_the_explain_command_prints_the_table_and_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    clock = FakeClock()
    lf = open_store(url, clock=clock)
    lead_id = _engaged_lead(lf, clock)
    lf.close()
    runner = CliRunner()
    text = runner.invoke(cli, ["--db", url, "explain", lead_id])
    assert text.exit_code == 0, text.output
    assert "fit-industry" in text.output
    assert "mql-threshold: lead → mql at score 50 (threshold 50" in text.output
    as_json = runner.invoke(cli, ["--db", url, "explain", lead_id, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = orjson.loads(as_json.stdout)
    assert [s["rule"] for s in data["steps"]][-1] == "unsubscribed"
    assert data["score"] == 20.0
    assert data["consistent"] is True


def test_explain_of_an_unknown_lead_exits_not_found(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    result = CliRunner().invoke(
        cli, ["--db", url, "explain", "00000000-0000-4000-8000-00000000abcd"]
    )
    assert result.exit_code == 4


def test_the_sweep_command_is_idempotent_at_the_same_now(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    lf = open_store(url, clock=FakeClock())
    lead_id = lf.capture(email="a@example.com", at=None).lead_id
    on_roster(lf, "rep:mei")
    lf.assign(lead_id, "rep:mei")
    lf.close()
    runner = CliRunner()
    args = ["--db", url, "sweep", "--now", "2026-02-01T00:00:00+00:00", "--json"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert orjson.loads(first.stdout)["by_rule"] == {"no-follow-up": 1}
    second = runner.invoke(cli, args)
    assert orjson.loads(second.stdout)["events"] == 0


def test_the_qualify_command_records_bant_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    lf = open_store(url, clock=FakeClock())
    lead_id = lf.capture(email="a@example.com").lead_id
    lf.change_stage(lead_id, "mql")
    lf.close()
    result = CliRunner().invoke(
        cli, ["--db", url, "qualify", str(lead_id), "--budget", "--need", "--timeline", "--json"]
    )
    assert result.exit_code == 0, result.output
    types = [e["type"] for e in orjson.loads(result.stdout)["events"]]
    assert types == ["QualificationRecorded", "StatusChanged", "StageChanged"]
    nothing = CliRunner().invoke(cli, ["--db", url, "qualify", str(lead_id), "--json"])
    assert nothing.exit_code == 2
    assert orjson.loads(nothing.stdout)["error"]["field"] == "bant"
