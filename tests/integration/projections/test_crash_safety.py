"""A catch-up killed with SIGKILL mid-way resumes to exactly what a clean rebuild gives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadflow.adapters.demo import START, SimClock, run_demo
from leadflow.adapters.store import open_store, schema_of, sqlalchemy_url
from leadflow.projections import POSITIONS, ProjectionRunner

from support.histories import dump

# The child applies batches of 40 events and then, still inside the batch's
# transaction, sleeps: a kill lands mid-transaction, after rows were written.
CHILD = textwrap.dedent(
    """
    import sys, time
    import sqlalchemy as sa
    from leadflow.adapters.store import open_store, schema_of, sqlalchemy_url
    from leadflow.projections import ProjectionRunner, all_projections

    url, pause = sys.argv[1], float(sys.argv[2])

    class Slow:
        def __init__(self, inner):
            self.inner, self.name, self.tables = inner, inner.name, inner.tables
        def handle(self, conn, records):
            self.inner.handle(conn, records)
            time.sleep(pause)
        def reset(self, conn):
            self.inner.reset(conn)
        def __getattr__(self, name):  # version, settings: the same fingerprint as inner
            return getattr(self.inner, name)

    app = open_store(url)
    engine = sa.create_engine(sqlalchemy_url(url))
    runner = ProjectionRunner(
        engine, [Slow(p) for p in all_projections()], schema_of(url), batch_size=40
    )
    runner.catch_up(lambda after: app.read_events(after=after))
    print("done", flush=True)
    """
)


@pytest.fixture
def demo_store(db_url: str) -> str:
    """About 3,800 events of a simulated year, on SQLite and on PostgreSQL."""
    clock = SimClock(START)
    app = open_store(db_url, clock=clock, actor="user:demo")
    run_demo(app, clock, 150, 11)
    app.close()
    return db_url


def _positions(runner: ProjectionRunner) -> dict[str, int]:
    try:
        with runner.engine.connect() as conn:
            return dict(conn.execute(sa.select(POSITIONS.c.name, POSITIONS.c.position)).all())
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        return {}  # tables not created yet


def _child(url: str, pause: float, script: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(script), url, str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_a_catch_up_killed_mid_batch_resumes_to_the_same_tables_as_a_clean_rebuild(
    demo_store: str, tmp_path: Path
) -> None:
    app = open_store(demo_store)
    head = app.max_position()
    assert head > 2000
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    engine = sa.create_engine(sqlalchemy_url(demo_store))
    runner = ProjectionRunner(engine, schema=schema_of(demo_store))

    victim = _child(demo_store, 0.05, script)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reached = _positions(runner)
        if reached and min(reached.values()) > head // 4:
            break
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    at_kill = _positions(runner)
    assert victim.returncode == -signal.SIGKILL
    assert 0 < min(at_kill.values()) < head, "the kill must land mid-way through the log"

    survivor = _child(demo_store, 0.0, script)
    out, _ = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, out
    assert set(runner.positions().values()) == {head}
    resumed = dump(runner)

    runner.rebuild(lambda after: app.read_events(after=after))

    assert dump(runner) == resumed
    engine.dispose()
