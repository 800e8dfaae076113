"""Read-side figures on one synthetic store (``bench.synth``), each against its baseline.

* ``rebuild``: ``ProjectionRunner.rebuild`` of every read model, events/s, vs a raw scan
  + JSON decode of the same events through the database driver. Run in a child process
  (``bench.child``), which also reports its peak RSS.
* ``funnel``: the SQL funnel as of a past date, ms, vs the reference (a full replay of
  the log, ``projections.reference``) and vs DuckDB querying the raw events (loaded
  from the log into an in-memory DuckDB table; only the query is timed). All three
  answers are checked to be equal.
* ``dedupe``: one contact-key lookup at capture (``Leadflow._find_key``, what
  ``Intake.key`` calls), p99 over many keys, half held by a lead, half free.
* ``memory``: peak RSS of rebuild and of import, at the size and at a tenth of it, each
  in a fresh child process.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.synth import DAYS, START, Generated, generate
from leadflow.adapters.store import open_store, schema_of
from leadflow.application import Leadflow
from leadflow.codec import LEAD_TOPICS
from leadflow.dedupe import key_id
from leadflow.projections.funnel import FunnelQuery, funnel
from leadflow.projections.reference import funnel_from_events

__all__ = ["Store", "dedupe", "funnel_figures", "memory", "rebuild", "store"]


@dataclass
class Store:
    url: str
    generated: Generated
    built: bool = False


_stores: dict[tuple[str, int], Store] = {}


def _fresh_url(db: str | None, workdir: Path, name: str) -> str:
    """A new, empty store: a file in ``workdir``, or a fresh schema on the server at ``db``."""
    if db is None:
        return f"sqlite:///{workdir / (name + '.db')}"
    import psycopg

    base = schema_of(db) or "bench"
    schema = f"{base}_{name}"
    plain = db.split("?")[0]
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return f"{plain}?schema={schema}"


def store(size: int, workdir: Path, db: str | None = None) -> Store:
    """The synthetic store of ``size`` leads for this run (generated once, then shared)."""
    found = _stores.get((db or "sqlite", size))
    if found is None:
        url = _fresh_url(db, workdir, f"synth{size}")
        app = open_store(url, actor="user:bench")
        generated = generate(app, size)
        app.close()
        found = _stores[(db or "sqlite", size)] = Store(url, generated)
    return found


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.child", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "LEADFLOW_LOG_LEVEL": "warning"},
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- rebuild -----------------------------------------------------------------------------


def _raw_scan(url: str) -> tuple[int, float]:
    """Every lead event's row read through the driver and its state JSON-decoded."""
    topics = list(LEAD_TOPICS)
    marks = ",".join(["?"] * len(topics))
    started = time.perf_counter()
    count = 0
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        query = f"SELECT rowid, originator_id, originator_version, topic, state FROM stored_events WHERE topic IN ({marks}) ORDER BY rowid"  # noqa: E501
        for row in conn.execute(query, topics):
            orjson.loads(row[4])
            count += 1
        conn.close()
    else:
        import psycopg

        schema = schema_of(url) or "public"
        with psycopg.connect(url.split("?")[0]) as conn, conn.cursor(name="scan") as cur:
            cur.itersize = 10_000
            cur.execute(
                f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{schema}".stored_events WHERE topic = ANY(%s) ORDER BY notification_id',  # noqa: E501
                (topics,),
            )
            for row in cur:
                orjson.loads(row[4])
                count += 1
    return count, time.perf_counter() - started


