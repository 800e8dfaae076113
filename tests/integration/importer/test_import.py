"""Bulk import: streamed, validated per row, batched, idempotent (issue 3, part 6)."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from leadflow.adapters.importer import errors_path, import_file
from leadflow.errors import InvalidInput
from leadflow.service.application import Leadflow

from support.tables import write_csv


def people(count: int, start: int = 0) -> list[dict[str, str]]:
    return [
        {"email": f"person{i}@example.com", "name": f"Person {i}", "industry": "retail"}
        for i in range(start, start + count)
    ]


def captured(app: Leadflow) -> int:
    return len(list(app.read_events(types=["LeadCaptured"])))


def test_valid_rows_are_imported_and_invalid_rows_reported_beside_the_file(
    app: Leadflow, tmp_path: Path
) -> None:
    source = write_csv(
        tmp_path / "leads.csv",
        [
            {"email": "ada@example.com", "phone": "138 0013 8000", "industry": "finance"},
            {"email": "not-an-email", "phone": ""},
            {"email": "", "phone": ""},
            {"email": "bob@example.com", "occurred_at": "yesterday"},
            {"email": "cy@example.com", "source": "trade_fair", "occurred_at": "2025-12-01T10:00"},
        ],
    )

    summary = import_file(app, source)

    assert (summary.rows, summary.created, summary.invalid) == (5, 2, 3)
    with errors_path(source).open(encoding="utf-8") as handle:
        errors = list(csv.DictReader(handle))
    assert [(e["row"], e["field"]) for e in errors] == [
        ("2", "email"),
        ("3", "contact"),
        ("4", "occurred_at"),
    ]
    assert all(e["reason"] for e in errors)
    assert captured(app) == 2
    ada = next(
        r for r in app.read_events(types=["LeadCaptured"]) if r.data["email"] == "ada@example.com"
    )
    assert ada.data["attributes"] == {"industry": "finance"}
    assert ada.data["phone"] == "+8613800138000"
    cy = next(
        r for r in app.read_events(types=["LeadCaptured"]) if r.data["email"] == "cy@example.com"
    )
    assert cy.occurred_at.isoformat() == "2025-12-01T10:00:00+00:00"


def test_rows_the_lead_itself_would_refuse_are_reported_not_fatal(
    app: Leadflow, tmp_path: Path
) -> None:
    source = write_csv(
        tmp_path / "leads.csv",
        [
            {"email": "a@example.com", "stage": "customer"},
            {"email": "b@example.com", "occurred_at": "2999-01-01T00:00:00+00:00"},
            {"email": "c@example.com", "stage": "subscriber"},
        ],
    )

    summary = import_file(app, source)

    assert (summary.created, summary.invalid) == (1, 2)
    with errors_path(source).open(encoding="utf-8") as handle:
        assert [(e["row"], e["field"]) for e in csv.DictReader(handle)] == [
            ("1", "stage"),
            ("2", "occurred_at"),
        ]


def test_a_clean_file_leaves_no_error_report(app: Leadflow, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "leads.csv", people(3))
    errors_path(source).write_text("row,field,reason\n1,email,stale\n")

    summary = import_file(app, source)

    assert summary.invalid == 0
    assert summary.errors_file is None
    assert not errors_path(source).exists()


def test_importing_the_same_file_twice_imports_nothing_the_second_time(
    app: Leadflow, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "leads.csv", people(7))
    import_file(app, source, batch_size=3)
    position = app.max_position()

    again = import_file(app, source, batch_size=3)

    assert (again.created, again.touched, again.already_imported) == (0, 0, 7)
    assert app.max_position() == position


def test_an_external_id_identifies_a_row_even_if_its_content_changed(
    app: Leadflow, tmp_path: Path
) -> None:
    import_file(
        app, write_csv(tmp_path / "a.csv", [{"external_id": "crm-1", "email": "a@example.com"}])
    )

    again = import_file(
        app, write_csv(tmp_path / "b.csv", [{"external_id": "crm-1", "email": "a2@example.com"}])
    )

    assert again.already_imported == 1
    assert captured(app) == 1


def test_the_same_person_twice_in_a_file_is_one_lead_and_a_touch(
    app: Leadflow, tmp_path: Path
) -> None:
    rows = [
        {"phone": "13800138000", "source": "web"},
        {"phone": "+86 138-0013-8000", "source": "fair"},
        {"phone": "138.0013.8000", "source": "partner"},
    ]
    source = write_csv(tmp_path / "leads.csv", rows)

    summary = import_file(app, source, batch_size=2)  # within a batch and across batches

    assert (summary.created, summary.touched) == (1, 2)
    assert captured(app) == 1


def test_a_row_matching_a_lead_captured_earlier_is_a_touch(app: Leadflow, tmp_path: Path) -> None:
    lead = app.capture(email="ada@example.com").lead_id
    source = write_csv(tmp_path / "leads.csv", [{"email": "Ada@Example.com", "source": "fair"}])

    summary = import_file(app, source)

    assert summary.touched == 1
    touch = next(app.read_events(types=["TouchRecorded"]))
    assert touch.lead_id == lead
    assert touch.data["import_key"].startswith("row:")


def test_json_lines_are_imported_with_nested_attributes(app: Leadflow, tmp_path: Path) -> None:
    source = tmp_path / "leads.jsonl"
    source.write_text(
        "\n".join(
            [
                '{"phone": 13800138000, "attributes": {"region": "east"}, "industry": "retail"}',
                "{not json",
                "[1, 2]",
                '{"email": "x@example.com", "name": ["not", "text"]}',
                "",
                '{"wechat": "ada_li88"}',
            ]
        )
    )

    summary = import_file(app, source)

    assert (summary.rows, summary.created, summary.invalid) == (5, 2, 3)
    with errors_path(source).open(encoding="utf-8") as handle:
        fields = [(e["row"], e["field"]) for e in csv.DictReader(handle)]
    assert fields == [("2", "(row)"), ("3", "(row)"), ("4", "name")]
    first = next(app.read_events(types=["LeadCaptured"]))
    assert first.data["attributes"] == {"region": "east", "industry": "retail"}


def test_the_store_is_asked_once_per_batch_which_keys_exist(
    app: Leadflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.capture(email="person1@example.com")
    asked: list[int] = []
    existing = app.existing

    def counted(ids):  # type: ignore[no-untyped-def]
        asked.append(len(ids))
        return existing(ids)

    monkeypatch.setattr(app, "existing", counted)
    import_file(app, write_csv(tmp_path / "leads.csv", people(3)))
    assert len(asked) == 1  # one query for the batch's keys, not one per key
    monkeypatch.undo()

    key_id = app.contact_key_id
    wanted = [key_id("email", "person1@example.com"), key_id("email", "person9@example.com")]
    assert app.existing(wanted) == {wanted[0]}


def test_saves_are_batched(app: Leadflow, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "leads.csv", people(10))

    assert import_file(app, source, batch_size=4).batches == 3


def test_imported_leads_are_assigned_by_the_policy(app: Leadflow, tmp_path: Path) -> None:
    app.add_rep("rep:a")
    app.add_rep("rep:b")

    summary = import_file(app, write_csv(tmp_path / "leads.csv", people(6)), batch_size=4)

    assert summary.assigned == 6
    assert (app.roster().load("rep:a"), app.roster().load("rep:b")) == (3, 3)


def test_an_unknown_format_names_the_option(app: Leadflow, tmp_path: Path) -> None:
    source = tmp_path / "leads.xlsx"
    source.write_bytes(b"")

    with pytest.raises(InvalidInput) as refused:
        import_file(app, source)

    assert refused.value.field == "format"


def test_memory_stays_flat_as_the_file_grows(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadflow.adapters.store import open_store
    from leadflow.service import data_keys

    # The store's caches are bounded (10,000 leads, 4,096 data keys) and fill as the file
    # grows; bounded small, they are full after the warm-up, so what grows is the import's.
    monkeypatch.setenv("AGGREGATE_CACHE_MAXSIZE", "40")
    monkeypatch.setattr(data_keys, "_CACHE_MAX", 40)
    app = open_store(sqlite_url)

    def peak(rows: int, start: int) -> int:
        source = write_csv(tmp_path / f"leads{rows}.csv", people(rows, start))
        tracemalloc.start()
        import_file(app, source, batch_size=50)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    try:
        peak(50, 0)  # warm-up: imports, the pipeline, caches
        small = peak(150, 1000)
        large = peak(1500, 10_000)  # ten times the rows
    finally:
        app.close()

    assert large < small * 1.5


def test_the_cli_prints_a_summary_and_json(tmp_path: Path, sqlite_url: str) -> None:
    from leadflow.adapters.cli import app as cli

    source = write_csv(tmp_path / "leads.csv", [*people(2), {"email": "broken"}])
    runner = CliRunner()

    text = runner.invoke(cli, ["import", str(source), "--db", sqlite_url])
    again = runner.invoke(cli, ["import", str(source), "--db", sqlite_url, "--json"])

    assert text.exit_code == 0, text.output
    assert "created" in text.output
    assert "leads.csv.errors.csv" in text.output
    summary = orjson.loads(again.stdout.strip().splitlines()[-1])
    assert (summary["already_imported"], summary["invalid"], summary["created"]) == (2, 1, 0)
