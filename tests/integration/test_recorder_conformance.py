"""leadflow's recorders keep the eventsourcing library's contract: the library's own
recorder conformance suite (``ApplicationRecorderTestCase``) runs against both.

Anything built on the library (its projection runner, process applications, a user's own
tooling) reads these recorders through ``select_notifications`` and expects what the suite
checks, e.g. originator ids as ``UUID``\\ s. leadflow's faster reads have their own names
(``select_notification_rows``) and are checked here to return the same events.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import eventsourcing.tests.persistence as conformance
import psycopg
import pytest
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.utils import Environment
from psycopg import sql

from leadflow.adapters import postgres_recorder, sqlite_recorder
from leadflow.adapters.store import persistence_env

from support.stores import POSTGRES_URL, service_unavailable


def _same_reads(recorder: Any) -> None:
    """The fast read returns the events ``select_notifications`` returns, ids aside."""
    ids = [uuid4(), uuid4()]
    recorder.insert_events(
        [
            StoredEvent(originator_id=i, originator_version=v, topic=f"t{v}", state=b"{}")
            for i in ids
            for v in (1, 2)
        ]
    )
    library = recorder.select_notifications(start=None, limit=10, topics=["t2"])
    fast = recorder.select_notification_rows(start=None, limit=10, topics=["t2"])
    assert all(isinstance(n.originator_id, UUID) for n in library)
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in library] == [
        (n.id, UUID(str(n.originator_id)), n.originator_version, n.topic, n.state) for n in fast
    ]
    assert [n.originator_id for n in library] == ids


def _join_threads_started_since(before: set[threading.Thread]) -> None:
    """The library's concurrency tests set a stop flag for their reader threads but do not
    join them; closing a SQLite connection that a reader thread is still using crashes the
    interpreter, so wait for every thread the test started before closing anything."""
    for thread in set(threading.enumerate()) - before:
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(timeout=30)


class TestSQLiteRecorderConformance(conformance.ApplicationRecorderTestCase[ApplicationRecorder]):
    def setUp(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self._factories: list[sqlite_recorder.Factory] = []
        self._threads = set(threading.enumerate())

    def tearDown(self) -> None:
        _join_threads_started_since(self._threads)
        for factory in self._factories:
            factory.close()
        self._dir.cleanup()

    def create_recorder(self) -> ApplicationRecorder:
        path = Path(self._dir.name) / f"{len(self._factories)}.db"
        env = persistence_env(f"sqlite:///{path}")
        factory = sqlite_recorder.Factory(Environment(env=env))
        self._factories.append(factory)
        recorder = factory.application_recorder()
        assert type(recorder).__module__ == sqlite_recorder.__name__
        return recorder

    def test_fast_read_returns_the_same_events(self) -> None:
        _same_reads(self.create_recorder())


@pytest.mark.postgres
class TestPostgresRecorderConformance(conformance.ApplicationRecorderTestCase[ApplicationRecorder]):
    def setUp(self) -> None:
        if not POSTGRES_URL:
            service_unavailable("set LEADFLOW_TEST_POSTGRES=postgresql://… to run PostgreSQL tests")
        assert POSTGRES_URL is not None
        try:
            self._admin = psycopg.connect(POSTGRES_URL, connect_timeout=5, autocommit=True)
        except psycopg.OperationalError as exc:
            service_unavailable(f"PostgreSQL at {POSTGRES_URL} unreachable: {exc}")
            raise
        self._schemas: list[str] = []
        self._factories: list[postgres_recorder.Factory] = []
        self._threads = set(threading.enumerate())

    def tearDown(self) -> None:
        _join_threads_started_since(self._threads)
        for factory in self._factories:
            factory.close()
        for schema in self._schemas:
            self._admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
        self._admin.close()

    def create_recorder(self) -> ApplicationRecorder:
        assert POSTGRES_URL is not None
        schema = f"t_{uuid4().hex[:12]}"
        self._admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        self._schemas.append(schema)
        env = persistence_env(f"{POSTGRES_URL}?schema={schema}")
        env["POSTGRES_POOL_SIZE"] = "20"  # the suite's concurrency tests use ten writers
        factory = postgres_recorder.Factory(Environment(env=env))
        self._factories.append(factory)
        recorder = factory.application_recorder()
        assert type(recorder).__module__ == postgres_recorder.__name__
        return recorder

    def test_fast_read_returns_the_same_events(self) -> None:
        _same_reads(self.create_recorder())
