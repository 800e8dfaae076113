"""Consumer toolkit for the lead event stream (what ``leadflow publish`` writes).

- :class:`LeadEventConsumer` subscribes as a consumer group and hands typed, validated
  events (:class:`ConsumedEvent`: the :class:`~leadflow.codec.EventRecord` plus its
  pydantic payload, upcast to the current version) to a handler, one batch per partition
  per poll. Offsets are committed only after the handler returned; if it raises, the
  partition is rewound to the batch and retried after a pause, so the stream of each
  lead is never skipped.
- A message that is not a valid leadflow CloudEvent (bad JSON, unknown type, invalid
  payload, …) is logged and copied to ``<topic>.dlq`` with ``dlq_*`` headers saying why;
  its offset is then committed like any other, so one bad message cannot stall a
  partition.
- The relay publishes at least once, so consumers see redeliveries (same event ``id``).
  :class:`SequenceGuard` (and :func:`idempotent`) keep, per consumer and lead, the last
  applied sequence in the consumer's own database, in the same transaction as the
  consumer's writes: an event at or below it is a redelivery and is dropped; an event
  beyond the next one means the stream jumped ahead (an earlier event is still to be
  re-sent) and is held back until the missing one arrives again.
- :class:`KafkaProjectionFeeder` feeds any projection (``name``, ``tables``,
  ``handle(conn, records)``, ``reset(conn)``) from Kafka alone, deduplicated the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Connection, Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from leadflow.adapters.cloudevents import LeadCloudEvent, MalformedEvent, decode_event
from leadflow.adapters.kafka_admin import DEFAULT_TOPIC, dead_letter_topic, ensure_topic
from leadflow.adapters.kafka_tables import consumer_sequences_table, utc_now
from leadflow.domain.events import Payload
from leadflow.errors import Conflict
from leadflow.service.codec import EventRecord
from leadflow.service.logs import get_logger

__all__ = [
    "DEFAULT_TOPIC",
    "BatchHandler",
    "ConsumedEvent",
    "ConsumerRaced",
    "KafkaProjectionFeeder",
    "LeadEventConsumer",
    "MalformedEvent",
    "Projection",
    "Rewind",
    "SequenceGuard",
    "consumer_config",
    "dead_letter_topic",
    "decode_event",
    "idempotent",
]

log = get_logger("leadflow.kafka")


@dataclass(frozen=True)
class ConsumedEvent:
    """A lead event read from Kafka: the record, its typed payload and where it was."""

    record: EventRecord
    payload: Payload
    source: str
    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, event: LeadCloudEvent, topic: str, partition: int, offset: int) -> ConsumedEvent:
        return cls(event.record, event.payload, event.source, topic, partition, offset)


BatchHandler = Callable[[Sequence[ConsumedEvent]], None]
"""Handles the events of one partition from one poll, in partition (= per-lead) order."""


class Rewind(Exception):
    """Raised by a handler: read this partition again from ``offset`` (no error, no pause).

    For a handler that keeps its own offsets (see
    :mod:`leadflow.adapters.kafka_workers`) and finds that they moved under it.
    """

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def consumer_config(bootstrap: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Group consumer settings: manual commits, start at the beginning of the topic.

    ``max_poll_interval_ms`` is also the rebalance timeout kafka-python sends when
    joining: the broker holds a JoinGroup that long waiting for members, so a small value
    makes a fresh consumer start in seconds (it also bounds how long a handler may take).
    """
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "client_id": f"leadflow-{group_id}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_interval_ms": 30_000,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 2_000,
        "max_poll_records": 500,
        "reconnect_backoff_max_ms": 2_000,
    }
    config.update(overrides)
    return config


