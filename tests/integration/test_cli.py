"""The ``leadflow`` CLI contract: output shapes and exit codes, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from leadflow import LeadView
from leadflow.adapters.cli import app, handles_errors
from leadflow.errors import ConcurrencyConflict

from support.cli import capture, leadflow, runner

EVENT_KEYS = [
    "position",
    "id",
    "lead_id",
    "type",
    "version",
    "occurred_at",
    "recorded_at",
    "actor",
    "data",
]


def events(db_url: str, *args: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in leadflow(db_url, "events", "--json", *args).splitlines()]


def test_capture_prints_the_lead_id(db_url: str) -> None:
    plain = leadflow(db_url, "capture", "--email", "ann@example.com").strip()
    as_json = orjson.loads(leadflow(db_url, "capture", "--phone", "13800138000", "--json"))

    assert len(plain) == 36
    assert list(as_json) == ["lead_id"]
    assert {e["lead_id"] for e in events(db_url)} == {plain, as_json["lead_id"]}


def test_capture_takes_contact_profile_attributes_and_business_time(db_url: str) -> None:
    lead_id = capture(
        db_url,
        "--email", "Ann@Example.com", "--phone", "+86 138 0013 8000", "--wechat", "ann_lee88",
        "--name", "Ann Lee", "--company", "Acme", "--source", "web_form", "--campaign", "spring",
        "--attr", "industry=retail", "--attr", "region=east", "--at", "2026-01-02T03:04:05+08:00",
    )  # fmt: skip

    [captured] = events(db_url, "--lead", lead_id, "--type", "LeadCaptured")
    assert captured["occurred_at"] == "2026-01-02T03:04:05+08:00"
    data = captured["data"]
    assert (data["email"], data["phone"], data["wechat"]) == (
        "ann@example.com",
        "+8613800138000",
        "ann_lee88",
    )
    assert (data["name"], data["company"], data["source"], data["campaign"]) == (
        "Ann Lee",
        "Acme",
        "web_form",
        "spring",
    )
    assert data["attributes"] == {"industry": "retail", "region": "east"}


def test_events_json_has_exactly_the_documented_shape_in_log_order(db_url: str) -> None:
    lead_id = capture(db_url, "--email", "ann@example.com")
    leadflow(db_url, "activity", lead_id, "download", "--detail", "pricing.pdf")
    leadflow(db_url, "rep", "add", "rep:mei")
    leadflow(db_url, "assign", lead_id, "rep:mei")
    leadflow(db_url, "promote", lead_id, "mql", "--reason", "engaged")
    leadflow(db_url, "status", lead_id, "qualified")

    log = events(db_url)

    assert [e["type"] for e in log] == [
        "LeadCaptured", "ActivityRecorded", "LeadScored", "LeadAssigned",
        "StageChanged", "StatusChanged", "StageChanged",
    ]  # fmt: skip
    for event in log:
        assert list(event) == EVENT_KEYS
        assert isinstance(event["position"], int)
        assert isinstance(event["version"], int)
        for key in ("occurred_at", "recorded_at"):
            assert datetime.fromisoformat(event[key]).utcoffset() is not None
    positions = [e["position"] for e in log]
    assert positions == sorted(set(positions))
    assert [e["data"]["stage"] for e in log if e["type"] in ("LeadCaptured", "StageChanged")] == [
        "lead", "mql", "sql",
    ]  # fmt: skip
    assert log[-1]["actor"] == "system:qualified-mql-to-sql"


def test_events_filters_by_lead_type_and_time(db_url: str) -> None:
    ann = capture(db_url, "--email", "ann@example.com", "--at", "2026-01-01T10:00:00Z")
    bob = capture(db_url, "--email", "bob@example.com", "--at", "2026-01-03T10:00:00Z")
    leadflow(db_url, "promote", bob, "mql", "--at", "2026-01-04T10:00:00Z")

    assert {e["lead_id"] for e in events(db_url, "--lead", ann)} == {ann}
    assert [e["type"] for e in events(db_url, "--type", "StageChanged")] == ["StageChanged"]
    assert [e["lead_id"] for e in events(db_url, "--since", "2026-01-02")] == [bob, bob]
    assert [e["lead_id"] for e in events(db_url, "--until", "2026-01-03")] == [ann, bob]


def test_an_illegal_transition_exits_2_and_records_no_event(db_url: str) -> None:
    lead_id = capture(db_url, "--email", "ann@example.com")
    before = events(db_url)

    result = runner.invoke(app, ["promote", lead_id, "customer", "--db", db_url, "--json"])

    assert result.exit_code == 2
    error = orjson.loads(result.stdout)["error"]
    assert (error["type"], error["from"], error["to"]) == ("IllegalTransition", "lead", "customer")
    assert error["allowed"] == ["mql", "subscriber", "disqualified"]
    assert "lead -> customer" in result.stderr
    assert events(db_url) == before


def test_invalid_input_exits_2_naming_the_field(db_url: str) -> None:
    result = runner.invoke(app, ["capture", "--email", "nope", "--db", db_url, "--json"])

    assert result.exit_code == 2
    assert orjson.loads(result.stdout)["error"]["field"] == "email"
    assert events(db_url) == []


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["promote", "not-a-uuid", "mql"], "lead_id"),
        (["capture", "--email", "a@b.co", "--at", "yesterday"], "at"),
        (["capture", "--email", "a@b.co", "--attr", "novalue"], "attr"),
        (["events", "--type", "LeadTeleported"], "type"),
        (["activity", "00000000-0000-0000-0000-000000000001", "skydive"], "activity"),
    ],
)
def test_malformed_arguments_exit_2_naming_the_field(
    db_url: str, args: list[str], field: str
) -> None:
    result = runner.invoke(app, [*args, "--db", db_url, "--json"])

    assert result.exit_code == 2, result.stdout
    assert orjson.loads(result.stdout)["error"]["field"] == field


def test_an_unknown_lead_exits_4(db_url: str) -> None:
    result = runner.invoke(app, ["show", "00000000-0000-0000-0000-000000000001", "--db", db_url])

    assert result.exit_code == 4
    assert "not found" in result.stderr


def test_show_prints_the_state_derived_from_events(db_url: str) -> None:
    lead_id = capture(db_url, "--email", "ann@example.com")
    leadflow(db_url, "rep", "add", "rep:mei")
    leadflow(db_url, "assign", lead_id, "rep:mei")

    state = orjson.loads(leadflow(db_url, "show", lead_id, "--json"))

    assert (state["lead_id"], state["stage"], state["status"], state["owner"]) == (
        lead_id,
        "lead",
        "open",
        "rep:mei",
    )


def _handed_off_lead(db_url: str, name: str = "Ann Lee") -> str:
    lead_id = capture(db_url, "--email", "ann@example.com", "--name", name, "--company", "Acme",
                      "--at", "2026-01-05T09:00:00Z")  # fmt: skip
    for rep in ("rep:mei", "rep:li", "rep:bo"):  # after the capture: it stays unassigned
        leadflow(db_url, "rep", "add", rep, "--at", "2026-01-05T09:30:00Z")
    leadflow(db_url, "assign", lead_id, "rep:mei", "--at", "2026-01-05T10:00:00Z")
    leadflow(db_url, "release", lead_id, "--reason", "leave", "--at", "2026-01-05T11:00:00Z")
    leadflow(db_url, "claim", lead_id, "rep:li", "--at", "2026-01-05T12:00:00Z")
    leadflow(db_url, "handoff", lead_id, "rep:bo", "--at", "2026-01-05T13:00:00Z")
    return lead_id


def test_show_json_is_exactly_the_lead_view_without_internal_fields(db_url: str) -> None:
    lead_id = _handed_off_lead(db_url)

    state = orjson.loads(leadflow(db_url, "show", lead_id, "--json"))

    assert list(state) == list(LeadView.model_fields)
    assert not {"fit", "awards", "lost_by", "known_contacts", "decay_anchor", "id"} & set(state)
    assert state["captured_at"] == "2026-01-05T09:00:00+00:00"
    assert state["pending_handoff"] == {
        "from_owner": "rep:li",
        "to_owner": "rep:bo",
        "handed_off_at": "2026-01-05T13:00:00+00:00",
        "sla_due": "2026-01-07T13:00:00+00:00",
    }


def test_show_prints_people_times_and_user_text_literally(db_url: str) -> None:
    lead_id = _handed_off_lead(db_url, name="[bold]x[/]")

    text = leadflow(db_url, "show", lead_id)

    assert "datetime.datetime(" not in text
    assert "days, " not in text
    assert "[bold]x[/]" in text
    assert "2026-01-05 09:00 UTC" in text  # captured_at
    assert "to rep:bo from rep:li at 2026-01-05 13:00 UTC, due 2026-01-07 13:00 UTC" in text
    assert "lost_by" not in text


def test_events_json_writes_payload_times_with_the_envelopes_offset(db_url: str) -> None:
    lead_id = _handed_off_lead(db_url)

    [handed_off] = events(db_url, "--lead", lead_id, "--type", "LeadHandedOff")

    assert handed_off["data"]["sla_due"] == "2026-01-07T13:00:00+00:00"
    assert handed_off["occurred_at"] == "2026-01-05T13:00:00+00:00"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def test_explain_json_gives_every_decision_as_an_object_with_its_numbers(db_url: str) -> None:
    leadflow(db_url, "rep", "add", "rep:mei", "--at", "2026-01-05T08:00:00Z")
    lead_id = capture(db_url, "--email", "ann@example.com", "--company", "Acme",
                      "--at", "2026-01-05T09:00:00Z")  # fmt: skip
    leadflow(db_url, "rep", "add", "rep:li", "--at", "2026-01-05T09:30:00Z")
    for hour, kind in ((10, "webinar"), (11, "download"), (12, "form_submit")):
        leadflow(db_url, "activity", lead_id, kind, "--at", f"2026-01-05T{hour}:00:00Z")
    leadflow(db_url, "handoff", lead_id, "rep:li", "--at", "2026-01-05T13:00:00Z")
    leadflow(db_url, "sweep", "--now", "2026-01-08T00:00:00Z")

    explained = orjson.loads(leadflow(db_url, "explain", lead_id, "--json"))

    assigned = next(d for d in explained["decisions"] if d["type"] == "LeadAssigned")
    assert assigned["details"]["candidates"][0]["rep"] == "rep:mei"
    breach = next(d for d in explained["decisions"] if d["type"] == "SlaBreached")
    assert breach["due_at"] == "2026-01-07T13:00:00+00:00"
    [promotion] = explained["promotions"]
    assert (promotion["score"], promotion["threshold"]) == (50.0, 50.0)
    step = explained["steps"][-1]
    assert step["cause"] == {"sequence": step["sequence"] - 1, "type": "ActivityRecorded"}
    for entry in explained["steps"] + explained["promotions"] + explained["decisions"]:
        assert {"sequence", "type", "occurred_at", "actor", "rule", "pipeline_version"} <= set(
            entry
        )
        assert entry["occurred_at"].endswith("+00:00")
    for text in _strings(explained):
        assert not re.search(r"[A-Za-z]\(|\{'|\['", text), text  # no Python repr


def test_human_outputs_print_times_and_durations_in_the_one_human_format(db_url: str) -> None:
    lead_id = _handed_off_lead(db_url)

    pipeline = leadflow(db_url, "pipeline", "show")
    swept = leadflow(db_url, "sweep", "--now", "2026-01-08T00:00:00Z")
    logged = leadflow(db_url, "events", "--lead", lead_id)

    assert "3d" in pipeline  # the lead stage's SLA
    assert "day" not in pipeline
    assert "as of 2026-01-08 00:00 UTC" in swept
    assert "2026-01-05 13:00 UTC" in logged
    assert "T13:00:00+00:00  " not in logged


def test_a_concurrency_conflict_exits_3() -> None:
    @handles_errors
    def conflicting(json_out: bool = False) -> None:
        raise ConcurrencyConflict("00000000-0000-0000-0000-000000000001")

    import typer

    probe = typer.Typer()
    probe.command()(conflicting)
    result = runner.invoke(probe, [])

    assert result.exit_code == 3
    assert "another writer" in result.stderr


def test_release_and_reject_take_a_reason_and_record_it(db_url: str) -> None:
    lead_id = capture(db_url, "--email", "ann@example.com")
    leadflow(db_url, "rep", "add", "rep:mei")
    leadflow(db_url, "rep", "add", "rep:li")
    leadflow(db_url, "claim", lead_id, "rep:mei")
    leadflow(db_url, "release", lead_id, "--reason", "going on leave")
    leadflow(db_url, "promote", lead_id, "mql")
    leadflow(db_url, "handoff", lead_id, "rep:li")

    leadflow(db_url, "reject", lead_id, "--reason", "no budget", "--actor", "rep:li")
    missing = runner.invoke(app, ["reject", lead_id, "--db", db_url])

    by_type = {e["type"]: e["data"] for e in events(db_url, "--lead", lead_id)}
    assert by_type["LeadReleased"]["reason"] == "going on leave"
    assert by_type["HandOffRejected"] == {"by": "rep:li", "reason": "no budget"}
    assert missing.exit_code == 2  # --reason is required


def test_the_global_db_option_reaches_the_read_models(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # a stray default store would appear here
    monkeypatch.delenv("LEADFLOW_DB", raising=False)
    assert (
        runner.invoke(app, ["--db", db_url, "capture", "--email", "ann@example.com"]).exit_code == 0
    )

    result = runner.invoke(app, ["--db", db_url, "funnel", "--json"])

    assert result.exit_code == 0, result.stderr
    stages = {row["stage"]: row for row in orjson.loads(result.stdout)["stages"]}
    assert stages["lead"]["in_stage"] == 1
    assert not (workdir / "leadflow.db").exists()
