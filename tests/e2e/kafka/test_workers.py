"""Projection workers scale out: three ``leadflow project --from-kafka`` processes in one
group share the partitions; one is SIGKILLed mid-batch; the read models they build equal
a lone clean rebuild from the log, table by table.

Each worker is a real process on a real broker. On PostgreSQL the kill is provably
mid-batch: the test holds ``lf_funnel_daily`` locked, waits until a worker's backend has
written read-model rows in its open transaction and waits for that lock, and kills it
there. On SQLite the test holds the database's write lock instead, so the killed worker
is inside its batch (polled, transaction begun) but has not written yet.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import psycopg
import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer
from psycopg import sql

from leadflow.adapters.cli_projections import projection_runner
from leadflow.adapters.cloudevents import decode_event, encode_event
from leadflow.adapters.kafka import ConsumedEvent, Rewind
from leadflow.adapters.kafka_admin import ensure_topic
from leadflow.adapters.kafka_relay import Relay
from leadflow.adapters.kafka_workers import (
    FeedConflict,
    FeedReplaced,
    ProjectionWorker,
    group_lag,
    read_side_engine,
    stored_offsets,
)
from leadflow.adapters.store import open_store
from leadflow.projections import LEADS, ProjectionRunner, all_projections
from leadflow.service.application import Leadflow

from e2e.kafka.kafkatest import run_demo_into, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 6
WORKERS = 3
LEADFLOW = str(Path(sys.executable).parent / "leadflow")


@dataclass
class Worker:
    """A ``leadflow project --from-kafka`` process and its JSON log on disk."""

    process: subprocess.Popen[bytes]
    log_path: Path
    lines: list[dict[str, Any]] = field(default_factory=list)

    def events(self, name: str) -> list[dict[str, Any]]:
        text = self.log_path.read_text()
        self.lines = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
        return [line for line in self.lines if line.get("event") == name]

    def partitions(self) -> list[int]:
        """What it holds now, by its log: the last assignment unless revoked since."""
        held: list[int] = []
        self.events("")
        for line in self.lines:
            if line.get("event") == "partitions_assigned":
                held = list(line["partitions"])
            elif line.get("event") == "partitions_revoked":
                held = []
        return held


def start_worker(
    store_url: str, into: str, bootstrap: str, topic: str, group: str, log_path: Path
) -> Worker:
    command = [
        LEADFLOW,
        "project",
        "--from-kafka",
        "--group",
        group,
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--into",
        into,
        "--db",
        store_url,
        "--batch-size",
        "40",
        "--session-timeout",
        "6",
        "--max-poll-interval",
        "5",
    ]
    env = dict(os.environ, LEADFLOW_LOG_LEVEL="debug")
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    return Worker(process, log_path)


def publish(app: Leadflow, url: str, bootstrap: str, topic: str, name: str) -> int:
    relay = Relay(app, url, bootstrap=bootstrap, topic=topic, name=name, personal_data="clear")
    try:
        return relay.publish_available()
    finally:
        relay.close()


@pytest.fixture
def read_side(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The workers' read-side database: a SQLite file, or a schema beside the store's."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'read-side.db'}"
        return
    base, _, query = db_url.partition("?schema=")
    schema = f"{query}_rs"
    yield f"{base}?schema={schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def rows(engine: sa.Engine, schema: str | None, table: sa.Table) -> list[tuple[Any, ...]]:
    mapped = engine.execution_options(schema_translate_map={None: schema})
    with mapped.connect() as conn:
        return sorted(map(tuple, conn.execute(sa.select(table)).all()), key=repr)


def _blocked_mid_batch(engine: sa.Engine, schema: str) -> int | None:
    """The OS pid of a worker whose backend wrote ``lf_leads`` rows in its open
    transaction and now waits for the lock the test holds (None: none yet)."""
    query = sa.text(
        """
        SELECT a.application_name FROM pg_stat_activity a
        WHERE a.application_name LIKE 'leadflow-worker-%' AND a.wait_event_type = 'Lock'
          AND EXISTS (
            SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE l.pid = a.pid AND l.granted AND l.mode = 'RowExclusiveLock'
              AND c.relname = 'lf_leads' AND n.nspname = :schema)
        LIMIT 1
        """
    )
    with engine.connect() as conn:
        name = conn.execute(query, {"schema": schema}).scalar()
    return int(name.rsplit("-", 1)[1]) if name else None


def test_three_workers_share_the_partitions_and_survive_a_kill_mid_batch(
    db_url: str, read_side: str, bootstrap: str, tmp_path: Path
) -> None:
    app = open_store(db_url, actor="user:test")
    run_demo_into(app, leads=120)
    topic = f"lf-workers-{uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions=PARTITIONS)
    group = f"readers-{uuid4().hex[:6]}"
    engine, schema = read_side_engine(read_side)
    offsets = KafkaConsumer(bootstrap_servers=bootstrap)
    workers = [
        start_worker(db_url, read_side, bootstrap, topic, group, tmp_path / f"worker-{i}.log")
        for i in range(WORKERS)
    ]
    holder: sa.Connection | None = None
    try:
        # 1. The group settles: every worker holds two of the six partitions.
        def settled() -> bool:
            held = [w.partitions() for w in workers]
            return sorted(p for h in held for p in h) == list(range(PARTITIONS)) and all(held)

        wait_until(settled, 40, "three workers to share the partitions")

        # 2. Hold a lock the workers' batches need, then publish the log.
        holder = engine.connect()
        holder.begin()
        if engine.dialect.name == "postgresql":
            holder.exec_driver_sql(f'LOCK TABLE "{schema}".lf_funnel_daily IN EXCLUSIVE MODE')
        # (On SQLite, ``begin`` is BEGIN IMMEDIATE: the write lock is held already.)
        published = publish(app, db_url, bootstrap, topic, "first")

        # 3. Kill a worker inside its batch.
        victim: Worker
        if engine.dialect.name == "postgresql":
            found: list[int] = []

            def blocked() -> bool:
                pid = _blocked_mid_batch(engine, schema or "")
                found.extend([pid] if pid else [])
                return bool(found)

            wait_until(blocked, 10, "a worker blocked mid-batch")
            victim = next(w for w in workers if w.process.pid == found[0])
        else:
            time.sleep(1.0)  # every worker with messages is now waiting in BEGIN IMMEDIATE
            victim = workers[0]
        victim_partitions = victim.partitions()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        holder.rollback()
        holder.close()
        holder = None

        # 4. The survivors take the victim's partitions over and finish the topic: the
        # read models equal a lone clean rebuild of the store's own, from the log.
        survivors = [w for w in workers if w is not victim]

        def applied_everything() -> None:
            wait_until(
                lambda: group_lag(engine, schema, group, topic, offsets).total == 0,
                60,
                "the survivors to apply the whole topic",
            )

        applied_everything()

        # The survivors' logs may report the new assignment a moment after their batches
        # ran (under a loaded machine, seen in a full parallel suite): wait for it.
        def taken_over() -> set[int]:
            return {p for w in survivors for p in w.partitions()}

        wait_until(lambda: taken_over() == set(range(PARTITIONS)), 30, "the survivors' takeover")
        runner = projection_runner(db_url, app)
        runner.rebuild(lambda after: app.read_events(after=after), head=app.max_position)
        tables = [t for p in runner.projections for t in p.tables]
        expected = {t.name: rows(runner.engine, runner.schema, t) for t in tables}
        for table in tables:
            assert rows(engine, schema, table) == expected[table.name], table.name

        # 5. Every event again (a relay re-publishing): the survivors drop the copies.
        publish(app, db_url, bootstrap, topic, "again")
        applied_everything()
        for table in tables:
            assert rows(engine, schema, table) == expected[table.name], table.name
        for worker in survivors:
            worker.process.send_signal(signal.SIGTERM)
        for worker in survivors:
            assert worker.process.wait(timeout=20) == 0
    finally:
        if holder is not None:
            holder.close()
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(timeout=10)
        offsets.close()

    assert published > 1000
    assert victim_partitions, "the killed worker held partitions"
    assert not victim.events("worker_stopped"), "the victim was killed, not stopped"
    for worker in survivors:
        assert worker.events("worker_stopped"), "SIGTERM stops a worker cleanly"
        assert not worker.events("handler_failed")
    assert all(w.events("worker_batch_applied") for w in survivors)

    assert sum(map(len, expected.values())) > 1000, "the read models hold rows"
    engine.dispose()
    app.close()


# -- one worker in-process: fencing, reset, conflicts -------------------------------------


@dataclass(frozen=True)
class Message:
    """What kafka-python hands the consumer, as much of it as a worker reads."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def as_messages(app: Leadflow, topic: str) -> list[Message]:
    """The store's events as one partition's messages, offsets 0, 1, …"""
    return [
        Message(topic, 0, offset, encode_event(record, "leadflow://test")[1])
        for offset, record in enumerate(app.read_events())
    ]