class LeadEventConsumer:
    """A consumer-group member reading lead events; see the module docstring."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        *,
        topic: str = DEFAULT_TOPIC,
        dead_letters: bool = True,
        retry_pause_s: float = 0.5,
        listener: ConsumerRebalanceListener | None = None,
        **consumer_overrides: Any,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self.bootstrap = bootstrap
        self.dead_letter_topic = dead_letter_topic(topic) if dead_letters else None
        self.retry_pause_s = retry_pause_s
        self._consumer = KafkaConsumer(**consumer_config(bootstrap, group_id, **consumer_overrides))
        self._consumer.subscribe([topic], listener=listener)
        self._dlq: KafkaProducer | None = None

    # -- dead letters ------------------------------------------------------------------

    def _dead_letter(self, message: Any, problem: MalformedEvent) -> None:
        log.warning(
            "event_dead_lettered",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=problem.reason,
            detail=problem.detail[:500],
            group=self.group_id,
        )
        if self.dead_letter_topic is None:
            return
        if self._dlq is None:
            ensure_topic(self.bootstrap, self.dead_letter_topic, partitions=1)
            self._dlq = KafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=f"leadflow-{self.group_id}-dlq",
                acks="all",
                request_timeout_ms=5_000,
                max_block_ms=10_000,
            )
        headers = [
            *(message.headers or []),
            ("dlq_reason", problem.reason.encode()),
            ("dlq_detail", problem.detail[:2000].encode()),
            ("dlq_source_topic", message.topic.encode()),
            ("dlq_source_partition", str(message.partition).encode()),
            ("dlq_source_offset", str(message.offset).encode()),
            ("dlq_consumer_group", self.group_id.encode()),
        ]
        self._dlq.send(
            self.dead_letter_topic, key=message.key, value=message.value, headers=headers
        ).get(timeout=30)

    # -- consuming ---------------------------------------------------------------------

    def poll(self, handler: BatchHandler, timeout_ms: int = 1000) -> int:
        """Poll once, handle what arrived, commit what was handled; returns that count."""
        polled: dict[TopicPartition, list[Any]] = self._consumer.poll(timeout_ms=timeout_ms)
        commits: dict[TopicPartition, OffsetAndMetadata] = {}
        handled = 0
        for partition, messages in polled.items():
            try:
                events = self._decode(messages)
                self.deliver(handler, partition.partition, messages, events)
            except Rewind as rewind:
                log.info(
                    "partition_rewound",
                    topic=partition.topic,
                    partition=partition.partition,
                    offset=rewind.offset,
                    group=self.group_id,
                )
                self._consumer.seek(partition, rewind.offset)
                continue
            except Exception as exc:  # the handler's failure must not lose the events
                log.error(
                    "handler_failed",
                    topic=partition.topic,
                    partition=partition.partition,
                    offset=messages[0].offset,
                    error=repr(exc),
                    group=self.group_id,
                )
                self._consumer.seek(partition, messages[0].offset)
                time.sleep(self.retry_pause_s)
                continue
            commits[partition] = OffsetAndMetadata(messages[-1].offset + 1, "", -1)
            handled += len(events)
        if commits:
            try:
                self._consumer.commit(commits)
            except CommitFailedError as exc:  # rebalanced meanwhile: redelivered, deduped
                log.warning("offset_commit_failed", error=str(exc), group=self.group_id)
        return handled

    def deliver(
        self,
        handler: BatchHandler,
        partition: int,
        messages: Sequence[Any],
        events: list[ConsumedEvent],
    ) -> None:
        """Hand one partition's valid events from one poll to ``handler``.

        ``messages`` are the raw messages they came from (dead letters included): a
        subclass that keeps its own offsets moves them past ``messages[-1]``.
        """
        del partition, messages
        if events:
            handler(events)

    def _decode(self, messages: Iterable[Any]) -> list[ConsumedEvent]:
        events = []
        for message in messages:
            try:
                event = decode_event(message.value)
            except MalformedEvent as problem:
                self._dead_letter(message, problem)
                continue
            events.append(ConsumedEvent.of(event, message.topic, message.partition, message.offset))
        return events

    def assigned(self) -> bool:
        """Whether this member holds partitions yet (joining a group takes seconds)."""
        return bool(self._consumer.assignment())

    def run(
        self,
        handler: BatchHandler,
        stop: threading.Event,
        *,
        poll_timeout_ms: int = 500,
    ) -> int:
        """Poll and handle until ``stop`` is set; broker outages are logged and waited out."""
        handled = 0
        while not stop.is_set():
            try:
                handled += self.poll(handler, poll_timeout_ms)
            except KafkaError as exc:
                log.warning("consumer_waiting", error=repr(exc), group=self.group_id)
                stop.wait(self.retry_pause_s)
        return handled

    def close(self) -> None:
        if self._dlq is not None:
            self._dlq.close(timeout=5)
        self._consumer.close()


# -- idempotence ----------------------------------------------------------------------------


class ConsumerRaced(Conflict):
    """Another process applied the same lead's events under the same consumer name first.

    Raised by :meth:`SequenceGuard.claim` when a sequence it read has changed before its
    transaction wrote (a compare-and-set failed); the transaction is rolled back, so the
    batch is retried and the redelivery dropped, never applied twice.
    """

    def __init__(self, consumer: str, lead_id: UUID | str) -> None:
        super().__init__(
            f"consumer {consumer!r}: lead {lead_id} was applied by another process first"
        )
        self.consumer = consumer
        self.lead_id = lead_id


class SequenceGuard:
    """Per consumer and lead, the last applied sequence (table ``lf_consumer_sequences``).

    Each write is a compare-and-set against the sequence read in the same transaction: two
    processes running one consumer name (a zombie after a rebalance, a second copy started
    by mistake) cannot both apply an event; the later one raises :class:`ConsumerRaced`.
    """

    def __init__(self, engine: Engine, consumer: str, *, schema: str | None = None) -> None:
        self.consumer = consumer
        self.table: Table = consumer_sequences_table(schema)
        self.table.metadata.create_all(engine)

    def last_applied(self, conn: Connection, lead_ids: Iterable[UUID]) -> dict[UUID, int]:
        table = self.table
        keys = sorted({str(lead) for lead in lead_ids})
        found: dict[UUID, int] = {}
        for start in range(0, len(keys), 500):
            rows = conn.execute(
                select(table.c.lead_id, table.c.sequence).where(
                    table.c.consumer == self.consumer,
                    table.c.lead_id.in_(keys[start : start + 500]),
                )
            )
            found.update({UUID(lead): int(sequence) for lead, sequence in rows})
        return found

    def claim(self, conn: Connection, events: Sequence[ConsumedEvent]) -> list[ConsumedEvent]:
        """The events to apply now, in order; records them as applied in ``conn``'s transaction."""
        known = self.last_applied(conn, (e.record.lead_id for e in events))
        last = dict(known)
        fresh = []
        dropped: list[EventRecord] = []
        for event in events:
            record = event.record
            current = last.get(record.lead_id, 0)
            if record.sequence <= current:
                dropped.append(record)
                log.debug(
                    "event_redelivery_dropped",
                    consumer=self.consumer,
                    lead_id=str(record.lead_id),
                    sequence=record.sequence,
                    position=record.position,
                )
                continue
            if record.sequence > current + 1:
                log.warning(
                    "event_held_back",
                    consumer=self.consumer,
                    lead_id=str(record.lead_id),
                    sequence=record.sequence,
                    expected=current + 1,
                    position=record.position,
                )
                continue
            last[record.lead_id] = record.sequence
            fresh.append(event)
        if dropped:  # one line a batch: a re-read topic would otherwise log every event
            log.info(
                "event_redeliveries_dropped",
                consumer=self.consumer,
                count=len(dropped),
                lead_id=str(dropped[0].lead_id),
                position=dropped[0].position,
                last_position=dropped[-1].position,
            )
        self._store(conn, known, last)
        return fresh

    def _store(self, conn: Connection, known: dict[UUID, int], last: dict[UUID, int]) -> None:
        table = self.table
        now = utc_now()
        new = [
            {"consumer": self.consumer, "lead_id": str(lead), "sequence": seq, "updated_at": now}
            for lead, seq in last.items()
            if lead not in known
        ]
        if new:
            try:
                conn.execute(insert(table), new)
            except IntegrityError as exc:  # another process recorded one of them first
                raise ConsumerRaced(self.consumer, str(new[0]["lead_id"])) from exc
        for lead, seq in sorted(last.items()):  # one order everywhere: no deadlocks
            if lead in known and seq != known[lead]:
                updated = conn.execute(
                    update(table)
                    .where(
                        table.c.consumer == self.consumer,
                        table.c.lead_id == str(lead),
                        table.c.sequence == known[lead],
                    )
                    .values(sequence=seq, updated_at=now)
                )
                if updated.rowcount != 1:
                    raise ConsumerRaced(self.consumer, lead)

    def reset(self, conn: Connection) -> None:
        conn.execute(delete(self.table).where(self.table.c.consumer == self.consumer))


