"""Rebuilds cannot race: every runner of a store's read models holds one lock.

Two overlapping ``leadflow rebuild`` runs once left ``lf_leads`` with 2,552 of 5,091
leads (SQLite) and ``lf_ownership`` with 215 of 387 rows (PostgreSQL) while the positions
said lag 0. Here two and three rebuilds run at once with a follower and a writer
appending to the log, on both databases; afterwards every table equals what a lone clean
rebuild gives. A rebuild killed with SIGKILL leaves no lock behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog

from leadflow.adapters.store import schema_of, sqlalchemy_url
from leadflow.projections import ProjectionRunner
from leadflow.projections.locks import ReadModelsBusy
from leadflow.service.codec import EventRecord

from support.cli import demo_store, invoke
from support.histories import build_history, dump

RUNS = {"rebuilds": 0, "kills": 0}
REPEATS = 3
"""Rebuilds each racing thread runs, one after the other."""


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> None:
    structlog.reset_defaults()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlalchemy_url(db_url), connect_args=_connect_args(db_url))
    yield engine
    engine.dispose()


def _connect_args(db_url: str) -> dict[str, object]:
    return {"timeout": 30} if db_url.startswith("sqlite") else {}


class Log:
    """A growing log: what a writer appends, readers see on their next read."""

    def __init__(self, records: list[EventRecord], tail: list[EventRecord]) -> None:
        self.records = list(records)
        self.tail = list(tail)
        self.lock = threading.Lock()

    def read(self, after: int) -> list[EventRecord]:
        with self.lock:
            return [r for r in self.records if r.position > after]

    def head(self) -> int:
        with self.lock:
            return self.records[-1].position

    def write(self, stop: threading.Event) -> None:
        while self.tail and not stop.is_set():
            with self.lock:
                self.records += self.tail[:40]
                del self.tail[:40]
            time.sleep(0.01)


@pytest.mark.parametrize("rebuilds", [2, 3])
def test_concurrent_rebuilds_followers_and_a_writer_leave_every_table_complete(
    db_url: str, engine: sa.Engine, rebuilds: int
) -> None:
    history = build_history(seed=rebuilds, leads=250, steps=2400)
    log = Log(history[:1600], history[1600:])
    schema = schema_of(db_url)

    def runner() -> ProjectionRunner:
        return ProjectionRunner(engine, schema=schema, batch_size=50)

    runner().catch_up(log.read, head=log.head)
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(work: object) -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as exc:  # reported below, never lost in a thread
            errors.append(exc)

    def follow() -> None:
        while not stop.is_set():
            runner().catch_up(log.read, head=log.head)

    threads = [threading.Thread(target=guarded, args=(lambda: log.write(stop),))]
    threads += [threading.Thread(target=guarded, args=(follow,)) for _ in range(2)]

    def rebuild_again() -> None:
        for _ in range(REPEATS):
            runner().rebuild(log.read, head=log.head)

    threads += [threading.Thread(target=guarded, args=(rebuild_again,)) for _ in range(rebuilds)]
    for thread in threads:
        thread.start()
    for thread in threads[3:]:
        thread.join()
    while log.tail:
        time.sleep(0.01)
    stop.set()
    for thread in threads[:3]:
        thread.join()
    assert errors == []
    RUNS["rebuilds"] += rebuilds * REPEATS

    final = runner()
    final.catch_up(log.read, head=log.head)
    raced = dump(final)
    final.rebuild(log.read, head=log.head)
    assert dump(final) == raced
    assert set(final.positions().values()) == {history[-1].position}


def test_a_catch_up_that_may_not_wait_is_refused_clearly_while_a_rebuild_runs(
    db_url: str, engine: sa.Engine
) -> None:
    runner = ProjectionRunner(engine, schema=schema_of(db_url))
    with runner.exclusive():
        holder = threading.Thread(target=lambda: None)
        holder.start()
        other = ProjectionRunner(engine, schema=schema_of(db_url))
        busy: list[ReadModelsBusy] = []

        def try_catch_up() -> None:
            try:
                other.catch_up(lambda after: [], wait=False)
            except ReadModelsBusy as exc:
                busy.append(exc)

        thread = threading.Thread(target=try_catch_up)
        thread.start()
        thread.join()
        holder.join()
    assert len(busy) == 1
    assert "being written by another runner" in str(busy[0])


def test_a_rebuild_killed_mid_way_leaves_no_lock_and_the_next_one_completes(
    tmp_path: Path,
) -> None:
    url = demo_store(tmp_path)
    invoke("rebuild", "--db", url)
    clean = _tables(url)
    for delay in (0.3, 0.8, 1.5):
        process = subprocess.Popen(
            [sys.executable, "-m", "leadflow.adapters.cli", "rebuild", "--db", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "120"},
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        RUNS["kills"] += 1
        invoke("rebuild", "--db", url)
        assert _tables(url) == clean


def _tables(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        runner = ProjectionRunner(engine, schema=schema_of(url))
        return dump(runner)
    finally:
        engine.dispose()