def consumed(messages: Sequence[Message]) -> list[ConsumedEvent]:
    return [
        ConsumedEvent.of(decode_event(m.value), m.topic, m.partition, m.offset) for m in messages
    ]


def in_process_worker(
    engine: sa.Engine, schema: str | None, bootstrap: str, topic: str, group: str, **kw: Any
) -> ProjectionWorker:
    return ProjectionWorker(
        engine,
        kw.pop("projections", all_projections()),
        bootstrap,
        group,
        topic=topic,
        schema=schema,
        **kw,
    )


def test_a_worker_that_lost_its_partition_cannot_apply_a_batch_another_applied(
    sqlite_app: Leadflow, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    run_demo_into(sqlite_app, leads=10)
    messages = as_messages(sqlite_app, topic)
    engine, schema = read_side_engine(f"sqlite:///{tmp_path / 'read.db'}")
    first = in_process_worker(engine, schema, bootstrap, topic, "g")
    zombie = in_process_worker(engine, schema, bootstrap, topic, "g")
    try:
        for worker in (first, zombie):  # both believe they hold partition 0 at offset 0
            worker.hold(0)
        batch = messages[:40]
        first.deliver(lambda _: None, 0, batch, consumed(batch))
        with pytest.raises(Rewind) as rewind:
            zombie.deliver(lambda _: None, 0, batch, consumed(batch))
        assert rewind.value.offset == 40, "the zombie is sent to where the other stopped"
        assert zombie.applied == 0
        rest = messages[40:]
        zombie.deliver(lambda _: None, 0, rest, consumed(rest))  # it resumes from there
        assert first.applied + zombie.applied == len(messages)
    finally:
        first.close()
        zombie.close()
    runner = ProjectionRunner(sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}"))
    runner.catch_up(lambda after: sqlite_app.read_events(after=after))
    for table in (t for p in runner.projections for t in p.tables):
        assert rows(engine, schema, table) == rows(runner.engine, None, table), table.name


def test_other_settings_need_a_reset_and_a_reset_stops_the_workers_of_the_old_ones(
    sqlite_app: Leadflow, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    run_demo_into(sqlite_app, leads=5)
    messages = as_messages(sqlite_app, topic)
    engine, schema = read_side_engine(f"sqlite:///{tmp_path / 'read.db'}")
    old = in_process_worker(engine, schema, bootstrap, topic, "g")
    old.hold(0)
    old.deliver(lambda _: None, 0, messages, consumed(messages))
    other_rules = all_projections(closed_stages=["won"])
    with pytest.raises(FeedConflict, match="--reset"):
        in_process_worker(engine, schema, bootstrap, topic, "g", projections=other_rules)
    with pytest.raises(FeedConflict, match="fed by group 'g'"):
        in_process_worker(engine, schema, bootstrap, topic, "h")
    new = in_process_worker(
        engine, schema, bootstrap, topic, "g", projections=other_rules, reset=True
    )
    assert stored_offsets(engine, schema, "g", topic) == {}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(LEADS)).scalar() == 0
    later = [Message(topic, 0, len(messages), messages[0].value)]  # its next message
    with pytest.raises(Rewind):  # its offset is gone: it re-reads, sees the reset, stops
        old.deliver(lambda _: None, 0, later, consumed(later))
    assert isinstance(old.replaced, FeedReplaced)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(LEADS)).scalar() == 0
    old.close()
    new.close()


@pytest.mark.parametrize(
    ("args", "field_name"),
    [
        (["--into", "sqlite:///x.db", "--bootstrap", "b:1"], "group"),
        (["--group", "g", "--bootstrap", "b:1"], "into"),
        (["--group", "g", "--into", "sqlite:///x.db", "--follow"], "follow"),
    ],
)
def test_a_worker_without_what_it_needs_exits_2_naming_the_option(
    sqlite_url: str, args: list[str], field_name: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [LEADFLOW, "project", "--from-kafka", "--db", sqlite_url, *args],
        capture_output=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "LEADFLOW_KAFKA"},
        timeout=60,
    )
    assert result.returncode == 2, result.stderr.decode()
    assert f"error: {field_name}:" in result.stderr.decode()
    assert not (tmp_path / "x.db").exists(), "nothing written"


def test_a_worker_refuses_to_write_into_a_store(
    sqlite_url: str, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    open_store(other).close()
    result = subprocess.run(
        [
            LEADFLOW,
            "project",
            "--from-kafka",
            "--db",
            sqlite_url,
            "--group",
            "g",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--into",
            other,
        ],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr.decode()
    assert "error: into: the database holds stored_events" in result.stderr.decode()
