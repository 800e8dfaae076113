"""The HTTP service's own tables (SQLAlchemy Core), in the store's database, created on
first use.

- ``lf_api_tokens``: API tokens, by id; only a SHA-256 of each secret is kept.
- ``lf_idempotency_keys``: the first response to each ``Idempotency-Key`` (per token),
  kept at least 24 h, so that a retried write is answered, not run again.
- ``lf_forms``: web forms (field mapping, source, campaign, thank-you URL, spam rules).
- ``lf_form_counts``: per form, how many submissions were taken and how many were spam.
- ``lf_webhooks``: webhook endpoints, the events they want, their position in the log.
- ``lf_webhook_deliveries``: each delivery attempt that failed, and the dead letters.

They are not read models: nothing here is derived from the log, and a rebuild of the
read models leaves them alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = [
    "FORMS",
    "FORM_COUNTS",
    "IDEMPOTENCY",
    "SERVICE_TABLES",
    "TOKENS",
    "WEBHOOKS",
    "WEBHOOK_DELIVERIES",
    "Timestamp",
    "as_utc",
    "utc_now",
]

SERVICE_TABLES = sa.MetaData()
"""Metadata of the service tables (no schema: mapped with ``schema_translate_map``)."""

Timestamp = sa.DateTime(timezone=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A time read back from a table: SQLite returns it naive, and it is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TOKENS = sa.Table(
    "lf_api_tokens",
    SERVICE_TABLES,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
)

IDEMPOTENCY = sa.Table(
    "lf_idempotency_keys",
    SERVICE_TABLES,
    sa.Column("principal", sa.String(100), primary_key=True),
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # running | done
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("headers", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

FORMS = sa.Table(
    "lf_forms",
    SERVICE_TABLES,
    sa.Column("form_id", sa.String(64), primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

FORM_COUNTS = sa.Table(
    "lf_form_counts",
    SERVICE_TABLES,
    sa.Column("form_id", sa.String(64), primary_key=True),
    sa.Column("outcome", sa.String(20), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

WEBHOOKS = sa.Table(
    "lf_webhooks",
    SERVICE_TABLES,
    sa.Column("webhook_id", sa.String(32), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("disabled_at", Timestamp, nullable=True),
)

WEBHOOK_DELIVERIES = sa.Table(
    "lf_webhook_deliveries",
    SERVICE_TABLES,
    sa.Column("webhook_id", sa.String(32), primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("lead_id", sa.String(36), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # retrying | dead | delivered
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    sa.Column("updated_at", Timestamp, nullable=False),
)
