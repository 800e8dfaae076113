"""``leadflow publish`` (the Kafka relay) and ``leadflow event-schemas``.

Exit codes beyond the CLI's own: 5 when the broker did not acknowledge (without
``--follow``; with it, the relay waits and retries instead).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console

from leadflow.adapters.cli_support import state
from leadflow.adapters.kafka_admin import DEFAULT_PARTITIONS, DEFAULT_TOPIC

if TYPE_CHECKING:  # each command imports what it uses (``leadflow --help`` loads none)
    from leadflow.adapters.kafka_relay import Relay, RelayProgress

__all__ = ["EXIT_UNAVAILABLE", "register"]

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
                Console(stderr=True).print(f"[red]error:[/red] {exc}")
            raise typer.Exit(EXIT_UNAVAILABLE) from None
        finally:
            position = relay.position_or_none()
            relay.close()
            lf.close()
        result = {"published": published, "position": position, "topic": topic}
        if json_out:
            sys.stdout.write(orjson.dumps(result).decode() + "\n")
        else:
            Console().print(f"published {published} events to {topic} (position {position})")

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
                Console().print(f"stale: {out / name}")
            raise typer.Exit(1 if stale else 0)
        written = write_schemas(out)
        Console().print(f"wrote {len(written)} schemas to {out}")


def _quiet_kafka_client() -> None:
    """kafka-python logs every failed connection as plain text on stderr; the relay reports
    outages itself as structured events (``relay_waiting``), so keep stderr JSON-only."""
    client_log = logging.getLogger("kafka")
    client_log.addHandler(logging.NullHandler())
    client_log.propagate = False


def _publish_to_end(relay: Relay, end: int, json_out: bool) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    start = relay.position()
    console = Console(stderr=True)
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