def idempotent(
    engine: Engine,
    consumer: str,
    handler: Callable[[Connection, Sequence[ConsumedEvent]], None],
    *,
    schema: str | None = None,
) -> BatchHandler:
    """A batch handler that applies each event once, in per-lead order, in one transaction.

    ``handler`` gets the open connection: whatever it writes commits together with the
    sequence bookkeeping, or not at all.
    """
    guard = SequenceGuard(engine, consumer, schema=schema)

    def handle(events: Sequence[ConsumedEvent]) -> None:
        with engine.begin() as conn:
            fresh = guard.claim(conn, events)
            if fresh:
                handler(conn, fresh)

    return handle


# -- projections ----------------------------------------------------------------------------


class Projection(Protocol):
    """A read model fed by records in per-lead order (``leadflow.projections``' contract)."""

    name: str

    @property
    def tables(self) -> Sequence[Table]: ...

    def handle(self, conn: Connection, records: Sequence[EventRecord]) -> None: ...

    def reset(self, conn: Connection) -> None: ...


class KafkaProjectionFeeder:
    """Keeps projections up to date from the Kafka stream alone (a :data:`BatchHandler`).

    Each batch is applied to every projection and recorded in the per-lead sequence
    table in one transaction, so redeliveries and restarts never double-count.
    """

    def __init__(
        self,
        engine: Engine,
        projections: Sequence[Projection],
        *,
        name: str = "projections",
        schema: str | None = None,
    ) -> None:
        # Always set (even to None), as ProjectionRunner does: projections may compile
        # statements with the connection's schema_translate_map.
        self.engine = engine.execution_options(schema_translate_map={None: schema})
        self.projections = tuple(projections)
        self.guard = SequenceGuard(engine, f"feeder:{name}", schema=schema)
        with self.engine.begin() as conn:
            for projection in self.projections:
                for table in projection.tables:
                    table.create(conn, checkfirst=True)

    def __call__(self, events: Sequence[ConsumedEvent]) -> None:
        with self.engine.begin() as conn:
            self.apply(conn, events)

    def apply(self, conn: Connection, events: Sequence[ConsumedEvent]) -> int:
        """Apply ``events`` not applied yet in ``conn``'s transaction; returns how many.

        ``conn`` must come from :attr:`engine` (it carries the schema mapping)."""
        fresh = self.guard.claim(conn, events)
        if not fresh:
            return 0
        records = [event.record for event in fresh]
        for projection in self.projections:
            projection.handle(conn, records)
        log.debug("projections_fed", count=len(records), last_position=records[-1].position)
        return len(records)

    def reset(self) -> None:
        """Empty the projections and forget what was applied (then re-read the topic)."""
        with self.engine.begin() as conn:
            for projection in self.projections:
                projection.reset(conn)
            self.guard.reset(conn)
