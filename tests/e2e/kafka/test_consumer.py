"""The consumer toolkit: typed events, commits after success, dead letters, idempotence."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
from kafka import KafkaProducer
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, create_engine, select

from leadflow.adapters.cloudevents import encode_event
from leadflow.adapters.kafka import (
    ConsumedEvent,
    KafkaProjectionFeeder,
    LeadEventConsumer,
    dead_letter_topic,
)
from leadflow.adapters.kafka_relay import Relay
from leadflow.domain.events import EVENT_TYPES, CapturedData
from leadflow.projections.reference import funnel_from_events
from leadflow.service.application import Leadflow
from leadflow.service.codec import EventRecord

from e2e.kafka.kafkatest import GROUP_TIMEOUTS, read_topic, run_demo_into, wait_until
from support.stores import on_roster

pytestmark = pytest.mark.kafka

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "funnel_service.py"


def consumer(bootstrap: str, topic: str, group: str | None = None) -> LeadEventConsumer:
    return LeadEventConsumer(
        bootstrap, group or f"g-{uuid4().hex[:8]}", topic=topic, retry_pause_s=0.1, **GROUP_TIMEOUTS
    )


def consume_until(
    member: LeadEventConsumer,
    handler: Callable[[Sequence[ConsumedEvent]], None],
    done: Callable[[], bool],
    timeout_s: float = 30.0,
) -> None:
    def step() -> bool:
        member.poll(handler, timeout_ms=200)
        return done()

    wait_until(step, timeout_s, "the consumer to finish")


def publish_store(app: Leadflow, url: str, bootstrap: str, topic: str, name: str = "r") -> int:
    """Publish with personal fields in clear (``stream.personal_data = "clear"``): these
    tests check that a consumer gets exactly what the log holds."""
    relay = Relay(app, url, bootstrap=bootstrap, topic=topic, name=name, personal_data="clear")
    try:
        return relay.publish_available()
    finally:
        relay.close()


def test_a_group_consumer_gets_typed_events_and_resumes_after_what_it_handled(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    ada = sqlite_app.capture(email="ada@example.com").lead_id
    on_roster(sqlite_app, "rep:li")
    sqlite_app.assign(ada, "rep:li")
    publish_store(sqlite_app, sqlite_url, bootstrap, topic)
    group = f"g-{uuid4().hex[:8]}"
    seen: list[ConsumedEvent] = []

    first = consumer(bootstrap, topic, group)
    consume_until(first, seen.extend, lambda: len(seen) == 2)
    first.close()
    sqlite_app.record_activity(ada, "call")
    publish_store(sqlite_app, sqlite_url, bootstrap, topic)
    second = consumer(bootstrap, topic, group)
    consume_until(second, seen.extend, lambda: len(seen) == 3)
    second.close()

    assert [e.record.type for e in seen] == ["LeadCaptured", "LeadAssigned", "ActivityRecorded"]
    assert isinstance(seen[0].payload, CapturedData)
    assert seen[0].payload.email == "ada@example.com"
    assert [e.record for e in seen] == list(sqlite_app.read_events())


def test_a_failing_handler_gets_the_same_events_again_and_nothing_is_committed_before(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    lead = sqlite_app.capture(email="ada@example.com").lead_id
    on_roster(sqlite_app, "rep:li")
    sqlite_app.assign(lead, "rep:li")
    publish_store(sqlite_app, sqlite_url, bootstrap, topic)
    attempts: list[list[int]] = []
    handled: list[int] = []

    def flaky(events: Sequence[ConsumedEvent]) -> None:
        attempts.append([e.record.sequence for e in events])
        if len(attempts) < 3:
            raise RuntimeError("downstream database is down")
        handled.extend(e.record.sequence for e in events)

    member = consumer(bootstrap, topic)
    consume_until(member, flaky, lambda: handled == [1, 2])
    member.close()

    assert attempts[:3] == [[1, 2], [1, 2], [1, 2]]


def test_a_poison_message_is_dead_lettered_with_its_reason_and_the_partition_moves_on(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    lead = sqlite_app.capture(email="ada@example.com").lead_id
    publish_store(sqlite_app, sqlite_url, bootstrap, topic)
    key = str(lead).encode()  # same key: same partition as the lead's good events
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, key=key, value=b"{not json")
    good = next(iter(sqlite_app.read_events()))
    _, value, _ = encode_event(good, "leadflow://elsewhere")
    unknown = orjson.loads(value) | {"type": "leadflow.lead.lead_teleported.v1"}
    producer.send(topic, key=key, value=orjson.dumps(unknown))
    producer.flush()
    producer.close()
    on_roster(sqlite_app, "rep:li")
    sqlite_app.assign(lead, "rep:li")
    publish_store(sqlite_app, sqlite_url, bootstrap, topic)
    seen: list[ConsumedEvent] = []

    member = consumer(bootstrap, topic)
    consume_until(member, seen.extend, lambda: len(seen) == 2)
    member.close()

    assert [e.record.type for e in seen] == ["LeadCaptured", "LeadAssigned"]
    parked = read_topic(bootstrap, dead_letter_topic(topic), at_least=2)
    reasons = [dict(m.headers)["dlq_reason"] for m in parked]
    assert reasons == [b"invalid_json", b"unknown_type"]
    assert parked[0].value == b"{not json"
    assert all(dict(m.headers)["dlq_source_topic"] == topic.encode() for m in parked)


_COUNTS = Table(
    "test_event_counts",
    MetaData(),
    Column("event_id", String(36), primary_key=True),
    Column("applied", Integer, nullable=False),
)


class CountingProjection:
    """Counts how often each event was applied: anything above 1 is a double count."""

    name = "counting"
    tables = (_COUNTS,)

    def handle(self, conn: Connection, records: Sequence[EventRecord]) -> None:
        for record in records:
            row = conn.execute(
                select(_COUNTS.c.applied).where(_COUNTS.c.event_id == str(record.id))
            ).first()
            if row is None:
                conn.execute(_COUNTS.insert().values(event_id=str(record.id), applied=1))
            else:
                conn.execute(
                    _COUNTS.update()
                    .where(_COUNTS.c.event_id == str(record.id))
                    .values(applied=row.applied + 1)
                )

    def reset(self, conn: Connection) -> None:
        conn.execute(_COUNTS.delete())


def test_the_feeder_applies_each_event_once_although_the_topic_holds_it_twice(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    run_demo_into(sqlite_app, leads=15)
    expected = list(sqlite_app.read_events())
    publish_store(sqlite_app, sqlite_url, bootstrap, topic, name="first")
    publish_store(sqlite_app, sqlite_url, bootstrap, topic, name="second")  # duplicates all
    engine = create_engine(f"sqlite:///{tmp_path / 'downstream.db'}")
    feeder = KafkaProjectionFeeder(engine, [CountingProjection()], name="counts")
    read = 0

    def feed(events: Sequence[ConsumedEvent]) -> None:
        nonlocal read
        feeder(events)
        read += len(events)

    member = consumer(bootstrap, topic)
    consume_until(member, feed, lambda: read == 2 * len(expected))
    member.close()

    with engine.connect() as conn:
        counts = dict(conn.execute(select(_COUNTS.c.event_id, _COUNTS.c.applied)).all())
    assert counts == {str(r.id): 1 for r in expected}


def test_the_example_service_keeps_the_same_funnel_as_the_log_from_kafka_alone(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    run_demo_into(sqlite_app, leads=60)
    publish_store(sqlite_app, sqlite_url, bootstrap, topic)
    reference = funnel_from_events(
        sqlite_app.read_events(), sqlite_app.pipeline, datetime.max.replace(tzinfo=UTC)
    )
    command = [
        sys.executable,
        str(EXAMPLE),
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--group",
        f"funnel-{uuid4().hex[:6]}",
        "--db",
        f"sqlite:///{tmp_path / 'funnel.db'}",
        "--exit-when-idle",
        "1.5",
    ]

    first = subprocess.run(command, capture_output=True, timeout=90, check=True)
    again = subprocess.run(command, capture_output=True, timeout=90, check=True)

    result = orjson.loads(first.stdout)
    assert result["events"] == len(list(sqlite_app.read_events()))
    assert result["funnel"] == {
        row.stage: {"in_stage": row.in_stage, "reached": row.reached}
        for row in reference
        if row.reached
    }
    rerun = orjson.loads(again.stdout)
    assert rerun == {"events": 0, "funnel": result["funnel"]}


def test_every_registered_event_type_round_trips_through_the_broker(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    run_demo_into(sqlite_app, leads=60)
    publish_store(sqlite_app, sqlite_url, bootstrap, topic)
    expected = list(sqlite_app.read_events())
    seen: list[ConsumedEvent] = []

    member = consumer(bootstrap, topic)
    consume_until(member, seen.extend, lambda: len(seen) == len(expected))
    member.close()

    assert sorted((e.record for e in seen), key=lambda r: r.position) == expected
    assert {e.record.type for e in seen} <= set(EVENT_TYPES)


def test_the_built_in_read_models_fed_from_kafka_alone_equal_those_fed_from_the_log(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    runner_module = pytest.importorskip("leadflow.projections.runner")
    run_demo_into(sqlite_app, leads=40)
    publish_store(sqlite_app, sqlite_url, bootstrap, topic)
    publish_store(sqlite_app, sqlite_url, bootstrap, topic, name="again")  # every event twice
    from_log = create_engine(f"sqlite:///{tmp_path / 'from_log.db'}")
    runner = runner_module.ProjectionRunner(from_log)
    runner.ensure_tables()
    runner.catch_up(lambda after: sqlite_app.read_events(after=after))
    from_kafka = create_engine(f"sqlite:///{tmp_path / 'from_kafka.db'}")
    feeder = KafkaProjectionFeeder(from_kafka, runner_module.all_projections(), name="all")
    expected = 2 * len(list(sqlite_app.read_events()))
    read = 0

    def feed(events: Sequence[ConsumedEvent]) -> None:
        nonlocal read
        feeder(events)
        read += len(events)

    member = consumer(bootstrap, topic)
    consume_until(member, feed, lambda: read == expected, timeout_s=60)
    member.close()

    tables = [t for p in runner.projections for t in p.tables]
    compared = 0
    for table in tables:
        with from_log.connect() as a, from_kafka.connect() as b:
            rows_a = sorted(map(tuple, a.execute(select(table)).all()), key=repr)
            rows_b = sorted(map(tuple, b.execute(select(table)).all()), key=repr)
        assert rows_b == rows_a, table.name
        compared += len(rows_a)
    assert compared > 0, "the read models should hold rows"
