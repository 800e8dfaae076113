"""The relay: publishes the event log to Kafka in log order, at least once, resumably.

The log is the outbox. The relay reads it after its published position, sends each
lead event keyed by lead id (so one lead's events stay in one partition, in order),
waits until the broker acknowledged every message of the batch (``acks=all``), and only
then advances its position in ``lf_relay_positions`` in the store's database. A crash
or a broker outage between send and acknowledgement re-sends from the stored position:
duplicates may appear, always with the same event ``id``; nothing is ever skipped.

Why not Kafka transactions: the position lives in the store's database, not in Kafka,
so a transactional producer would still need this at-least-once hand-off; consumers
dedupe by event id / per-lead sequence instead (see :mod:`leadflow.adapters.kafka`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.exc import OperationalError as SqlOperationalError

from leadflow.adapters.cloudevents import encode_event
from leadflow.adapters.kafka_admin import DEFAULT_PARTITIONS, DEFAULT_TOPIC, ensure_topic
from leadflow.adapters.kafka_tables import engine_for, relay_positions_table, utc_now
from leadflow.service.application import Leadflow
from leadflow.service.codec import EventRecord
from leadflow.service.logs import get_logger
from leadflow.service.pipeline_files import default_pipeline

__all__ = ["PublishFailed", "Relay", "RelayProgress", "producer_config", "source_of"]

log = get_logger("leadflow.relay")


class PublishFailed(Exception):
    """The broker did not acknowledge a batch; the relay's position did not move."""


@dataclass(frozen=True)
class RelayProgress:
    published: int
    """Messages acknowledged in this batch."""
    position: int
    """The relay's stored position after the batch."""


def producer_config(
    bootstrap: str, ack_timeout_s: float = 30.0, **overrides: Any
) -> dict[str, Any]:
    """The relay's producer settings: every write acknowledged by all in-sync replicas.

    Idempotence stays on (kafka-python's default): with it, retries inside the producer
    cannot reorder or duplicate a partition's messages. ``acks``/``retries`` are set to
    the values idempotence requires, because a conflicting value silently turns it off.
    The producer's own delivery timeout is longer than the relay's ``ack_timeout_s``: the
    relay gives up on a batch (and discards that producer) before the producer could
    expire one message and still deliver a later one of the same lead.
    """
    ack_ms = int(ack_timeout_s * 1000)
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "leadflow-relay",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "request_timeout_ms": min(5_000, ack_ms),
        "delivery_timeout_ms": ack_ms + 10_000,
        "max_block_ms": ack_ms,
        "reconnect_backoff_ms": 100,
        "reconnect_backoff_max_ms": 1_000,
    }
    config.update(overrides)
    return config


def source_of(db_url: str) -> str:
    """The CloudEvents ``source`` of a store: ``leadflow://<store name>``."""
    parts = urlsplit(db_url)
    if parts.scheme.startswith("sqlite"):
        name = Path(unquote(parts.path.lstrip("/"))).stem or "memory"
    else:
        name = unquote(parts.path.lstrip("/")) or "postgres"
        schema = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("schema")
        if schema:
            name = f"{name}.{schema}"
    return f"leadflow://{name}"


