"""Rows validated by worker processes make the same store as rows validated in-process
(issue 15): the same events in the same order, the same refused rows, the same summary."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from leadflow.adapters import importer
from leadflow.adapters.importer import errors_path, import_file, pool_size
from leadflow.adapters.store import open_store, schema_of
from leadflow.errors import InvalidInput
from leadflow.service.application import Leadflow

from support.clock import FakeClock
from support.tables import write_csv

ROWS = [
    {"email": "ada@example.com", "phone": "138 0013 8000", "industry": "finance"},
    {"email": "not-an-email"},
    {"email": "", "phone": ""},
    {"phone": "+86 138-0013-8000", "source": "fair"},  # Ada again: a touch
    {"email": "bob@example.com", "occurred_at": "yesterday"},
    {"email": "bob@example.com", "external_id": "crm-7"},
    {"email": "known@example.com", "source": "partner"},  # captured before the import
    {"email": "cy@example.com", "stage": "customer"},  # not an entry stage
    {"email": "cy@example.com", "occurred_at": "2025-12-01T10:00"},
    {"email": "BOB@example.com", "phone": "13900139000"},  # Bob again, a new phone
    {"email": "dee@example.com", "occurred_at": "2999-01-01T00:00:00+00:00"},
    *({"email": f"person{i}@example.com", "name": f"Person {i}"} for i in range(14)),
    {"email": "person3@example.com", "source": "fair"},  # across chunks and batches
]


def _second_store(url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty store of the same kind as ``url``."""
    schema = schema_of(url)
    if schema is None:
        yield f"sqlite:///{tmp_path / 'pooled.db'}"
        return
    base = url.split("?")[0]
    yield f"{base}?schema={schema}_p"
    with psycopg.connect(base, autocommit=True) as conn:
        for name in (f"{schema}_p", f"{schema}_p_keys"):
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pooled_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    yield from _second_store(db_url, tmp_path)


def _log(app: Leadflow) -> list[dict[str, Any]]:
    """Every event (the roster's and the keys' too), ids numbered by first appearance:
    two stores name their leads (random) and keys (keyed by each store's secret) apart."""
    names: dict[str, str] = {}

    def same(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: same(v) for k, v in value.items()}
        if isinstance(value, list):
            return [same(v) for v in value]
        if isinstance(value, str) and len(value) == 36:
            try:
                UUID(value)
            except ValueError:
                return value
            return names.setdefault(value, f"id{len(names)}")
        return value

    return [same(r.to_json_dict()) for r in app.read_events(include_org=True)]


def _imported(url: str, source: Path, clock: FakeClock, workers: int) -> tuple[Any, ...]:
    app = open_store(url, clock=clock, actor="user:test")
    try:
        app.add_rep("rep:a")
        app.add_rep("rep:b")
        app.capture(email="known@example.com")
        first = import_file(app, source, batch_size=4, workers=workers)
        report = errors_path(source).read_bytes()
        again = import_file(app, source, batch_size=4, workers=workers)
        summaries = [{k: v for k, v in vars(s).items() if k != "seconds"} for s in (first, again)]
        return summaries, report, _log(app)
    finally:
        app.close()


def test_worker_processes_write_the_log_the_in_process_path_writes(
    db_url: str,
    pooled_url: str,
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = write_csv(tmp_path / "leads.csv", ROWS)
    monkeypatch.setattr(importer, "CHUNK", 3)  # many chunks, in flight at once
    here: list[int] = []
    check_rows = importer.check_rows

    def counted(*args: Any) -> Any:
        here.append(1)
        return check_rows(*args)

    monkeypatch.setattr(importer, "check_rows", counted)

    in_process = _imported(db_url, source, clock, workers=0)
    assert here, "the rows were validated in this process"
    here.clear()
    pooled = _imported(pooled_url, source, clock, workers=2)
    assert not here, "the rows were validated in the worker processes"

    summaries, report, log = pooled
    assert summaries == in_process[0]
    assert report == in_process[1]
    assert log == in_process[2]
    first, again = summaries
    assert (first["created"], first["touched"], first["invalid"]) == (17, 4, 5)
    assert (again["already_imported"], again["created"]) == (21, 0)
    assert first["assigned"] == 17


def test_small_files_are_validated_in_process_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEADFLOW_IMPORT_WORKERS", raising=False)
    cores = os.cpu_count() or 1
    assert pool_size(None, importer.POOL_MIN_BYTES - 1) == 0
    assert pool_size(None, importer.POOL_MIN_BYTES) == (cores if cores > 1 else 0)
    assert pool_size(3, 10) == 3
    monkeypatch.setenv("LEADFLOW_IMPORT_WORKERS", "0")
    assert pool_size(None, 10**9) == 0
    assert pool_size(2, 10**9) == 2  # the argument wins
    monkeypatch.setenv("LEADFLOW_IMPORT_WORKERS", "many")
    with pytest.raises(InvalidInput) as refused:
        pool_size(None, 10)
    assert refused.value.field == "LEADFLOW_IMPORT_WORKERS"
    with pytest.raises(InvalidInput) as refused:
        pool_size(-1, 10)
    assert refused.value.field == "workers"


def test_the_cli_imports_with_worker_processes(tmp_path: Path, sqlite_url: str) -> None:
    from support.cli import leadflow

    source = write_csv(tmp_path / "leads.csv", ROWS)

    summary = json.loads(leadflow(sqlite_url, "import", str(source), "--workers", "2", "--json"))

    assert (summary["created"], summary["touched"], summary["invalid"]) == (18, 3, 5)
