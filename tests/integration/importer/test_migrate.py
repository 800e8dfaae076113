"""``leadflow import --migrate``: leads from another CRM keep their owner, stage, status,
score and capture time; without ``--migrate`` those columns are refused (issue 10, part 6)."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import orjson
import pytest

from leadflow.adapters.importer import errors_path, import_file
from leadflow.adapters.store import open_store
from leadflow.domain.events import EVENT_TYPES
from leadflow.domain.timers import next_deadline
from leadflow.errors import InvalidInput
from leadflow.projections.replay import redecide
from leadflow.service.application import Leadflow

from support.cli import invoke
from support.stores import on_roster
from support.tables import write_csv

REPS = ("rep:wang", "rep:li", "rep:zhao")


def crm_export(app: Leadflow, count: int, seed: int = 10) -> list[dict[str, str]]:
    """``count`` leads of another CRM, spread over every stage, with permitted statuses."""
    rng = random.Random(seed)
    pipeline = app.pipeline
    rows = []
    for i in range(count):
        stage = rng.choice(list(pipeline.stages))
        permitted = pipeline.stages[stage].statuses or list(pipeline.statuses)
        captured = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(10**6))
        rows.append(
            {
                "email": f"crm{i}@example.com",
                "name": f"Person {i}",
                "owner": rng.choice([*REPS, ""]),
                "stage": stage,
                "status": rng.choice(permitted),
                "score": str(rng.randrange(-20, 120)),
                "captured_at": captured.isoformat(),
                "industry": rng.choice(["retail", "finance"]),
            }
        )
    return rows


def lead_ids_by_email(app: Leadflow) -> dict[str, UUID]:
    return {r.data["email"]: r.lead_id for r in app.read_events(types=["LeadCaptured"])}


def test_a_thousand_crm_leads_arrive_in_the_state_they_had(db_url: str, tmp_path: Path) -> None:
    app = open_store(db_url, actor="user:migrator")
    try:
        on_roster(app, *REPS)
        rows = crm_export(app, 1000)
        source = write_csv(tmp_path / "crm.csv", rows)
        pipeline = app.pipeline
        before = datetime.now(UTC)

        summary = json.loads(
            invoke(
                "import", str(source), "--migrate", "--json", "--db", db_url, "--actor", "user:ann"
            ).stdout
        )

        assert (summary["rows"], summary["created"], summary["invalid"]) == (1000, 1000, 0)
        assert summary["assigned"] == sum(1 for r in rows if r["owner"])
        app.forget_roster()
        ids = lead_ids_by_email(app)
        for row in rows:  # the state of each lead, from its events
            lead = app.get_lead(ids[row["email"]])
            assert (lead.stage, lead.status) == (row["stage"], row["status"])
            assert lead.owner == (row["owner"] or None)
            assert lead.score == float(row["score"])
            assert lead.captured_at == datetime.fromisoformat(row["captured_at"])
            assert lead.attributes == {"industry": row["industry"]}
            # time in a later stage (its SLA, its timers) counts from the import; a lead
            # still in the entry stage it was captured into has been there since its capture
            if row["stage"] in pipeline.entry_stages:
                assert lead.stage_entered_at == lead.captured_at
            else:
                assert lead.stage_entered_at is not None
                assert lead.stage_entered_at >= before
        captures = list(app.read_events(types=["LeadCaptured"]))
        first = next(r for r in captures if r.data["email"] == rows[0]["email"])
        assert first.data["migrated"] == {
            "stage": rows[0]["stage"],
            "status": rows[0]["status"],
            "owner": rows[0]["owner"] or None,
            "score": float(rows[0]["score"]),
            "by": "user:ann",
        }
        assert {r.actor for r in captures} == {"user:ann"}
        loads = {rep: len(app.roster().open_leads.get(rep, ())) for rep in REPS}
        closed = pipeline.assignment.closed_stages
        assert loads == {
            rep: sum(1 for r in rows if r["owner"] == rep and r["stage"] not in closed)
            for rep in REPS
        }

        # the read models: funnel, the lead list (ownership), stage history
        funnel = json.loads(invoke("funnel", "--json", "--db", db_url).stdout)
        by_stage = {row["stage"]: row for row in funnel["stages"]}
        counts = Counter(r["stage"] for r in rows)
        entry = pipeline.entry_stages[0]
        had = [  # the stages each lead had: the one it was captured into, and the one it has
            {r["stage"], r["stage"] if r["stage"] in pipeline.entry_stages else entry} for r in rows
        ]
        path = pipeline.main_path
        furthest = [max((path.index(s) for s in stages if s in path), default=-1) for stages in had]
        for stage in pipeline.stages:
            assert by_stage[stage]["in_stage"] == counts[stage], stage
            assert by_stage[stage]["reached"] == sum(1 for stages in had if stage in stages), stage
            if stage in path:
                passed = sum(1 for f in furthest if f >= path.index(stage))
                assert by_stage[stage]["passed"] == passed, stage
        listed = json.loads(
            invoke(
                "leads", "--json", "--limit", "1000", "--sort", "captured", "--db", db_url
            ).stdout
        )
        assert listed["count"] == 1000
        views = {view["email"]: view for view in listed["leads"]}
        for row in rows:
            view = views[row["email"]]
            assert (view["stage"], view["status"], view["owner"], view["score"]) == (
                row["stage"],
                row["status"],
                row["owner"] or None,
                float(row["score"]),
            )
        for row in rows[:20]:
            history = json.loads(
                invoke("history", str(ids[row["email"]]), "--json", "--db", db_url).stdout
            )
            last = history["intervals"][-1]
            assert last["stage"] == row["stage"]
            assert last["owners"] == ([row["owner"]] if row["owner"] else [])

        # the deadline index holds each lead's next deadline from its migrated state
        app.deadlines.refresh(app.pipeline)
        for row in rows[::25]:
            lead_id = ids[row["email"]]
            deadline = next_deadline(app.get_lead(lead_id), app.pipeline)
            if deadline is None:
                assert lead_id not in app.deadlines.due(datetime.max.replace(tzinfo=UTC))
                continue
            if row["stage"] not in pipeline.entry_stages:
                assert deadline >= before  # no SLA ran out in another CRM's past
            assert lead_id in app.deadlines.due(deadline)
            assert lead_id not in app.deadlines.due(deadline - timedelta(microseconds=1))
    finally:
        app.close()


def test_migrated_values_are_checked_against_the_pipeline_roster_and_bounds(
    app: Leadflow, tmp_path: Path
) -> None:
    on_roster(app, "rep:wang", "rep:li")
    future = (app.clock() + timedelta(days=1)).isoformat()
    source = write_csv(
        tmp_path / "crm.csv",
        [
            {"email": "ok@example.com", "owner": "rep:wang", "stage": "sql", "status": "contacted"},
            {"email": "a@example.com", "owner": "rep:nobody"},
            {"email": "b@example.com", "stage": "won"},
            {"email": "c@example.com", "stage": "customer"},
            {"email": "d@example.com", "stage": "sql", "status": "customer_status"},
            {"email": "e@example.com", "score": "nan"},
            {"email": "f@example.com", "score": "1e300"},
            {"email": "g@example.com", "score": "lots"},
            {"email": "h@example.com", "captured_at": future},
            {"email": "i@example.com", "captured_at": "last spring"},
            {"email": "j@example.com", "captured_at": "2025-01-01", "occurred_at": "2025-01-01"},
            {"email": "k@example.com", "owner": "x" * 300},
        ],
    )

    summary = import_file(app, source, migrate=True)

    assert (summary.created, summary.invalid) == (1, 11)
    with errors_path(source).open(encoding="utf-8") as handle:
        errors = [(e["row"], e["field"], e["reason"]) for e in csv.DictReader(handle)]
    assert [(row, field) for row, field, _ in errors] == [
        ("2", "owner"),
        ("3", "stage"),
        ("4", "status"),
        ("5", "status"),
        ("6", "score"),
        ("7", "score"),
        ("8", "score"),
        ("9", "captured_at"),
        ("10", "captured_at"),
        ("11", "captured_at"),
        ("12", "owner"),
    ]
    reasons = {(row, field): reason for row, field, reason in errors}
    assert "rep:nobody" in reasons[("2", "owner")]
    assert "unknown stage 'won'" in reasons[("3", "stage")]
    assert "does not permit the initial status 'open'" in reasons[("4", "status")]
    assert "in the future" in reasons[("9", "captured_at")]
    assert "200" in reasons[("12", "owner")]
    assert len(list(app.read_events(types=["LeadCaptured"]))) == 1


def test_an_owner_who_left_the_roster_is_refused(app: Leadflow, tmp_path: Path) -> None:
    on_roster(app, "rep:wang", "rep:li")
    app.redistribute("rep:li", leave=True, reason="moved on")
    source = write_csv(tmp_path / "crm.csv", [{"email": "a@example.com", "owner": "rep:li"}])

    summary = import_file(app, source, migrate=True)

    assert (summary.created, summary.invalid) == (0, 1)
    with errors_path(source).open(encoding="utf-8") as handle:
        (error,) = list(csv.DictReader(handle))
    assert error["field"] == "owner"
    assert "left the roster" in error["reason"]


def test_a_row_for_a_person_who_has_a_lead_is_a_touch_and_moves_nothing(
    app: Leadflow, tmp_path: Path
) -> None:
    on_roster(app, "rep:wang")
    lead_id = app.capture(email="ann@example.com").lead_id
    assert lead_id is not None
    before = app.get_lead(lead_id)
    source = write_csv(
        tmp_path / "crm.csv", [{"email": "ANN@example.com", "stage": "sql", "score": "80"}]
    )

    summary = import_file(app, source, migrate=True)

    assert (summary.created, summary.touched) == (0, 1)
    after = app.get_lead(lead_id)
    assert (after.stage, after.score, after.owner) == (before.stage, before.score, before.owner)


@pytest.mark.parametrize("column", ["owner", "status", "score", "captured_at"])
def test_without_migrate_a_csv_naming_a_migration_column_is_refused_whole(
    app: Leadflow, tmp_path: Path, column: str
) -> None:
    on_roster(app, "rep:wang")
    value = {"owner": "rep:wang", "status": "contacted", "score": "5"}.get(column, "2025-01-01")
    source = write_csv(
        tmp_path / "crm.csv",
        [{"email": "a@example.com"}, {"email": "b@example.com", column: value}],
    )
    written = app.recorder.max_notification_id()

    with pytest.raises(InvalidInput) as refused:
        import_file(app, source)

    assert refused.value.field == column
    assert "--migrate" in refused.value.reason
    assert app.recorder.max_notification_id() == written
    assert not errors_path(source).exists()


def test_without_migrate_a_json_line_with_an_owner_is_a_row_error_not_an_attribute(
    app: Leadflow, tmp_path: Path
) -> None:
    on_roster(app, "rep:wang", "rep:li")
    source = tmp_path / "crm.jsonl"
    lines = [
        {"email": "a@example.com", "owner": "rep:wang"},
        {"email": "b@example.com", "stage": "sql"},
        {"email": "c@example.com", "attributes.owner": "rep:wang"},
    ]
    source.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")

    summary = import_file(app, source)

    assert (summary.created, summary.invalid) == (1, 2)
    with errors_path(source).open(encoding="utf-8") as handle:
        errors = [(e["row"], e["field"], e["reason"]) for e in csv.DictReader(handle)]
    assert [(row, field) for row, field, _ in errors] == [("1", "owner"), ("2", "stage")]
    assert all("--migrate" in reason for _, _, reason in errors)
    (kept,) = list(app.read_events(types=["LeadCaptured"]))
    assert kept.data["attributes"] == {"owner": "rep:wang"}  # named as an attribute: kept


def test_the_cli_refuses_a_migration_file_without_migrate_with_exit_2(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "crm.csv", [{"email": "a@example.com", "owner": "rep:wang"}])

    result = invoke("import", str(source), "--db", sqlite_url, expect=2)

    assert "owner" in result.stderr
    assert "--migrate" in result.stderr


def test_replay_gives_a_migrated_lead_its_imported_state_again(
    app: Leadflow, tmp_path: Path
) -> None:
    on_roster(app, "rep:wang")
    source = write_csv(
        tmp_path / "crm.csv",
        [
            {
                "email": "a@example.com",
                "owner": "rep:wang",
                "stage": "sql",
                "status": "contacted",
                "score": "70",
                "captured_at": "2025-01-01T09:00:00",
            }
        ],
    )
    import_file(app, source, migrate=True)
    records = list(app.read_events())
    lead_records = [
        r for r in records if r.type in EVENT_TYPES and r.lead_id == records[-1].lead_id
    ]

    replayed = redecide(lead_records, app.pipeline)

    assert replayed.refused == []
    assert [(r.type, r.occurred_at, r.data.get("stage")) for r in replayed.events] == [
        (r.type, r.occurred_at, r.data.get("stage")) for r in lead_records
    ]