def rebuild(size: int, workdir: Path, db: str | None = None) -> list[dict[str, Any]]:
    s = store(size, workdir, db)
    raw_count, raw_seconds = _raw_scan(s.url)
    baseline = raw_count / raw_seconds
    result = _child("rebuild", s.url)
    s.built = True
    rate = result["events"] / result["seconds"]
    return [
        {
            "figure": f"synthetic store: {s.generated.all_events:,} events "
            f"({s.generated.lead_events:,} lead events) generated, events/s",
            "value": s.generated.all_events / s.generated.seconds,
        },
        {"figure": "raw scan + JSON decode of the lead events, events/s", "value": baseline},
        {
            "figure": "full projection rebuild (3 read models), events/s",
            "value": rate,
            "baseline": baseline,
            "ratio": rate / baseline,
            "target": ">= 0.7x",
            "met": rate >= 0.7 * baseline,
        },
    ]


# -- funnel ------------------------------------------------------------------------------


def _duckdb_events(app: Leadflow, path: Path) -> Any:
    """The raw lead events in an in-memory DuckDB table, one column per field used."""
    import duckdb

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["position", "lead_id", "type", "occurred_at", "recorded_at", "stage"])
        for r in app.read_events(batch_size=10_000):
            writer.writerow(
                [
                    r.position,
                    str(r.lead_id),
                    r.type,
                    r.occurred_at.isoformat(),
                    r.recorded_at.isoformat(),
                    r.data.get("stage", ""),
                ]
            )
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events AS SELECT * FROM read_csv(?, header=true, columns={"
        "'position': 'BIGINT', 'lead_id': 'VARCHAR', 'type': 'VARCHAR', "
        "'occurred_at': 'TIMESTAMPTZ', 'recorded_at': 'TIMESTAMPTZ', 'stage': 'VARCHAR'})",
        [str(path)],
    )
    path.unlink()
    return con


_DUCKDB_FUNNEL = """
WITH s AS (
  SELECT lead_id, stage, occurred_at, position FROM events
  WHERE type IN ('LeadCaptured', 'StageChanged') AND occurred_at <= $t
),
now_in AS (
  SELECT arg_max(stage, (occurred_at, position)) AS stage FROM s GROUP BY lead_id
)
SELECT stage, sum(in_stage)::BIGINT, sum(reached)::BIGINT FROM (
  SELECT stage, count(*) AS in_stage, 0 AS reached FROM now_in GROUP BY stage
  UNION ALL
  SELECT stage, 0, count(DISTINCT lead_id) FROM s GROUP BY stage
) GROUP BY stage
"""


def _timed_ms(fn: Any, repeat: int) -> tuple[float, Any]:
    samples = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def funnel_figures(size: int, workdir: Path, db: str | None = None) -> list[dict[str, Any]]:
    s = store(size, workdir, db)
    if not s.built:
        _child("rebuild", s.url)
        s.built = True
    app = open_store(s.url, actor="user:bench")
    pipeline = app.pipeline
    from leadflow.adapters.cli_projections import projection_runner

    runner = projection_runner(s.url)
    as_of = START + timedelta(days=DAYS * 0.6, hours=13, minutes=17)
    q = FunnelQuery(as_of=as_of)
    with runner.engine.connect() as conn:
        fast_ms, fast = _timed_ms(lambda: funnel(conn, pipeline, q), 21)
        known_q = FunnelQuery(as_of=as_of, as_known_at=as_of + timedelta(days=2))
        known_ms, _ = _timed_ms(lambda: funnel(conn, pipeline, known_q), 21)
    replay_ms, reference = _timed_ms(
        lambda: funnel_from_events(app.read_events(batch_size=10_000), pipeline, as_of), 1
    )
    if fast != reference:
        raise AssertionError(f"funnel differs from the reference: {fast} != {reference}")
    con = _duckdb_events(app, workdir / "events.csv")
    duck_ms, duck = _timed_ms(lambda: con.execute(_DUCKDB_FUNNEL, {"t": as_of}).fetchall(), 5)
    got = {stage: (int(i), int(r)) for stage, i, r in duck}
    want = {row.stage: (row.in_stage, row.reached) for row in reference if row.reached}
    if got != want:
        raise AssertionError(f"DuckDB funnel differs from the reference: {got} != {want}")
    con.close()
    app.close()
    return [
        {"figure": "funnel as of a past date: full replay of the log (reference), ms",
         "value": replay_ms},
        {"figure": "funnel as of a past date: DuckDB on the raw events table, ms",
         "value": duck_ms},
        {
            "figure": "funnel as of a past date, ms (vs replay)",
            "value": fast_ms,
            "baseline": replay_ms,
            "ratio": replay_ms / fast_ms,
            "target": "< 200 ms, >= 100x faster",
            "met": fast_ms < 200 and replay_ms / fast_ms >= 100,
            "unit": "ms",
        },
        {
            "figure": "funnel as of a past date, ms (vs DuckDB)",
            "value": fast_ms,
            "baseline": duck_ms,
            "ratio": duck_ms / fast_ms,
            "target": "faster than DuckDB (> 1x)",
            "met": fast_ms < duck_ms,
            "unit": "ms",
        },
        {
            "figure": "funnel as of a date, as known 2 days later, ms (vs replay)",
            "value": known_ms,
            "baseline": replay_ms,
            "ratio": replay_ms / known_ms,
            "unit": "ms",
        },
    ]  # fmt: skip


# -- dedupe ------------------------------------------------------------------------------


def dedupe(size: int, workdir: Path, db: str | None = None) -> list[dict[str, Any]]:
    s = store(size, workdir, db)
    app = open_store(s.url, actor="user:bench")
    held = [key_id("email", e) for e in s.generated.emails]
    free = [key_id("email", f"nobody{i}@example.org") for i in range(len(held))]
    samples: list[float] = []
    found = 0
    # Interleaved, each key once: nothing is served from the aggregate cache.
    for h, f in zip(held, free, strict=True):
        for kid in (h, f):
            started = time.perf_counter()
            key = app._find_key(kid)
            samples.append((time.perf_counter() - started) * 1000)
            found += key is not None
    app.close()
    if found != len(held):
        raise AssertionError(f"{found} of {len(held)} held keys found")
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    p50 = samples[len(samples) // 2]
    return [
        {
            "figure": f"dedupe key lookup at capture, p50, ms ({len(samples):,} lookups)",
            "value": p50,
            "unit": "ms",
        },
        {
            "figure": f"dedupe key lookup at capture, p99, ms ({s.generated.leads:,} leads)",
            "value": p99,
            "target": "< 1 ms",
            "met": p99 < 1.0,
            "unit": "ms",
        },
    ]


# -- memory ------------------------------------------------------------------------------


def _write_csv(path: Path, size: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "phone", "name", "source", "industry"])
        for i in range(size):
            writer.writerow(
                [f"p{i}@ex{i % 97}.com", f"+86138{i:08d}", f"P {i}", "web_form", "retail"]
            )


def memory(size: int, workdir: Path, db: str | None = None) -> list[dict[str, Any]]:
    small_size = max(size // 10, 1)
    big = store(size, workdir, db)
    small = store(small_size, workdir, db)
    rows = []
    peaks: dict[str, dict[int, float]] = {"rebuild": {}, "import": {}}
    for s, n in ((small, small_size), (big, size)):
        peaks["rebuild"][n] = _child("rebuild", s.url)["peak_rss_mb"]
        big.built = big.built or s is big
        source = workdir / f"import{n}.csv"
        _write_csv(source, n)
        url = _fresh_url(db, workdir, f"import{n}")
        peaks["import"][n] = _child("import", str(source), url)["peak_rss_mb"]
        source.unlink()
    for what, by_size in peaks.items():
        peak, smaller = by_size[size], by_size[small_size]
        rows.append(
            {
                "figure": f"peak RSS of {what} at {size:,} leads, MB (vs {small_size:,})",
                "value": peak,
                "baseline": smaller,
                "ratio": peak / smaller,
                "target": "< 500 MB and < 1.5x",
                "met": peak < 500 and peak < 1.5 * smaller,
                "unit": "MB",
            }
        )
    return rows
