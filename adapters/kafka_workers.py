"""Projection workers: the read models built from Kafka by a consumer group (scale-out).

Several ``leadflow project --from-kafka --group G`` processes join one consumer group on
the lead event topic. Kafka gives each partition to one member at a time, and the relay
keys every event by its lead id, so each lead's events reach one worker, in order. All
workers write the same tables (the built-in read models, the same DDL and rows as
:class:`~leadflow.projections.ProjectionRunner` writes) in one database, the *read-side
database* (``--into``), which is never the store's own: the store's read models are
kept by the log runner, whose positions are log positions, not partition offsets.

Exactly once, per partition, in the database:

* ``lf_kafka_offsets`` holds per partition the next offset to apply. Each batch (one
  partition's messages from one poll) runs in ONE transaction that first moves that row
  by compare-and-set (``UPDATE … WHERE next_offset = <what this worker expects>``), then
  writes the read models. The row lock (PostgreSQL) or the database write lock (SQLite,
  ``BEGIN IMMEDIATE``) is taken before any read-model row is touched.
* A worker SIGKILLed mid-batch loses its transaction whole. Its partitions go to the
  others when the broker expires it (the session timeout); they start from the stored
  offsets, not Kafka's committed ones (those are committed too, for monitoring only).
* A worker that lost a partition without noticing (paused past its session) fails the
  compare-and-set, rolls back, and re-reads the stored offset: it can never apply a batch
  that another worker applied.
* The relay publishes at least once, so a lead's events may appear twice at different
  offsets: the per-lead sequence guard (``lf_consumer_sequences``, same transaction)
  drops the second copy.

``lf_kafka_feeds`` says which group and topic feed the database and the fingerprint of
the code and settings (the pipeline's closed stages and main path) that wrote its rows.
A worker with another fingerprint refuses to start (:class:`FeedConflict`) unless told to
``reset``: that empties the read models and offsets in one transaction, and running
workers of the old settings stop at their next batch (:class:`FeedReplaced`) instead of
adding rows of other rules.

Caught up: :func:`group_lag` compares the stored offsets with the topic's end offsets,
for the whole group, from any process.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from leadflow.adapters.kafka import (
    BatchHandler,
    ConsumedEvent,
    KafkaProjectionFeeder,
    LeadEventConsumer,
    Rewind,
)
from leadflow.adapters.kafka_admin import DEFAULT_TOPIC
from leadflow.adapters.kafka_tables import (
    consumer_sequences_table,
    feeds_table,
    offsets_table,
    utc_now,
)
from leadflow.adapters.store import schema_of, sqlalchemy_url
from leadflow.errors import Conflict, InvalidInput, LeadflowError
from leadflow.projections.locks import read_models_lock
from leadflow.projections.runner import Projection, fingerprint
from leadflow.service.logs import get_logger

__all__ = [
    "FeedConflict",
    "FeedReplaced",
    "Lag",
    "ProjectionWorker",
    "group_lag",
    "read_side_engine",
    "stored_offsets",
]

log = get_logger("leadflow.kafka.workers")

BOOKKEEPING = sa.MetaData()
"""The workers' own tables (no schema: mapped like the read models)."""
FEEDS = feeds_table(BOOKKEEPING)
OFFSETS = offsets_table(BOOKKEEPING)

STORE_TABLES = ("stored_events", "leadflow_events", "lf_projection_positions")
"""Tables that mark a store (its events on SQLite, on PostgreSQL), or read models kept
by the log runner."""


class FeedConflict(Conflict):
    """The read-side database is fed by another group or topic, or under other settings."""


class FeedReplaced(LeadflowError):
    """Another worker reset the read models under other code or settings."""

    def __init__(self, group: str) -> None:
        super().__init__(
            f"the read models of group {group!r} were reset by a worker with other code or "
            "settings (e.g. a pipeline that closes other stages): restart this worker"
        )


