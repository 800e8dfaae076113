"""``leadflow publish`` (the Kafka relay) and ``leadflow event-schemas``.

Exit codes beyond the CLI's own: 5 when the broker did not acknowledge (without
``--follow``; with it, the relay waits and retries instead).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from leadflow.adapters.cli_support import state, store
from leadflow.adapters.formatting import SafeConsole
from leadflow.adapters.kafka_admin import DEFAULT_PARTITIONS, DEFAULT_TOPIC

if TYPE_CHECKING:  # each command imports what it uses (``leadflow --help`` loads none)
    from leadflow.adapters.kafka_relay import Relay, RelayProgress

__all__ = ["EXIT_UNAVAILABLE", "ProjectionWorkerOptions", "project_from_kafka", "register"]

EXIT_UNAVAILABLE = 5


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def register(app: typer.Typer) -> None:
    @app.command()
    def publish(
        bootstrap: Annotated[
            str,
            typer.Option("--bootstrap", envvar="LEADFLOW_KAFKA", help="Kafka bootstrap HOST:PORT."),
        ],
        topic: Annotated[str, typer.Option("--topic", help="Topic to publish to.")] = (
            DEFAULT_TOPIC
        ),
        follow: Annotated[
            bool, typer.Option("--follow", help="Keep tailing the log; wait out outages.")
        ] = False,
        poll_interval: Annotated[
            float, typer.Option("--poll-interval", min=0.01, help="Seconds between polls.")
        ] = 0.5,
        relay_name: Annotated[
            str, typer.Option("--relay-name", help="Name under which the position is kept.")
        ] = "default",
        batch_size: Annotated[
            int, typer.Option("--batch-size", min=1, help="Events per acknowledged batch.")
        ] = 1000,
        partitions: Annotated[
            int, typer.Option("--partitions", min=1, help="Partitions if the topic is created.")
        ] = DEFAULT_PARTITIONS,
        ack_timeout: Annotated[
            float,
            typer.Option("--ack-timeout", min=0.1, help="Seconds to wait for the broker's ack."),
        ] = 30.0,
        source: Annotated[
            str | None, typer.Option("--source", help="CloudEvents source (default from --db).")
        ] = None,
        db: Annotated[
            str | None,
            typer.Option("--db", envvar="LEADFLOW_DB", help="Store URL."),
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Publish the event log to Kafka as CloudEvents, in log order, keyed by lead id."""
        from leadflow.adapters.kafka_relay import PublishFailed, Relay
        from leadflow.adapters.store import open_store, resolve_url

        url = resolve_url(db or state.db)
        _quiet_kafka_client()
        lf = open_store(url)
        relay = Relay(
            lf,
            url,
            bootstrap=bootstrap,
            topic=topic,
            name=relay_name,
            source=source,
            batch_size=batch_size,
            partitions=partitions,
            ack_timeout_s=ack_timeout,
        )
        stop = threading.Event()
        try:
            if follow:
                _stop_on_signals(stop)
                published = relay.follow(stop, poll_interval_s=poll_interval)
            else:
                published = _publish_to_end(relay, lf.max_position(), json_out)
        except PublishFailed as exc:
            message = {"error": {"code": "broker_unavailable", "message": str(exc)}}
            if json_out:
                sys.stdout.write(orjson.dumps(message).decode() + "\n")
            else:
                SafeConsole(stderr=True).print(f"error: {exc}")
            raise typer.Exit(EXIT_UNAVAILABLE) from None
        finally:
            position = relay.position_or_none()
            relay.close()
            lf.close()
        result = {"published": published, "position": position, "topic": topic}
        if json_out:
            sys.stdout.write(orjson.dumps(result).decode() + "\n")
        else:
            SafeConsole().print(f"published {published} events to {topic} (position {position})")

    @app.command("event-schemas")
    def event_schemas_command(
        out: Annotated[Path, typer.Option("--out", help="Folder to write.")] = Path("docs/schemas"),
        check: Annotated[
            bool, typer.Option("--check", help="Only report stale files; exit 1 if any.")
        ] = False,
    ) -> None:
        """Write the JSON Schema of every published lead event type (CloudEvents)."""
        from leadflow.adapters.event_schemas import stale_schema_files, write_schemas

        if check:
            stale = stale_schema_files(out)
            for name in stale:
                SafeConsole().print(f"stale: {out / name}")
            raise typer.Exit(1 if stale else 0)
        written = write_schemas(out)
        SafeConsole().print(f"wrote {len(written)} schemas to {out}")


