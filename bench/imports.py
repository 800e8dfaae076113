"""Bulk import throughput vs a raw ``executemany`` of the same data, in one run, on SQLite
or (``--db``) PostgreSQL.

* ``leadflow import``: a CSV of ``size`` distinct people through ``import_file``
  (validation, normalisation, dedupe keys, import keys, batched atomic saves), with its
  default worker setting, then again with every row validated in-process (``workers=0``).
* baseline ``raw events``: ``executemany`` of the identical stored events the import wrote
  (same ids, topics and bytes), in batches of the same size, into a table shaped like the
  event store's (unique aggregate/version key): the cost of the writes alone.
* baseline ``raw rows``: ``executemany`` of the CSV rows themselves into a table with a
  unique email index: a loader with no events, no validation and no dedupe.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leadflow.adapters.importer import Rules, import_file, to_capture
from leadflow.adapters.store import open_store, schema_of

BATCH = 500
Row = tuple[str, str, str, str, str]
Event = tuple[str, int, str, bytes]


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


class _Target:
    """Where the baselines write: SQLite files in the work directory, or fresh schemas."""

    def __init__(self, workdir: Path, db: str | None) -> None:
        self.workdir = workdir
        self.db = db

    def store_url(self, name: str) -> str:
        if self.db is None:
            return f"sqlite:///{self.workdir / (name + '.db')}"
        return f"{self.db.split('?')[0]}?schema={self._schema(name)}"

    def _schema(self, name: str) -> str:
        assert self.db is not None
        return f"{schema_of(self.db) or 'bench'}_{name}"

    def drop(self, names: Sequence[str]) -> None:
        if self.db is None:
            return
        import psycopg

        with psycopg.connect(self.db.split("?")[0], autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self._schema(name)}" CASCADE')
                conn.execute(f'DROP SCHEMA IF EXISTS "{self._schema(name)}_keys" CASCADE')

    def timed_batches(
        self, name: str, create: Sequence[str], insert: str, rows: Sequence[Any], per_batch: int
    ) -> float:
        """Seconds to ``executemany`` ``rows`` in transactions of ``per_batch``."""
        if self.db is None:
            conn = sqlite3.connect(self.workdir / f"{name}.db")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # as leadflow's SQLite store runs
            for statement in create:
                conn.execute(statement)
            started = time.perf_counter()
            for i in range(0, len(rows), per_batch):
                with conn:
                    conn.executemany(insert.replace("%s", "?"), rows[i : i + per_batch])
            elapsed = time.perf_counter() - started
            conn.close()
            return elapsed
        import psycopg

        schema = self._schema(name)
        with psycopg.connect(self.db.split("?")[0]) as pg:
            pg.execute(f'CREATE SCHEMA "{schema}"')
            pg.execute(f'SET search_path TO "{schema}"')
            for statement in create:
                pg.execute(statement.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "bigserial"))
            pg.commit()
            started = time.perf_counter()
            for i in range(0, len(rows), per_batch):
                with pg.transaction(), pg.cursor() as cursor:
                    cursor.executemany(insert, rows[i : i + per_batch])
            return time.perf_counter() - started


def _raw_events(target: _Target, events: list[Event], per_batch: int) -> float:
    return target.timed_batches(
        "raw_events",
        [
            "CREATE TABLE stored_events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "originator_id TEXT, originator_version INTEGER, topic TEXT, state BYTEA)",
            "CREATE UNIQUE INDEX aggregate ON stored_events (originator_id, originator_version)",
        ],
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        "VALUES (%s, %s, %s, %s)",
        events,
        per_batch,
    )


def _raw_rows(target: _Target, data: list[Row]) -> float:
    return target.timed_batches(
        "raw_rows",
        [
            "CREATE TABLE leads (email TEXT, phone TEXT, name TEXT, source TEXT, ind TEXT)",
            "CREATE UNIQUE INDEX leads_email ON leads (email)",
        ],
        "INSERT INTO leads VALUES (%s, %s, %s, %s, %s)",
        data,
        BATCH,
    )


def _import(url: str, source: Path, size: int, workers: int | None) -> tuple[float, Any]:
    app = open_store(url, actor="user:bench")
    assert app.pipeline.version  # the pipeline's activation is not part of the import
    summary = import_file(app, source, batch_size=BATCH, workers=workers)
    assert summary.created == size, summary
    return size / summary.seconds, app


def _validated(app: Any, source: Path, size: int) -> float:
    started = time.perf_counter()
    rules = Rules.of(app)  # as import_file does: the file is validated under one pipeline
    with source.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            to_capture(row, rules)
    return size / (time.perf_counter() - started)


def run(size: int, workdir: Path, db: str | None = None) -> list[dict[str, Any]]:
    target = _Target(workdir, db)
    names = ["import", "import_inprocess", "raw_events", "raw_rows"]
    target.drop(names)
    try:
        return _run(size, workdir, target)
    finally:
        target.drop(names)


def _run(size: int, workdir: Path, target: _Target) -> list[dict[str, Any]]:
    source = workdir / "leads.csv"
    data = _write_csv(source, size)
    imported, app = _import(target.store_url("import"), source, size, None)
    validated = _validated(app, source, size)
    events: list[Event] = [
        (str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in app.recorder.select_notification_rows(start=1, limit=10**9)
        if not n.topic.endswith(":PipelineActivated")
    ]
    app.close()
    in_process, other = _import(target.store_url("import_inprocess"), source, size, 0)
    other.close()
    raw_events = size / _raw_events(target, events, max(1, len(events) * BATCH // size))
    raw_rows = size / _raw_rows(target, data)
    per_row = len(events) / size

    def ratio(value: float) -> float:
        return value / raw_events

    return [
        {
            "figure": f"import rows/s vs raw executemany of its {per_row:.1f} events/row",
            "value": imported,
            "baseline": raw_events,
            "ratio": ratio(imported),
            "target": ">= 0.5x",
            "met": ratio(imported) >= 0.5,
        },
        {
            "figure": "import, every row validated in-process (workers=0), rows/s",
            "value": in_process,
            "baseline": raw_events,
            "ratio": ratio(in_process),
        },
        {
            "figure": "import, rows/s vs raw executemany of the CSV rows (no events, no checks)",
            "value": imported,
            "baseline": raw_rows,
            "ratio": imported / raw_rows,
        },
        {
            "figure": "row validation alone, in-process (email-validator, phonenumbers, "
            "pydantic), rows/s",
            "value": validated,
            "baseline": raw_events,
            "ratio": ratio(validated),
        },
    ]
