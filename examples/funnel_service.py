"""A downstream service that keeps its own lead funnel from the Kafka stream alone.

It never reads leadflow's database: it joins a consumer group on the lead event topic
(written by ``leadflow publish``), feeds a small read model through
:class:`~leadflow.adapters.kafka.KafkaProjectionFeeder` (typed events, per-lead dedupe in
the same transaction as the read-model writes) and prints the funnel on exit::

    leadflow demo --leads 200 --db sqlite:///demo.db
    leadflow publish --bootstrap 127.0.0.1:9092 --db sqlite:///demo.db
    python examples/funnel_service.py --bootstrap 127.0.0.1:9092 --db sqlite:///funnel.db \\
        --exit-when-idle 3

It also keeps each lead's company (to show which accounts are in the funnel): personal data,
so it acts on ``PersonalDataErased`` by forgetting it, as every downstream service must. With
the stream's default ``stream.personal_data = "omit"`` companies arrive as ``[personal]`` and
nothing is kept; with ``"clear"`` they are kept until the lead is erased.

Run it twice: the second run reads nothing new (its offsets and per-lead sequences are
committed) and prints the same funnel. ``Ctrl-C`` / SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

import orjson
import structlog
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)

from leadflow.adapters.kafka import DEFAULT_TOPIC, KafkaProjectionFeeder, LeadEventConsumer
from leadflow.adapters.logging_setup import configure_logging
from leadflow.domain.personal_data import ERASED, REDACTED
from leadflow.service.codec import EventRecord

STAGE_SETTING_TYPES = frozenset({"LeadCaptured", "StageChanged"})
MERGE_TYPES = frozenset({"LeadMerged", "LeadUnmerged"})

metadata = MetaData()
lead_stage = Table(
    "funnel_lead_stage",
    metadata,
    Column("lead_id", String(36), primary_key=True),
    Column("stage", String(100), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("position", Integer, nullable=False),
    Column("merged", Boolean, nullable=False, default=False),
)
stage_reached = Table(
    "funnel_stage_reached",
    metadata,
    Column("lead_id", String(36), primary_key=True),
    Column("stage", String(100), primary_key=True),
)


lead_company = Table(
    "funnel_lead_company",
    metadata,
    Column("lead_id", String(36), primary_key=True),
    Column("company", String(200), nullable=False),
)
"""Personal data: the row goes when the lead is erased."""


def _keep_company(conn: Connection, record: EventRecord) -> None:
    """The lead's company as the stream tells it; erased (or never sent): forgotten."""
    lead = str(record.lead_id)
    if record.type == "PersonalDataErased":
        conn.execute(delete(lead_company).where(lead_company.c.lead_id == lead))
        return
    data = record.data.get("changes", record.data)
    if record.type not in ("LeadCaptured", "ProfileUpdated") or "company" not in data:
        return
    conn.execute(delete(lead_company).where(lead_company.c.lead_id == lead))
    company = data["company"]
    if company and company not in (ERASED, REDACTED):
        conn.execute(insert(lead_company).values(lead_id=lead, company=company[:200]))


class StageFunnel:
    """Each lead's current stage and every stage it reached (the funnel's two counts).

    The current stage is the one set by the latest stage-setting event in business time
    (then log position), the same definition as ``leadflow.projections.reference``; a
    lead merged into another (``LeadMerged``, until a ``LeadUnmerged``) counts nowhere.
    Only per-lead order is assumed.
    """

    name = "example_stage_funnel"
    tables = (lead_stage, stage_reached, lead_company)

    def handle(self, conn: Connection, records: Sequence[EventRecord]) -> None:
        for record in records:
            _keep_company(conn, record)
            if record.type in MERGE_TYPES:
                conn.execute(
                    update(lead_stage)
                    .where(lead_stage.c.lead_id == str(record.lead_id))
                    .values(merged=record.type == "LeadMerged")
                )
                continue
            if record.type not in STAGE_SETTING_TYPES:
                continue
            lead, stage = str(record.lead_id), str(record.data["stage"])
            current = conn.execute(
                select(lead_stage.c.occurred_at, lead_stage.c.position).where(
                    lead_stage.c.lead_id == lead
                )
            ).first()
            row = {"stage": stage, "occurred_at": record.occurred_at, "position": record.position}
            if current is None:
                conn.execute(insert(lead_stage).values(lead_id=lead, **row))
            elif (_aware(current.occurred_at), current.position) < (
                record.occurred_at,
                record.position,
            ):
                conn.execute(update(lead_stage).where(lead_stage.c.lead_id == lead).values(**row))
            seen = conn.execute(
                select(stage_reached.c.stage).where(
                    stage_reached.c.lead_id == lead, stage_reached.c.stage == stage
                )
            ).first()
            if seen is None:
                conn.execute(insert(stage_reached).values(lead_id=lead, stage=stage))

    def reset(self, conn: Connection) -> None:
        conn.execute(delete(lead_stage))
        conn.execute(delete(stage_reached))
        conn.execute(delete(lead_company))


def _aware(value: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def funnel(conn: Connection) -> dict[str, dict[str, int]]:
    """Stage → ``{"in_stage": n, "reached": n}`` for every stage a live lead reached."""
    rows: dict[str, dict[str, int]] = {}
    live = lead_stage.c.merged.is_(False)
    for stage, count in conn.execute(
        select(stage_reached.c.stage, func.count())
        .join(lead_stage, lead_stage.c.lead_id == stage_reached.c.lead_id)
        .where(live)
        .group_by(stage_reached.c.stage)
    ):
        rows[stage] = {"in_stage": 0, "reached": int(count)}
    for stage, count in conn.execute(
        select(lead_stage.c.stage, func.count()).where(live).group_by(lead_stage.c.stage)
    ):
        rows.setdefault(stage, {"in_stage": 0, "reached": 0})["in_stage"] = int(count)
    return dict(sorted(rows.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap HOST:PORT")
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--group", default="funnel-service", help="consumer group id")
    parser.add_argument("--db", default="sqlite:///funnel.db", help="this service's database")
    parser.add_argument(
        "--exit-when-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long without new events (default: run until stopped)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    log = structlog.get_logger("funnel_service")

    engine = create_engine(args.db)
    feeder = KafkaProjectionFeeder(engine, [StageFunnel()], name="funnel-service")
    consumer = LeadEventConsumer(
        args.bootstrap,
        args.group,
        topic=args.topic,
        # Small group timeouts: a fresh member joins in seconds rather than minutes.
        max_poll_interval_ms=5_000,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    handled = 0
    last_activity = time.monotonic()
    try:
        while not stop.is_set():
            count = consumer.poll(feeder, timeout_ms=500)
            handled += count
            if count or not consumer.assigned():  # joining the group is not idleness
                last_activity = time.monotonic()
            if count:
                log.info("funnel_updated", events=count, total=handled)
            elif (
                args.exit_when_idle is not None
                and time.monotonic() - last_activity > args.exit_when_idle
            ):
                break
    finally:
        consumer.close()
    with engine.connect() as conn:
        sys.stdout.write(orjson.dumps({"events": handled, "funnel": funnel(conn)}).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