def _quiet_kafka_client() -> None:
    """kafka-python logs every failed connection as plain text on stderr; the relay reports
    outages itself as structured events (``relay_waiting``), so keep stderr JSON-only."""
    client_log = logging.getLogger("kafka")
    client_log.addHandler(logging.NullHandler())
    client_log.propagate = False


def _publish_to_end(relay: Relay, end: int, json_out: bool) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    start = relay.position()
    console = SafeConsole(stderr=True)
    with Progress(
        TextColumn("publishing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=json_out or not console.is_terminal,
    ) as progress:
        task = progress.add_task("publish", total=max(end - start, 0))

        def advance(step: RelayProgress) -> None:
            progress.update(task, completed=step.position - start)

        return relay.publish_available(end=end, on_batch=advance)


@dataclass(frozen=True)
class ProjectionWorkerOptions:
    """``leadflow project --from-kafka``'s options (see docs/kafka.md, Projection workers)."""

    group: str | None
    into: str | None
    bootstrap: str | None
    topic: str | None
    reset: bool = False
    until_caught_up: bool = False
    batch_size: int = 500
    session_timeout_s: float = 10.0
    max_poll_interval_s: float = 30.0


def project_from_kafka(db: str | None, options: ProjectionWorkerOptions) -> None:
    """Run one projection worker until SIGTERM / Ctrl-C (or, ``until_caught_up``, until
    the group has applied the whole topic). The store (``db``) gives only the pipeline
    in force, which decides what the read models keep."""
    from kafka.errors import KafkaError

    from leadflow.adapters.cli_projections import store_projections
    from leadflow.adapters.kafka_workers import ProjectionWorker, read_side_engine
    from leadflow.adapters.store import resolve_url
    from leadflow.errors import InvalidInput

    def required(field: str, value: str | None) -> str:
        if not value or not value.strip():
            raise InvalidInput(field, "required with --from-kafka")
        return value

    group = required("group", options.group)
    into = required("into", options.into)
    bootstrap = required("bootstrap", options.bootstrap)
    if len(group) > 200 or not group.isprintable():
        raise InvalidInput("group", "at most 200 printable characters")
    if into == resolve_url(db or state.db):
        raise InvalidInput("into", "the store's own read models are kept by the log runner")
    projections = store_projections(store(db))
    _quiet_kafka_client()
    engine, schema = read_side_engine(into)
    session_ms = int(options.session_timeout_s * 1000)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        try:
            worker = ProjectionWorker(
                engine,
                projections,
                bootstrap,
                group,
                topic=options.topic or DEFAULT_TOPIC,
                schema=schema,
                reset=options.reset,
                max_poll_records=options.batch_size,
                session_timeout_ms=session_ms,
                heartbeat_interval_ms=max(session_ms // 6, 100),
                max_poll_interval_ms=int(options.max_poll_interval_s * 1000),
            )
        except KafkaError as exc:
            SafeConsole(stderr=True).print(f"error: broker unavailable: {exc}")
            raise typer.Exit(EXIT_UNAVAILABLE) from None
        try:
            worker.work(stop, until_caught_up=options.until_caught_up)
        finally:
            worker.close()  # leaves the group: the others take its partitions at once
    finally:
        engine.dispose()
