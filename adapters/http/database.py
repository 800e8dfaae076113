"""The SQLAlchemy engine of the service tables: the store's own database and schema."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from leadflow.adapters.engines import EngineCache
from leadflow.adapters.http.tables import SERVICE_TABLES
from leadflow.adapters.store import resolve_url, schema_of, sqlalchemy_url

__all__ = ["service_engine"]

_engines = EngineCache()
"""The service tables' engines (``_engines.dispose()`` closes them)."""


def service_engine(url: str | None) -> sa.Engine:
    """An engine on the store at ``url`` with the service tables created (kept per URL,
    a few URLs at a time: :class:`~leadflow.adapters.engines.EngineCache`)."""
    resolved = resolve_url(url)
    return _engines.get(resolved, lambda: _make(resolved))


def _make(resolved: str) -> sa.Engine:
    target = sqlalchemy_url(resolved)
    connect_args: dict[str, Any] = {"timeout": 30} if target.startswith("sqlite") else {}
    base = sa.create_engine(target, connect_args=connect_args, pool_pre_ping=True)
    if target.startswith("sqlite"):
        sa.event.listen(base, "connect", _sqlite_pragmas)
    engine = base.execution_options(schema_translate_map={None: schema_of(resolved)})
    SERVICE_TABLES.create_all(engine, checkfirst=True)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
