"""Import throughput vs raw SQLite ``executemany`` of the same data, in one process.

    .venv/bin/python bench/import_bench.py [--rows 20000] [--batch-size 500]

Three numbers, all on fresh SQLite files in a temporary directory:

* ``import``: ``leadflow import`` of a CSV of ``rows`` distinct people (validation,
  normalisation, dedupe lookups, import keys, batched atomic saves).
* ``raw rows``: ``executemany`` of the same CSV rows into a table with a unique email
  index (what a naive loader without events or checks would do).
* ``raw events``: ``executemany`` of the identical stored events the import wrote
  (same ids, topics and bytes) into a table shaped like the event store's.

Ratios are throughput relative to each baseline (1.0 = as fast as raw SQLite).
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import tempfile
import time
from pathlib import Path

from leadflow.adapters.importer import import_file
from leadflow.adapters.logging_setup import configure_logging
from leadflow.adapters.store import open_store


def write_rows(path: Path, rows: int) -> list[tuple[str, str, str, str, str]]:
    data = [
        (
            f"person{i}@example{i % 97}.com",
            f"+86139{i:08d}",
            f"Person {i}",
            ("web_form", "partner", "event")[i % 3],
            ("retail", "finance", "software")[i % 3],
        )
        for i in range(rows)
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "phone", "name", "source", "industry"])
        writer.writerows(data)
    return data


def raw_rows(path: Path, data: list[tuple[str, str, str, str, str]], batch: int) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE leads (email TEXT, phone TEXT, name TEXT, source TEXT, industry TEXT)"
    )
    conn.execute("CREATE UNIQUE INDEX leads_email ON leads (email)")
    started = time.perf_counter()
    for i in range(0, len(data), batch):
        with conn:
            conn.executemany("INSERT INTO leads VALUES (?, ?, ?, ?, ?)", data[i : i + batch])
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def raw_events(path: Path, events: list[tuple[str, int, str, bytes]], per_batch: int) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE stored_events (id INTEGER PRIMARY KEY AUTOINCREMENT, originator_id TEXT, "
        "originator_version INTEGER, topic TEXT, state BLOB)"
    )
    conn.execute(
        "CREATE UNIQUE INDEX stored_aggregate ON stored_events (originator_id, originator_version)"
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    configure_logging("warning")  # as the CLI runs by default
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "leads.csv"
        data = write_rows(source, args.rows)
        app = open_store(f"sqlite:///{folder / 'leadflow.db'}", actor="bench")
        assert app.pipeline.version  # activation is not part of the import
        summary = import_file(app, source, batch_size=args.batch_size)
        assert summary.created == args.rows, summary
        import_seconds = summary.seconds
        stored = app.recorder.select_notifications(start=1, limit=10**9)
        events = [
            (str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in stored
            if n.topic != "leadflow.org:PipelineActivated"
        ]
        app.close()
        per_batch = max(1, len(events) * args.batch_size // args.rows)
        rows_seconds = raw_rows(folder / "raw_rows.db", data, args.batch_size)
        events_seconds = raw_events(folder / "raw_events.db", events, per_batch)
    print(f"rows: {args.rows}, events written by the import: {len(events)}")
    print(f"import      {import_seconds:8.2f} s  {args.rows / import_seconds:10,.0f} rows/s")
    print(f"raw rows    {rows_seconds:8.2f} s  {args.rows / rows_seconds:10,.0f} rows/s")
    print(f"raw events  {events_seconds:8.2f} s  {len(events) / events_seconds:10,.0f} events/s")
    print(f"import / raw rows   = {rows_seconds / import_seconds:.3f}")
    print(f"import / raw events = {events_seconds / import_seconds:.3f}")


if __name__ == "__main__":
    main()
