"""Bookkeeping tables of the Kafka adapters (SQLAlchemy Core), created on first use.

- ``lf_relay_positions``: how far each relay has published the log to each topic. It
  lives in the store's own database, so it survives the relay and moves only after the
  broker acknowledged.
- ``lf_consumer_sequences``: per consumer and lead, the last event sequence applied. It
  lives in the consumer's database and is written in the same transaction as the
  consumer's own changes, which is what makes redeliveries harmless.
- ``lf_kafka_feeds`` and ``lf_kafka_offsets``: read models fed from Kafka by a group of
  projection workers (:mod:`leadflow.adapters.kafka_workers`). The feed row says which
  group and topic feed this database's read models and under what code and settings
  (the fingerprint); the offset rows say, per partition, the next message to apply,
  moved by compare-and-set in the same transaction as the read-model writes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
)

from leadflow.adapters.store import schema_of, sqlalchemy_url

__all__ = [
    "consumer_sequences_table",
    "engine_for",
    "feeds_table",
    "offsets_table",
    "relay_positions_table",
    "utc_now",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def engine_for(db_url: str) -> tuple[Engine, str | None]:
    """A SQLAlchemy engine on the store at ``db_url`` and the schema to use in it."""
    return create_engine(sqlalchemy_url(db_url), pool_pre_ping=True), schema_of(db_url)


def relay_positions_table(schema: str | None = None) -> Table:
    return Table(
        "lf_relay_positions",
        MetaData(schema=schema),
        Column("relay_name", String(200), primary_key=True),
        Column("topic", String(249), primary_key=True),
        Column("position", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )


def consumer_sequences_table(schema: str | None = None) -> Table:
    return Table(
        "lf_consumer_sequences",
        MetaData(schema=schema),
        Column("consumer", String(200), primary_key=True),
        Column("lead_id", String(36), primary_key=True),
        Column("sequence", Integer, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )


def feeds_table(metadata: MetaData) -> Table:
    return Table(
        "lf_kafka_feeds",
        metadata,
        Column("group_id", String(249), primary_key=True),
        Column("topic", String(249), nullable=False),
        Column("fingerprint", String(32), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )


def offsets_table(metadata: MetaData) -> Table:
    return Table(
        "lf_kafka_offsets",
        metadata,
        Column("group_id", String(249), primary_key=True),
        Column("topic", String(249), primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("next_offset", BigInteger, nullable=False),
        Column("fingerprint", String(32), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
