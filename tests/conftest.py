"""Shared fixtures: stores on SQLite (always) and on the real PostgreSQL server.

PostgreSQL tests run when ``LEADFLOW_TEST_POSTGRES`` holds a server URL. With
``LEADFLOW_REQUIRE_SERVICES=1`` (set by ``.ci/run``) an unreachable server fails the
run instead of skipping it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from leadflow.adapters.store import open_store
from leadflow.domain.pipeline import Pipeline
from leadflow.service.application import Leadflow

from support.clock import FakeClock
from support.pipelines import pipeline_with
from support.stores import POSTGRES_URL, service_unavailable
from support.stores import on_roster as on_roster  # for modules that import it from conftest

# pytest-xdist's workers set COLUMNS=80, and the CLI's console takes its width from COLUMNS
# when it is made (at import): tests that set COLUMNS themselves would not be heard.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)


@pytest.fixture(autouse=True, scope="session")
def _key_files_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """PostgreSQL stores' master-key files (``$LEADFLOW_KEY_DIR``) go to a temporary
    directory, not the home directory; SQLite stores keep theirs beside the store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEADFLOW_KEY_DIR", str(tmp_path_factory.mktemp("keys")))
        patch.delenv("LEADFLOW_MASTER_KEY", raising=False)
        patch.delenv("LEADFLOW_MASTER_KEY_FILE", raising=False)
        patch.delenv("LEADFLOW_KEYSTORE", raising=False)
        yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _created(url: str) -> str:
    """``url`` with an empty store created at it (only ``init``, ``demo`` and ``import``
    create one from the command line; the tests' stores are made here)."""
    open_store(url).close()
    return url


def _dispose_engines_of(schema: str) -> None:
    """The CLI and the service keep one SQLAlchemy engine per store URL for the life of the
    process (a command or a server opens one store); a suite opens hundreds: close the pools
    of the store that is going away."""
    from leadflow.adapters import cli_projections
    from leadflow.adapters.http import database

    for cache in (cli_projections._engines, database._engines):
        cache.dispose(lambda url: f"schema={schema}" in url)


def _postgres_schema_url(*, create: bool = True) -> Iterator[str]:
    if not POSTGRES_URL:
        service_unavailable("set LEADFLOW_TEST_POSTGRES=postgresql://… to run PostgreSQL tests")
    assert POSTGRES_URL is not None
    schema = f"t_{uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(POSTGRES_URL, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        service_unavailable(f"PostgreSQL at {POSTGRES_URL} unreachable: {exc}")
        raise
    try:
        url = f"{POSTGRES_URL}?schema={schema}"
        yield _created(url) if create else url
    finally:
        # Stores a test opened and dropped hold pooled connections until collected: collect
        # them, so that a whole suite's worth never exhausts the server's connection slots.
        _dispose_engines_of(schema)
        gc.collect()
        for name in (schema, f"{schema}_keys"):  # the store's schema and its keystore's
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield _created(f"sqlite:///{tmp_path / 'leadflow.db'}")
    else:
        yield from _postgres_schema_url()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL where no store is yet (a file not made, a schema not created)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new.db'}"
    else:
        yield from _postgres_schema_url(create=False)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like ``db_url``, one store for a whole module (a server the module's tests share)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'leadflow.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return _created(f"sqlite:///{tmp_path / 'leadflow.db'}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema_url()


@pytest.fixture
def app(db_url: str, clock: FakeClock) -> Iterator[Leadflow]:
    lf = open_store(db_url, clock=clock, actor="user:test")
    yield lf
    lf.close()


UsePipeline = Callable[..., Pipeline]


@pytest.fixture
def use_pipeline(app: Leadflow) -> UsePipeline:
    """``use_pipeline(dedupe={"keys": ["email"]})`` activates such a pipeline on ``app``."""

    def activate(**sections: dict[str, Any]) -> Pipeline:
        pipeline = pipeline_with(**sections)
        app.activate_pipeline(pipeline)
        return pipeline

    return activate


@pytest.fixture
def make_pipeline() -> UsePipeline:
    """``make_pipeline(pool={...})``: :func:`support.pipelines.pipeline_with`."""
    return pipeline_with
