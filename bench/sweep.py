"""The sweep on a large store: its cost grows with the leads due, not the leads stored.

On a copy of the synthetic store (``bench.synth``: leads with owners, hand-offs, SLAs):

* the deadline index's first build (what the first sweep after a new pipeline does),
  events/s, against a raw scan + JSON decode of the same lead events;
* a sweep with 10 leads due and one with 1,000 due (the instants are read from the index:
  just past its 10th and 1,000th earliest deadline), seconds; target < 2 s for the 1,000
  and < 3x the 10;
* a second sweep at the same instant (nothing due);
* the 1,000-due sweep again on a store a tenth the size (when that store has 1,000
  deadlines): the ratio shows whether the cost follows the leads stored.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import readside
from bench.synth import generate
from leadflow.adapters.store import open_store, schema_of, sqlalchemy_url

__all__ = ["run"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _copy(size: int, shared: Path, workdir: Path, db: str | None) -> str:
    """A store of ``size`` leads this benchmark may write to."""
    if db is None:
        source = readside.store(size, shared, None).url.removeprefix("sqlite:///")
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / "sweep.db"
        # The log, its keystore and its master key: a copy of the log alone opens no
        # personal data (docs/operations.md, Backups).
        stem = source.removesuffix(".db")
        for name, copied in (
            (source, str(target)),
            (f"{stem}.keys.db", str(workdir / "sweep.keys.db")),
        ):
            for suffix in ("", "-wal", "-shm"):
                if Path(name + suffix).exists():
                    shutil.copyfile(name + suffix, copied + suffix)
        shutil.copyfile(f"{stem}.master.key", workdir / "sweep.master.key")
        return f"sqlite:///{target}"
    url = readside._fresh_url(db, workdir, "sweep")
    app = open_store(url, actor="user:bench")
    generate(app, size)
    app.close()
    return url


def _nth_deadline(url: str, n: int) -> datetime:
    """The ``n``-th earliest deadline in the index (the last one, in a smaller index)."""
    engine = sa.create_engine(sqlalchemy_url(url))
    table = "leadflow_deadlines"
    if not url.startswith("sqlite"):
        table = f'"{schema_of(url) or "public"}".{table}'
    with engine.connect() as conn:
        count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        due = conn.execute(
            sa.text(f"SELECT due_at FROM {table} ORDER BY due_at LIMIT 1 OFFSET :n"),
            {"n": max(min(n, count) - 1, 0)},
        ).scalar_one()
    engine.dispose()
    return _EPOCH + timedelta(microseconds=int(due))


def _sweeps(url: str, wanted: tuple[int, ...]) -> tuple[float, dict[int, tuple[float, int]]]:
    """Build the index (seconds), then sweep with each number of leads due in turn."""
    app = open_store(url, actor="user:bench")
    try:
        started = time.perf_counter()
        app.deadlines.refresh(app.pipeline)
        build = time.perf_counter() - started
        timings: dict[int, tuple[float, int]] = {}
        for n in wanted:
            now = _nth_deadline(url, n)
            started = time.perf_counter()
            result = app.sweep(now)
            timings[n] = (time.perf_counter() - started, result.leads)
        started = time.perf_counter()
        again = app.sweep(now)
        timings[0] = (time.perf_counter() - started, again.leads)
        assert again.events == (), "a second sweep at the same instant recorded events"
    finally:
        app.close()
    return build, timings


def run(size: int, shared: Path, db: str | None = None) -> list[dict[str, Any]]:
    workdir = shared / "sweep-work"
    workdir.mkdir(exist_ok=True)
    try:
        url = _copy(size, shared, workdir, db)
        events, seconds = readside._raw_scan(url)
        build, timings = _sweeps(url, (10, 1000))
        small = None
        if size // 10 >= 5000:
            small_url = _copy(size // 10, shared, workdir / "small", db)
            small = _sweeps(small_url, (1000,))[1][1000]
    finally:
        if db is None:
            shutil.rmtree(workdir, ignore_errors=True)
    baseline, build = events / seconds, events / build
    (few, few_due), (many, many_due), idle = timings[10], timings[1000], timings[0][0]
    rows: list[dict[str, Any]] = [
        {
            "figure": f"deadline index built from {events:,} lead events (events/s)",
            "value": build,
            "baseline": baseline,
            "ratio": build / baseline,
        },
        {
            "figure": f"sweep, {few_due:,} leads due (s)",
            "value": few,
            "unit": "s",
        },
        {
            "figure": f"sweep, {many_due:,} leads due, vs {few_due:,} due (s)",
            "value": many,
            "baseline": few,
            "ratio": many / few,
            "target": "< 2 s and < 3x",
            "met": many < 2 and many < 3 * few,
            "unit": "s",
        },
        {"figure": "second sweep at the same instant, nothing due (s)", "value": idle, "unit": "s"},
    ]
    if small is not None:
        rows.append(
            {
                "figure": f"sweep, {many_due:,} due among {size:,} leads vs {small[1]:,} due "
                f"among {size // 10:,} (s)",
                "value": many,
                "baseline": small[0],
                "ratio": many / small[0],
                "unit": "s",
            }
        )
    return rows
