"""Bulk import throughput vs raw SQLite ``executemany`` of the same data, in one run.

* ``leadflow import``: a CSV of ``size`` distinct people through ``import_file``
  (validation, normalisation, dedupe keys, import keys, batched atomic saves).
* baseline ``raw events``: ``executemany`` of the identical stored events the import wrote
  (same ids, topics and bytes), in batches of the same size, into a table shaped like the
  event store's (unique aggregate/version index): the cost of the writes alone.
* baseline ``raw rows``: ``executemany`` of the CSV rows themselves into a table with a
  unique email index: a loader with no events, no validation and no dedupe.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from pathlib import Path
from typing import Any

from leadflow.adapters.importer import import_file, to_capture
from leadflow.adapters.store import open_store

BATCH = 500
Row = tuple[str, str, str, str, str]


def _write_csv(path: Path, size: int) -> list[Row]:
    data = [
        (
            f"person{i}@example{i % 97}.com",
            f"+86139{i:08d}",
            f"Person {i}",
            ("web_form", "partner", "event")[i % 3],
            ("retail", "finance", "software")[i % 3],
        )
        for i in range(size)
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "phone", "name", "source", "industry"])
        writer.writerows(data)
    return data


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # as leadflow's SQLite store runs
    return conn


def _raw_rows(path: Path, data: list[Row]) -> float:
    conn = _connect(path)
    conn.execute("CREATE TABLE leads (email TEXT, phone TEXT, name TEXT, source TEXT, ind TEXT)")
    conn.execute("CREATE UNIQUE INDEX leads_email ON leads (email)")
    started = time.perf_counter()
    for i in range(0, len(data), BATCH):
        with conn:
            conn.executemany("INSERT INTO leads VALUES (?, ?, ?, ?, ?)", data[i : i + BATCH])
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _raw_events(path: Path, events: list[tuple[str, int, str, bytes]], per_batch: int) -> float:
    conn = _connect(path)
    conn.execute(
        "CREATE TABLE stored_events (id INTEGER PRIMARY KEY AUTOINCREMENT, originator_id TEXT, "
        "originator_version INTEGER, topic TEXT, state BLOB)"
    )
    conn.execute(
        "CREATE UNIQUE INDEX aggregate ON stored_events (originator_id, originator_version)"
    )
    started = time.perf_counter()
    for i in range(0, len(events), per_batch):
        with conn:
            conn.executemany(
                "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                "VALUES (?, ?, ?, ?)",
                events[i : i + per_batch],
            )
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def run(size: int, workdir: Path) -> list[dict[str, Any]]:
    source = workdir / "leads.csv"
    data = _write_csv(source, size)
    app = open_store(f"sqlite:///{workdir / 'leadflow.db'}", actor="user:bench")
    assert app.pipeline.version  # the pipeline's activation is not part of the import
    summary = import_file(app, source, batch_size=BATCH)
    assert summary.created == size, summary
    imported = size / summary.seconds
    started = time.perf_counter()
    pipeline = app.pipeline  # as import_file does: the file is validated under one pipeline
    with source.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            to_capture(app, row, pipeline)
    validated = size / (time.perf_counter() - started)
    events = [
        (str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in app.recorder.select_notification_rows(start=1, limit=10**9)
        if not n.topic.endswith(":PipelineActivated")
    ]
    app.close()
    raw_events = size / _raw_events(
        workdir / "raw_events.db", events, max(1, len(events) * BATCH // size)
    )
    raw_rows = size / _raw_rows(workdir / "raw_rows.db", data)
    per_row = len(events) / size
    return [
        {
            "figure": f"import rows/s vs raw executemany of its {per_row:.1f} events/row",
            "value": imported,
            "baseline": raw_events,
            "ratio": imported / raw_events,
            "target": ">= 0.5x",
            "met": imported / raw_events >= 0.5,
        },
        {
            "figure": "import, rows/s vs raw executemany of the CSV rows (no events, no checks)",
            "value": imported,
            "baseline": raw_rows,
            "ratio": imported / raw_rows,
        },
        {
            "figure": "row validation alone (email-validator, phonenumbers, pydantic), rows/s",
            "value": validated,
            "baseline": raw_events,
            "ratio": validated / raw_events,
        },
    ]
