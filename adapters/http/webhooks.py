"""Webhooks: the event log delivered over HTTP to services that do not run Kafka.

Each webhook has a URL, the event types it wants, a signing secret and a position in
the log, kept in ``lf_webhooks`` (like the Kafka relay's): the deliverer reads the
events after the position in log order (so each lead's events arrive in their order),
POSTs them one by one, and moves the position only after the receiver answered 2xx. A
crash between the two re-sends the event: delivery is at least once, and the receiver
dedupes by the event's ``id`` (also in the ``Leadflow-Event-Id`` header).

A failed delivery is retried with exponential backoff (``base`` doubling up to
``max_backoff``); the webhook waits meanwhile, so no later event overtakes it. After
``max_attempts`` failures the event becomes a dead letter (``leadflow webhook
deliveries``) and the webhook goes on with the next event.

Each request is signed like Stripe's: ``Leadflow-Signature: t=<unix time>,v1=<hex>``
where ``v1`` is HMAC-SHA256 over ``"<t>.<body>"`` with the webhook's secret. A receiver
recomputes it, compares in constant time and refuses an old ``t`` (replays).

Personal data follows the pipeline's ``stream.personal_data``, as on Kafka: with ``omit``
(the default) each personal value reads ``"[personal]"``, as in ``leadflow events --json
--redact`` (it is not even decrypted); with ``clear`` the values are sent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from leadflow.adapters.http.tables import WEBHOOK_DELIVERIES, WEBHOOKS, as_utc
from leadflow.domain.events import EVENT_TYPES
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.service.application import Leadflow
from leadflow.service.codec import EventRecord
from leadflow.service.logs import get_logger
from leadflow.service.pipeline_files import default_pipeline

__all__ = [
    "Deliverer",
    "Webhook",
    "WebhookNotFound",
    "create_webhook",
    "deliveries",
    "list_webhooks",
    "sign",
    "verify",
]

log = get_logger("leadflow.webhooks")

SIGNATURE_HEADER = "Leadflow-Signature"


class WebhookNotFound(LeadflowError):
    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"no webhook {webhook_id!r}")
        self.webhook_id = webhook_id


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    position: int
    max_attempts: int
    created_at: datetime

    def wants(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events

    def to_json_dict(self) -> dict[str, Any]:
        """Without the secret."""
        return {
            "id": self.webhook_id,
            "url": self.url,
            "events": list(self.events),
            "position": self.position,
            "max_attempts": self.max_attempts,
            "created_at": self.created_at.isoformat(),
        }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """What a receiver checks: the signature matches and is recent."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", "")) and abs(now - timestamp) <= tolerance


def _row_webhook(row: Any) -> Webhook:
    created = as_utc(row.created_at)
    assert created is not None
    return Webhook(
        row.webhook_id,
        row.url,
        tuple(row.events.split(",")),
        row.secret,
        int(row.position),
        int(row.max_attempts),
        created,
    )


def create_webhook(
    engine: sa.Engine,
    lf: Leadflow,
    *,
    url: str,
    events: list[str],
    now: datetime,
    max_attempts: int = 10,
    from_start: bool = False,
) -> Webhook:
    """A new webhook, delivering events recorded from now on (or the whole log)."""
    if not re.match(r"^https?://[^\s]+$", url) or len(url) > 2000:
        raise InvalidInput("url", f"{url!r} is not an http(s) URL")
    wanted = [e.strip() for e in events if e.strip()]
    if not wanted:
        raise InvalidInput("events", "name at least one event type (or *)")
    known = {*EVENT_TYPES, "*"}
    for event_type in wanted:
        if event_type not in known:
            raise InvalidInput("events", f"{event_type!r} is not an event type")
    if not 1 <= max_attempts <= 100:
        raise InvalidInput("max_attempts", "must be 1 to 100")
    webhook = Webhook(
        secrets.token_hex(8),
        url,
        tuple(wanted),
        "whsec_" + secrets.token_urlsafe(32),
        0 if from_start else lf.max_position(),
        max_attempts,
        now,
    )
    with engine.begin() as conn:
        conn.execute(
            WEBHOOKS.insert().values(
                webhook_id=webhook.webhook_id,
                url=url,
                events=",".join(wanted),
                secret=webhook.secret,
                position=webhook.position,
                max_attempts=max_attempts,
                created_at=now,
                disabled_at=None,
            )
        )
    return webhook


def list_webhooks(engine: sa.Engine) -> list[Webhook]:
    with engine.connect() as conn:
        rows = conn.execute(
            WEBHOOKS.select()
            .where(WEBHOOKS.c.disabled_at.is_(None))
            .order_by(WEBHOOKS.c.created_at, WEBHOOKS.c.webhook_id)
        )
        return [_row_webhook(row) for row in rows]


def deliveries(engine: sa.Engine, webhook_id: str | None = None) -> list[dict[str, Any]]:
    """Failed deliveries: retrying ones and dead letters, in log order."""
    query = WEBHOOK_DELIVERIES.select().order_by(
        WEBHOOK_DELIVERIES.c.webhook_id, WEBHOOK_DELIVERIES.c.position
    )
    if webhook_id is not None:
        query = query.where(WEBHOOK_DELIVERIES.c.webhook_id == webhook_id)
    with engine.connect() as conn:
        return [
            {
                "webhook_id": row.webhook_id,
                "position": int(row.position),
                "event_id": row.event_id,
                "lead_id": row.lead_id,
                "type": row.event_type,
                "attempts": int(row.attempts),
                "state": row.state,
                "last_error": row.last_error,
                "next_attempt_at": (
                    next_at.isoformat() if (next_at := as_utc(row.next_attempt_at)) else None
                ),
            }
            for row in conn.execute(query)
        ]