def read_side_engine(url: str) -> tuple[sa.Engine, str | None]:
    """An engine on the read-side database at ``url`` and its PostgreSQL schema.

    On SQLite every transaction is ``BEGIN IMMEDIATE`` (the write lock first, waiting up
    to 30 s) and the database is in WAL mode, so workers queue instead of failing to
    upgrade a read to a write, and readers never wait for them.
    """
    schema = schema_of(url)
    target = sqlalchemy_url(url)
    if not target.startswith("sqlite"):
        engine = sa.create_engine(
            target,
            pool_pre_ping=True,
            # Names the worker in pg_stat_activity (which process holds which lock).
            connect_args={"application_name": f"leadflow-worker-{os.getpid()}"},
        )
        if schema:
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        return engine, schema
    engine = sa.create_engine(target, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA secure_delete=ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine, schema


def _fingerprint_of(projections: Sequence[Projection], dialect: sa.Dialect) -> str:
    digest = hashlib.sha256()
    for projection in projections:
        digest.update(f"{projection.name}={fingerprint(projection, dialect)};".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Lag:
    """How far the group is behind the topic: per partition, messages not yet applied."""

    partitions: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.partitions.values())


def stored_offsets(engine: sa.Engine, schema: str | None, group: str, topic: str) -> dict[int, int]:
    """The next offset to apply of each partition the group has started (0: none)."""
    mapped = engine.execution_options(schema_translate_map={None: schema})
    with mapped.connect() as conn:
        if not sa.inspect(conn).has_table(OFFSETS.name, schema=schema):
            return {}
        rows = conn.execute(
            sa.select(OFFSETS.c.partition, OFFSETS.c.next_offset).where(
                OFFSETS.c.group_id == group, OFFSETS.c.topic == topic
            )
        )
        return {int(p): int(o) for p, o in rows}


def group_lag(
    engine: sa.Engine,
    schema: str | None,
    group: str,
    topic: str,
    consumer: KafkaConsumer,
) -> Lag:
    """The group's lag: the topic's end offsets minus the stored offsets, per partition.

    ``consumer``: any consumer on the broker (no group needed) to ask the end offsets.
    0 everywhere: every message on the topic when asked has been applied (or
    dead-lettered). Whether the topic holds the whole log is the relay's position.
    """
    partitions = [
        TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    ends = consumer.end_offsets(partitions) if partitions else {}
    stored = stored_offsets(engine, schema, group, topic)
    return Lag(
        {tp.partition: max(int(end) - stored.get(tp.partition, 0), 0) for tp, end in ends.items()}
    )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: ProjectionWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.worker.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.worker.on_assigned(assigned)


RACE_RETRIES = 3
"""How often a batch that lost a race with another worker's is tried again at once."""


def _raced(exc: sa.exc.DBAPIError) -> bool:
    """A unique key another worker's batch inserted first, a deadlock between two
    batches, or a serialization failure: nothing wrong with the batch itself."""
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


class _Moved(Exception):
    """The stored offset is not where this worker expected it."""


class ProjectionWorker(LeadEventConsumer):
    """One member of a group feeding read models from Kafka; see the module docstring.

    ``engine``/``schema``: the read-side database (:func:`read_side_engine`).
    ``reset``: empty the read models and offsets first (a rebuild from the topic).
    """

    def __init__(
        self,
        engine: sa.Engine,
        projections: Sequence[Projection],
        bootstrap: str,
        group_id: str,
        *,
        topic: str = DEFAULT_TOPIC,
        schema: str | None = None,
        reset: bool = False,
        **consumer_overrides: Any,
    ) -> None:
        self.engine = engine.execution_options(schema_translate_map={None: schema})
        self.schema = schema
        self.projections = list(projections)
        self.fingerprint = _fingerprint_of(self.projections, engine.dialect)
        self._next: dict[int, int] = {}
        """Per partition held: the next offset, as stored by this worker's last batch."""
        self.applied = 0
        self.batches = 0
        self.replaced: FeedReplaced | None = None
        """Set when another worker reset the read models under other settings."""
        # Start-up (and a reset) holds the read-model lock of the read-side database, so
        # that workers starting together create its tables once (batches do not take it).
        with read_models_lock(engine, schema):
            self._claim_feed(group_id, topic, reset)
            self.feeder = KafkaProjectionFeeder(
                engine, self.projections, name=group_id, schema=schema
            )
        super().__init__(
            bootstrap, group_id, topic=topic, listener=_Rebalance(self), **consumer_overrides
        )

    # -- the feed ---------------------------------------------------------------------

    def _claim_feed(self, group: str, topic: str, reset: bool) -> None:
        with self.engine.begin() as conn:
            inspector = sa.inspect(conn)
            for name in STORE_TABLES:
                if inspector.has_table(name, schema=self.schema):
                    raise InvalidInput(
                        "into",
                        f"the database holds {name}: a store's read models are kept by the "
                        "log runner (leadflow project); give another database or schema",
                    )
            BOOKKEEPING.create_all(conn, checkfirst=True)
            feeds = conn.execute(sa.select(FEEDS).with_for_update()).mappings().all()
            others = [f for f in feeds if (f["group_id"], f["topic"]) != (group, topic)]
            if others:
                raise FeedConflict(
                    f"the read models here are fed by group {others[0]['group_id']!r} from "
                    f"topic {others[0]['topic']!r}: one group per read-side database"
                )
            now = utc_now()
            if not feeds:
                conn.execute(
                    FEEDS.insert().values(
                        group_id=group, topic=topic, fingerprint=self.fingerprint, updated_at=now
                    )
                )
            elif feeds[0]["fingerprint"] != self.fingerprint and not reset:
                raise FeedConflict(
                    f"the read models of group {group!r} were built by other code or settings "
                    "(e.g. a pipeline that closes other stages): start one worker with --reset "
                    "to rebuild them from the topic"
                )
            if feeds and (reset or feeds[0]["fingerprint"] != self.fingerprint):
                self._reset(conn, group, topic, now)

    def _reset(self, conn: sa.Connection, group: str, topic: str, now: Any) -> None:
        """Empty the read models in ``conn``'s transaction: feed row, offsets, tables."""
        # The feed row first, then the offsets: a worker mid-batch holds its offset row,
        # so this waits for its commit; the next batch of any worker finds its offset gone.
        conn.execute(
            FEEDS.update()
            .where(FEEDS.c.group_id == group)
            .values(fingerprint=self.fingerprint, updated_at=now)
        )
        conn.execute(OFFSETS.delete().where(OFFSETS.c.group_id == group, OFFSETS.c.topic == topic))
        tables = [t for p in self.projections for t in p.tables]
        for table in reversed(tables):
            table.drop(conn, checkfirst=True)
        for table in tables:
            table.create(conn)
        sequences = consumer_sequences_table(self.schema)
        if sa.inspect(conn).has_table(sequences.name, schema=self.schema):
            conn.execute(sequences.delete().where(sequences.c.consumer == f"feeder:{group}"))
        log.warning("read_models_reset", group=group, topic=topic, fingerprint=self.fingerprint)

    def _stored(self, partition: int) -> int:
        """The partition's stored next offset, its row created at 0 if new."""
        with self.engine.begin() as conn:
            fingerprint_now = conn.execute(
                sa.select(FEEDS.c.fingerprint)
                .where(FEEDS.c.group_id == self.group_id)
                .with_for_update()
            ).scalar_one_or_none()
            if fingerprint_now != self.fingerprint:
                raise FeedReplaced(self.group_id)
            key = (
                OFFSETS.c.group_id == self.group_id,
                OFFSETS.c.topic == self.topic,
                OFFSETS.c.partition == partition,
            )
            stored = conn.execute(sa.select(OFFSETS.c.next_offset).where(*key)).scalar()
            if stored is not None:
                return int(stored)
            conn.execute(
                OFFSETS.insert().values(
                    group_id=self.group_id,
                    topic=self.topic,
                    partition=partition,
                    next_offset=0,
                    fingerprint=self.fingerprint,
                    updated_at=utc_now(),
                )
            )
            return 0

    # -- the group --------------------------------------------------------------------

    def on_assigned(self, partitions: Any) -> None:
        """A rebalance gave this worker ``partitions``: start each at its stored offset."""
        try:
            for tp in partitions:
                self._consumer.seek(tp, self.hold(tp.partition))
        except FeedReplaced as replaced:  # kafka-python would only log it
            self.replaced = replaced
            return
        log.info(
            "partitions_assigned",
            group=self.group_id,
            partitions=sorted(tp.partition for tp in partitions),
            offsets={str(tp.partition): self._next[tp.partition] for tp in partitions},
        )

    def on_revoked(self, partitions: Any) -> None:
        for tp in partitions:
            self._next.pop(tp.partition, None)
        if not partitions:  # kafka-python calls it before the first join too
            return
        log.info(
            "partitions_revoked",
            group=self.group_id,
            partitions=sorted(tp.partition for tp in partitions),
        )

    def hold(self, partition: int) -> int:
        """Take ``partition`` on: its next offset is the stored one (returned)."""
        offset = self._next[partition] = self._stored(partition)
        return offset

    def held(self) -> list[int]:
        """The partitions this worker holds now."""
        return sorted(self._next)

    # -- batches ----------------------------------------------------------------------

    def deliver(
        self,
        handler: BatchHandler,
        partition: int,
        messages: Sequence[Any],
        events: list[ConsumedEvent],
    ) -> None:
        del handler
        expected = self._next.get(partition)
        if expected is None:  # not seen assigned (cannot happen with kafka-python): ask
            expected = self.hold(partition)
        if self.replaced is not None:
            raise Rewind(messages[0].offset)  # stay put: :meth:`work` stops
        end = messages[-1].offset + 1
        if end <= expected:
            return
        if messages[0].offset > expected:  # fetched from elsewhere (Kafka's own offset)
            raise Rewind(expected)
        fresh = [e for e in events if e.offset >= expected]
        try:
            applied = self._commit(partition, expected, end, fresh)
        except _Moved:
            try:
                stored = self._next[partition] = self._stored(partition)
            except FeedReplaced as replaced:
                self.replaced = replaced
                raise Rewind(messages[0].offset) from None
            log.warning(
                "offset_moved",
                group=self.group_id,
                partition=partition,
                expected=expected,
                stored=stored,
            )
            raise Rewind(stored) from None
        self._next[partition] = end
        self.applied += applied
        self.batches += 1
        log.debug(
            "worker_batch_applied",
            group=self.group_id,
            partition=partition,
            first_offset=messages[0].offset,
            next_offset=end,
            applied=applied,
        )

    def _commit(self, partition: int, expected: int, end: int, events: list[ConsumedEvent]) -> int:
        """Move the partition's offset from ``expected`` to ``end`` and apply ``events``,
        in one transaction. Workers share a few rows across leads (the daily funnel
        counters, the passes' main path): two of them creating one at once, or a
        deadlock between two, rolls one back, which simply tries again."""
        for attempt in range(RACE_RETRIES + 1):
            try:
                with self.engine.begin() as conn:
                    moved = conn.execute(
                        OFFSETS.update()
                        .where(
                            OFFSETS.c.group_id == self.group_id,
                            OFFSETS.c.topic == self.topic,
                            OFFSETS.c.partition == partition,
                            OFFSETS.c.next_offset == expected,
                            OFFSETS.c.fingerprint == self.fingerprint,
                        )
                        .values(next_offset=end, updated_at=utc_now())
                    )
                    if moved.rowcount != 1:
                        raise _Moved
                    return self.feeder.apply(conn, events)
            except sa.exc.DBAPIError as exc:
                if attempt == RACE_RETRIES or not _raced(exc):
                    raise
                log.info(
                    "worker_batch_raced",
                    group=self.group_id,
                    partition=partition,
                    error=str(exc.orig).splitlines()[0],
                )
        raise AssertionError("unreachable")

    def lag(self) -> Lag:
        """The whole group's lag (see :func:`group_lag`)."""
        return group_lag(self.engine, self.schema, self.group_id, self.topic, self._consumer)

    def work(
        self,
        stop: threading.Event,
        *,
        until_caught_up: bool = False,
        poll_timeout_ms: int = 500,
    ) -> int:
        """Apply batches until ``stop`` is set (or, ``until_caught_up``, until the whole
        group has applied the topic up to its end offsets); returns the events applied."""

        def ignored(events: Sequence[ConsumedEvent]) -> None:
            del events  # ``deliver`` applies them

        log.info("worker_started", group=self.group_id, topic=self.topic)
        caught_up = False
        while not stop.is_set():
            try:
                handled = self.poll(ignored, poll_timeout_ms)
                if self.replaced is not None:
                    raise self.replaced
                if handled:
                    caught_up = False
                    continue
                lag = self.lag().total
            except KafkaError as exc:  # a broker outage: wait it out
                log.warning("consumer_waiting", error=repr(exc), group=self.group_id)
                stop.wait(self.retry_pause_s)
                continue
            if lag == 0 and not caught_up and self.held():
                log.info("worker_caught_up", group=self.group_id, partitions=self.held())
            caught_up = lag == 0
            if until_caught_up and caught_up:
                break
        log.info(
            "worker_stopped",
            group=self.group_id,
            applied=self.applied,
            batches=self.batches,
        )
        return self.applied
