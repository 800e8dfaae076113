"""Faults: the network path to the broker is cut mid-publish; the relay is SIGKILLed.

Either way nothing is lost: every event reaches the topic, each lead's events keep
their order, and re-sent events carry the same ids. Duplicates appear only as whole
re-sent runs (the relay resumes from its last acknowledged position).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Connection, create_engine

from leadflow.adapters.kafka import ConsumedEvent, LeadEventConsumer, idempotent
from leadflow.adapters.kafka_relay import Relay
from leadflow.adapters.store import open_store
from leadflow.service.application import Leadflow

from e2e.kafka.kafkatest import (
    GROUP_TIMEOUTS,
    TansuProcess,
    read_topic,
    run_demo_into,
    wait_until,
)
from support.stores import on_roster

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def assert_complete_and_in_lead_order(messages: list[Any], expected_ids: set[str]) -> int:
    """Every id is there; per lead, each message continues its run (n+1) or restarts one.

    Returns how many messages were duplicates.
    """
    by_lead: dict[str, list[int]] = defaultdict(list)
    ids = []
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        event = orjson.loads(message.value)
        by_lead[event["subject"]].append(event["leadsequence"])
        ids.append(event["id"])
    assert set(ids) == expected_ids
    for lead, sequences in by_lead.items():
        assert sequences[0] == 1, f"lead {lead} starts at {sequences[0]}"
        for before, after in itertools.pairwise(sequences):
            assert after == before + 1 or after <= before, f"lead {lead}: gap in {sequences}"
    return len(ids) - len(set(ids))


def write_leads(url: str, stop: threading.Event, pause_s: float) -> None:
    """A writer appending captures and activities until stopped (its own store handle)."""
    app = open_store(url, actor="user:writer")
    leads = []
    try:
        while not stop.is_set():
            leads.append(app.capture(email=f"w{len(leads)}@example.com").lead_id)
            for lead in leads[-3:]:
                app.record_activity(lead, "page_visit", detail=f"/p/{len(leads)}")
            time.sleep(pause_s)
    finally:
        app.close()


def test_the_relay_waits_out_a_cut_network_path_and_the_consumer_ends_with_every_event(
    sqlite_url: str, bootstrap: str, topic: str, proxy: TansuProcess, tmp_path: Path
) -> None:
    through_proxy = f"127.0.0.1:{proxy.port}"
    stop_relay, stop_consumer, stop_writer = threading.Event(), threading.Event(), threading.Event()
    relays: list[Relay] = []

    def relay_thread() -> None:
        app = open_store(sqlite_url)
        relay = Relay(app, sqlite_url, bootstrap=through_proxy, topic=topic, ack_timeout_s=1.0)
        relays.append(relay)
        relay.follow(stop_relay, poll_interval_s=0.05, max_backoff_s=0.5)
        relay.close()

    applied: dict[str, list[int]] = defaultdict(list)

    def collect(conn: Connection, events: Sequence[ConsumedEvent]) -> None:
        for event in events:
            applied[str(event.record.lead_id)].append(event.record.sequence)

    downstream = create_engine(f"sqlite:///{tmp_path / 'downstream.db'}")
    member = LeadEventConsumer(
        through_proxy, f"g-{uuid4().hex[:8]}", topic=topic, retry_pause_s=0.2, **GROUP_TIMEOUTS
    )
    handler = idempotent(downstream, "fault-test", collect)
    threads = [
        threading.Thread(target=relay_thread),
        threading.Thread(target=member.run, args=(handler, stop_consumer)),
        threading.Thread(target=write_leads, args=(sqlite_url, stop_writer, 0.01)),
    ]
    for thread in threads:
        thread.start()
    store = open_store(sqlite_url)
    try:
        wait_until(lambda: bool(relays) and relays[0].position() > 20, 20, "a first publish")
        proxy.stop()  # cut mid-publish: the writer keeps appending
        time.sleep(3)
        assert proxy.start(), "the proxy did not come back"
        time.sleep(1)
        stop_writer.set()
        threads[2].join()
        end = store.max_position()
        wait_until(lambda: relays[0].position() == end, 40, "the relay to catch up")
        expected = list(store.read_events())
        wait_until(
            lambda: sum(len(s) for s in applied.values()) == len(expected),
            40,
            "the consumer to receive every event",
        )
    finally:
        stop_writer.set()
        stop_relay.set()
        stop_consumer.set()
        for thread in threads:
            thread.join(timeout=30)
        member.close()
        store.close()

    assert relays[0].failed_attempts > 0, "the cut should have failed at least one batch"
    per_lead: dict[str, list[int]] = defaultdict(list)
    for record in expected:
        per_lead[str(record.lead_id)].append(record.sequence)
    assert dict(applied) == dict(per_lead)
    messages = read_topic(bootstrap, topic, at_least=len(expected))
    assert_complete_and_in_lead_order(messages, {str(r.id) for r in expected})


def _publish_follow(
    url: str, bootstrap: str, topic: str, batch_size: int = 10
) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).parent / "leadflow"),
        "publish",
        "--follow",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--db",
        url,
        "--batch-size",
        str(batch_size),
        "--poll-interval",
        "0.05",
    ]
    env = dict(os.environ, LEADFLOW_LOG_LEVEL="warning")
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _delivered(consumer: KafkaConsumer, topic: str) -> int:
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    return sum(consumer.end_offsets(partitions).values()) if partitions else 0


def test_a_relay_killed_mid_batch_and_restarted_leaves_no_gap(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    run_demo_into(sqlite_app, leads=150)
    expected = list(sqlite_app.read_events())
    end = expected[-1].position
    watcher = Relay(sqlite_app, sqlite_url, bootstrap=bootstrap, topic=topic)
    offsets = KafkaConsumer(bootstrap_servers=bootstrap)

    def acknowledged(position: int) -> int:
        return sum(1 for r in expected if r.position <= position)

    # Kill as soon as the broker holds messages past the relay's stored position: the
    # relay is then mid-batch (sent, partly acknowledged, position not yet advanced).
    # A kill that lands between batches instead is still a restart; try again.
    kills = mid_batch_kills = 0
    while mid_batch_kills == 0 and kills < 8 and watcher.position() < end:
        relay = _publish_follow(sqlite_url, bootstrap, topic, batch_size=100)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # as tight as possible: a batch lasts milliseconds
            position = watcher.position()
            if position >= end or (
                position > 0 and _delivered(offsets, topic) > acknowledged(position)
            ):
                break
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=10)
        kills += 1
        if _delivered(offsets, topic) > acknowledged(watcher.position()):
            mid_batch_kills += 1
    killed_at = watcher.position()
    restarted = _publish_follow(sqlite_url, bootstrap, topic)
    wait_until(lambda: watcher.position() == end, 60, "the restarted relay to catch up")
    restarted.send_signal(signal.SIGTERM)
    _, errors = restarted.communicate(timeout=20)

    assert mid_batch_kills == 1, f"no kill out of {kills} landed mid-batch"
    assert 0 < killed_at < end
    assert restarted.returncode == 0, errors.decode()
    messages = read_topic(bootstrap, topic, at_least=len(expected))
    duplicates = assert_complete_and_in_lead_order(messages, {str(r.id) for r in expected})
    assert duplicates > 0, "the batch cut short by the kill is re-sent"
    assert len(messages) == len(expected) + duplicates
    offsets.close()
    watcher.close()


def test_a_relay_following_the_log_publishes_new_events_as_they_are_recorded(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    relay_process = _publish_follow(sqlite_url, bootstrap, topic)
    try:
        lead = sqlite_app.capture(email="ada@example.com").lead_id
        on_roster(sqlite_app, "rep:li")
        sqlite_app.assign(lead, "rep:li")

        messages = read_topic(bootstrap, topic, at_least=2, timeout_s=30)
    finally:
        relay_process.send_signal(signal.SIGTERM)
        relay_process.communicate(timeout=20)

    assert [orjson.loads(m.value)["type"] for m in messages] == [
        "leadflow.lead.lead_captured.v1",
        "leadflow.lead.lead_assigned.v1",
    ]
    assert relay_process.returncode == 0