class Relay:
    """Publishes the log of one store to one topic; see the module docstring."""

    def __init__(
        self,
        app: Leadflow,
        db_url: str,
        *,
        bootstrap: str,
        topic: str = DEFAULT_TOPIC,
        name: str = "default",
        source: str | None = None,
        batch_size: int = 1000,
        partitions: int = DEFAULT_PARTITIONS,
        ack_timeout_s: float = 30.0,
        producer_overrides: dict[str, Any] | None = None,
        personal_data: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.app = app
        self.bootstrap = bootstrap
        self.topic = topic
        self.name = name
        self.source = source or source_of(db_url)
        self.batch_size = batch_size
        self.partitions = partitions
        self.ack_timeout_s = ack_timeout_s
        self.personal_data = personal_data
        """``omit`` or ``clear``; ``None``: as the pipeline in force says."""
        self._omit = True
        self._producer_overrides = producer_overrides or {}
        self._engine, schema = engine_for(db_url)
        self._positions: Table = relay_positions_table(schema)
        self._positions.metadata.create_all(self._engine)
        self._producer: KafkaProducer | None = None
        self._topic_ready = False
        self.failed_attempts = 0
        """Batches the broker did not acknowledge in time (each was re-sent)."""

    # -- position ----------------------------------------------------------------------

    def position(self) -> int:
        """The last log position the broker acknowledged for this relay and topic."""
        table = self._positions
        with self._engine.connect() as conn:
            value = conn.execute(
                select(table.c.position).where(
                    table.c.relay_name == self.name, table.c.topic == self.topic
                )
            ).scalar()
        return int(value or 0)

    def _advance(self, position: int) -> None:
        table = self._positions
        key = (table.c.relay_name == self.name) & (table.c.topic == self.topic)
        with self._engine.begin() as conn:
            moved = conn.execute(
                update(table)
                .where(key & (table.c.position < position))
                .values(position=position, updated_at=utc_now())
            ).rowcount
            if moved:
                return
            exists = conn.execute(select(table.c.position).where(key)).scalar()
            if exists is None:
                try:
                    conn.execute(
                        insert(table).values(
                            relay_name=self.name,
                            topic=self.topic,
                            position=position,
                            updated_at=utc_now(),
                        )
                    )
                except SqlIntegrityError:  # another relay of the same name raced us
                    raise PublishFailed(f"relay {self.name!r} runs twice") from None

    # -- publishing --------------------------------------------------------------------

    def _producer_now(self) -> KafkaProducer:
        if self._producer is None:
            try:
                if not self._topic_ready:
                    ensure_topic(
                        self.bootstrap, self.topic, self.partitions, timeout_s=self.ack_timeout_s
                    )
                    self._topic_ready = True
                self._producer = KafkaProducer(
                    **producer_config(
                        self.bootstrap, self.ack_timeout_s, **self._producer_overrides
                    )
                )
            except KafkaError as exc:
                raise PublishFailed(f"broker unavailable: {exc!r}") from exc
        return self._producer

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception as exc:  # closing a broken client may raise anything
                log.warning("relay_producer_close_failed", error=repr(exc))
            self._producer = None

    def _send(self, records: list[EventRecord]) -> None:
        producer = self._producer_now()
        try:
            futures = []
            for record in records:
                key, value, headers = encode_event(record, self.source, omit=self._omit)
                futures.append(producer.send(self.topic, key=key, value=value, headers=headers))
            producer.flush(timeout=self.ack_timeout_s)
        except KafkaError as exc:
            raise PublishFailed(f"send failed: {exc!r}") from exc
        for record, future in zip(records, futures, strict=True):
            if not future.is_done:
                raise PublishFailed(f"no acknowledgement for position {record.position}")
            if future.failed():
                raise PublishFailed(
                    f"position {record.position} not acknowledged: {future.exception!r}"
                )

    def _batches(self, after: int, end: int | None) -> Iterator[list[EventRecord]]:
        # The pipeline in force says what is sent (``stream.personal_data``); to omit
        # personal fields they are not even decrypted.
        mode = (
            self.personal_data
            or (self.app.pipeline_log().current or default_pipeline()).stream.personal_data
        )
        self._omit = mode == "omit"
        records = self.app.read_events(after=after, batch_size=self.batch_size, redact=self._omit)
        while batch := list(islice(records, self.batch_size)):
            if end is not None and batch[-1].position > end:
                batch = [r for r in batch if r.position <= end]
                if batch:
                    yield batch
                return
            yield batch

    def publish_available(
        self,
        *,
        end: int | None = None,
        on_batch: Callable[[RelayProgress], None] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Publish every event after the stored position (up to ``end``); returns the count.

        Raises :class:`PublishFailed` when the broker does not acknowledge a batch; the
        position then stays at the last acknowledged batch.
        """
        published = 0
        for batch in self._batches(self.position(), end):
            try:
                self._send(batch)
            except PublishFailed:
                self._drop_producer()
                raise
            last = batch[-1].position
            self._advance(last)
            published += len(batch)
            log.info(
                "relay_batch_published",
                relay=self.name,
                topic=self.topic,
                count=len(batch),
                first_position=batch[0].position,
                last_position=last,
            )
            if on_batch is not None:
                on_batch(RelayProgress(published=len(batch), position=last))
            if stop is not None and stop.is_set():
                break
        return published

    def follow(
        self,
        stop: threading.Event,
        *,
        poll_interval_s: float = 0.5,
        max_backoff_s: float = 10.0,
    ) -> int:
        """Tail the log until ``stop`` is set.

        Broker and database outages are logged (``relay_waiting``) and waited out with
        exponential backoff; the position never moves past an unacknowledged event.
        """
        total = 0
        backoff = 0.2
        failing = False
        log.info("relay_started", relay=self.name, topic=self.topic, position=self.position())
        while not stop.is_set():
            try:
                count = self.publish_available(stop=stop)
            except (
                PublishFailed,  # the broker did not acknowledge
                SqlOperationalError,  # the position table is unreachable
                StoreOperationalError,  # the log is unreachable
                StoreInterfaceError,
            ) as exc:
                failing = True
                self.failed_attempts += 1
                log.warning(
                    "relay_waiting",
                    relay=self.name,
                    topic=self.topic,
                    position=self.position_or_none(),
                    error=str(exc),
                    retry_in_s=round(backoff, 2),
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
                continue
            if failing:
                log.info("relay_resumed", relay=self.name, topic=self.topic)
                failing = False
            backoff = 0.2
            total += count
            if count == 0:
                stop.wait(poll_interval_s)
        log.info("relay_stopped", relay=self.name, topic=self.topic, published=total)
        return total

    def position_or_none(self) -> int | None:
        try:
            return self.position()
        except SqlOperationalError:
            return None

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=self.ack_timeout_s)
            finally:
                self._producer = None
        self._engine.dispose()