class Deliverer:
    """Delivers every webhook's events; :meth:`run_once` is one pass, :meth:`run` loops.

    ``base``/``max_backoff`` are the retry delays in seconds (tests make them short).
    """

    def __init__(
        self,
        lf: Leadflow,
        engine: sa.Engine,
        *,
        base: float = 1.0,
        max_backoff: float = 300.0,
        timeout: float = 10.0,
        clock: Callable[[], datetime] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.lf = lf
        self.engine = engine
        self.base = base
        self.max_backoff = max_backoff
        self.clock = clock or lf.clock
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception as exc:  # a store or network hiccup: log it, try again
                log.warning("webhook_pass_failed", error=str(exc))
                busy = False
            if not busy:
                stop.wait(interval)

    def run_once(self, limit: int = 100) -> bool:
        """Deliver what is due for each webhook; True if anything was sent."""
        sent = False
        omit = self._omit_personal()
        for webhook in list_webhooks(self.engine):
            sent = self._deliver(webhook, limit, omit) or sent
        return sent

    def _deliver(self, webhook: Webhook, limit: int, omit: bool) -> bool:
        sent = False
        types = () if "*" in webhook.events else webhook.events
        records = self.lf.read_events(
            after=webhook.position, types=types, batch_size=limit, redact=omit
        )
        for count, record in enumerate(records):
            if count >= limit:
                break
            outcome = self._attempt(webhook, record)
            if outcome == "wait":
                return sent
            sent = True
        return sent

    def _omit_personal(self) -> bool:
        """The pipeline in force decides, on every pass (an activation changes it)."""
        pipeline = self.lf.pipeline_log().current or default_pipeline()
        return pipeline.stream.personal_data == "omit"

    def _attempt(self, webhook: Webhook, record: EventRecord) -> str:
        """``delivered``, ``dead`` (moved past) or ``wait`` (retry later)."""
        failure = self._failure(webhook.webhook_id, record.position)
        now = self.clock()
        if failure is not None and failure["next_attempt_at"] > now:
            return "wait"
        body = orjson.dumps(record.to_json_dict())
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(webhook.secret, timestamp, body),
            "Leadflow-Event-Id": str(record.id),
            "Leadflow-Event-Type": record.type,
            "User-Agent": "leadflow-webhooks/1",
        }
        try:
            response = self.client.post(webhook.url, content=body, headers=headers)
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        if error is None:
            self._delivered(webhook, record)
            log.info(
                "webhook_delivered",
                webhook_id=webhook.webhook_id,
                lead_id=str(record.lead_id),
                position=record.position,
            )
            return "delivered"
        attempts = (failure["attempts"] if failure else 0) + 1
        dead = attempts >= webhook.max_attempts
        delay = min(self.max_backoff, self.base * 2 ** (attempts - 1))
        self._failed(webhook, record, attempts, error, dead, now + timedelta(seconds=delay))
        log.warning(
            "webhook_dead_letter" if dead else "webhook_retry",
            webhook_id=webhook.webhook_id,
            lead_id=str(record.lead_id),
            position=record.position,
            attempts=attempts,
            error=error,
        )
        return "dead" if dead else "wait"

    def _failure(self, webhook_id: str, position: int) -> dict[str, Any] | None:
        d = WEBHOOK_DELIVERIES
        with self.engine.connect() as conn:
            row = conn.execute(
                d.select().where(d.c.webhook_id == webhook_id, d.c.position == position)
            ).first()
        if row is None or row.state != "retrying":
            return None
        return {"attempts": int(row.attempts), "next_attempt_at": as_utc(row.next_attempt_at)}

    def _delivered(self, webhook: Webhook, record: EventRecord) -> None:
        d = WEBHOOK_DELIVERIES
        with self.engine.begin() as conn:
            conn.execute(
                d.delete().where(
                    d.c.webhook_id == webhook.webhook_id, d.c.position == record.position
                )
            )
            _move_past(conn, webhook.webhook_id, record.position)

    def _failed(
        self,
        webhook: Webhook,
        record: EventRecord,
        attempts: int,
        error: str,
        dead: bool,
        next_at: datetime,
    ) -> None:
        d = WEBHOOK_DELIVERIES
        now = self.clock()
        values = {
            "attempts": attempts,
            "last_error": error,
            "state": "dead" if dead else "retrying",
            "next_attempt_at": None if dead else next_at,
            "updated_at": now,
        }
        where = sa.and_(d.c.webhook_id == webhook.webhook_id, d.c.position == record.position)
        with self.engine.begin() as conn:
            if conn.execute(d.update().where(where).values(**values)).rowcount == 0:
                conn.execute(
                    d.insert().values(
                        webhook_id=webhook.webhook_id,
                        position=record.position,
                        event_id=str(record.id),
                        lead_id=str(record.lead_id),
                        event_type=record.type,
                        **values,
                    )
                )
            if dead:
                _move_past(conn, webhook.webhook_id, record.position)


def _move_past(conn: sa.Connection, webhook_id: str, position: int) -> None:
    """The webhook is done with the event at ``position`` (it never moves back)."""
    conn.execute(
        WEBHOOKS.update()
        .where(WEBHOOKS.c.webhook_id == webhook_id, WEBHOOKS.c.position < position)
        .values(position=position)
    )
