"""Opening a leadflow store from a database URL.

``sqlite:///path/to/file.db`` (the embedded default) uses the eventsourcing library's
own SQLite recorder; ``postgresql://user:password@host:port/dbname[?schema=name]`` its
PostgreSQL recorder (psycopg 3). Read models live in the same database.

Every store seals personal data under per-lead data keys kept in a keystore apart from
the log (:mod:`leadflow.adapters.keystore`), wrapped by the master key
(:mod:`leadflow.adapters.master_key`).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from leadflow.errors import InvalidInput, LeadflowError, StoreNotFound
from leadflow.service.application import Leadflow, utc_now
from leadflow.service.data_keys import DataKeys, Keystore, MasterKey, generate_master_key

if TYPE_CHECKING:  # psycopg is imported only to open a PostgreSQL store
    import psycopg


class StoreUnavailable(LeadflowError):
    """The database behind a store URL cannot be reached."""


__all__ = [
    "DEFAULT_DB_URL",
    "StoreNotFound",
    "StoreUnavailable",
    "data_keys",
    "open_store",
    "persistence_env",
    "resolve_url",
    "scrub",
    "sqlalchemy_url",
]

DEFAULT_DB_URL = "sqlite:///leadflow.db"
POSTGRES_MODULE = "leadflow.adapters.postgres_recorder"


def persistence_env(url: str, *, create: bool = True) -> dict[str, str]:
    """The eventsourcing environment for a database URL (``create``: make the SQLite
    file's directory if it is missing)."""
    try:
        parts = urlsplit(url)
        port = parts.port if parts.scheme.split("+")[0] != "sqlite" else None
    except ValueError as exc:
        raise InvalidInput("db", f"{url!r} is not a store URL: {exc}") from None
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc:
            raise InvalidInput("db", f"{url!r}: write sqlite:///relative.db or sqlite:////abs.db")
        if not path:
            raise InvalidInput("db", f"{url!r} names no database file")
        if "\x00" in path:
            raise InvalidInput("db", f"{url!r}: a file name cannot hold a NUL character")
        if path != ":memory:":
            file = Path(path).expanduser()
            if file.is_dir() or path.endswith("/"):
                raise InvalidInput("db", f"{url!r} names a directory, not a database file")
            if create:
                try:
                    file.resolve().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise InvalidInput(
                        "db", f"{url!r}: cannot create its directory: {exc}"
                    ) from None
        synchronous = parse_qs(parts.query).get("synchronous", ["normal"])[0]
        return {
            "PERSISTENCE_MODULE": "leadflow.adapters.sqlite_recorder",
            "SQLITE_DBNAME": str(Path(path).expanduser()) if path != ":memory:" else path,
            "SQLITE_LOCK_TIMEOUT": "30",
            "SQLITE_SYNCHRONOUS": synchronous,
        }
    if scheme in ("postgres", "postgresql"):
        query = parse_qs(parts.query)
        env = {
            "PERSISTENCE_MODULE": POSTGRES_MODULE,
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_POOL_SIZE": "4",
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = _schema_name(query["schema"][0])
        return env
    raise InvalidInput("db", f"{url!r}: unsupported database; use sqlite:///… or postgresql://…")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL of the same database (for read models)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        return url.split("?", 1)[0]
    if scheme in ("postgres", "postgresql"):
        base = url.split("?", 1)[0]
        return "postgresql+psycopg://" + base.split("://", 1)[1]
    raise InvalidInput("db", f"{url!r}: unsupported database")


_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _schema_name(name: str) -> str:
    """A schema name that needs no quoting (``Sales``, ``my-schema`` or ``varchar``
    would be read differently by different parts of the stack): refused otherwise."""
    if not _SCHEMA.fullmatch(name) or name in _RESERVED:
        raise InvalidInput(
            "db",
            f"schema {name!r}: use lower-case letters, digits and _ (starting with a letter "
            "or _, at most 63), and not an SQL keyword",
        )
    return name


_KEYWORDS = """
    all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate column concurrently constraint create cross current_catalog current_date
    current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full
    grant group having ilike in initially inner intersect into is isnull join lateral
    leading left like limit localtime localtimestamp natural not notnull null offset on
    only or order outer overlaps placing primary references returning right select
    session_user similar some symmetric system_user table tablesample then to trailing true
    union unique user using variadic verbose when where window with varchar char character
    int integer bigint smallint text boolean numeric decimal real float double time
    timestamp interval pg_catalog information_schema
"""
_RESERVED = frozenset(_KEYWORDS.split())
"""SQL keywords and type names, which a schema name would have to be quoted to use."""


def schema_of(url: str) -> str | None:
    """The PostgreSQL schema named by ``?schema=``, if any."""
    values = parse_qs(urlsplit(url).query).get("schema")
    return _schema_name(values[0]) if values else None


def store_exists(url: str) -> bool:
    """Whether a store has been created at ``url`` (its event table exists)."""
    env = persistence_env(url, create=False)
    if env["PERSISTENCE_MODULE"] != POSTGRES_MODULE:
        name = env["SQLITE_DBNAME"]
        if name == ":memory:":
            return True
        file = Path(name)
        return file.is_file() and file.stat().st_size > 0
    with _postgres_connection(env) as conn:
        schema = env.get("POSTGRES_SCHEMA", "public")
        found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.leadflow_events",)).fetchone()
        return found is not None and found[0] is not None


def resolve_url(url: str | None) -> str:
    """The store URL to use: the one given, else ``$LEADFLOW_DB``, else the default."""
    return url or os.environ.get("LEADFLOW_DB") or DEFAULT_DB_URL


def data_keys(url: str) -> DataKeys:
    """The data keys of the store at ``url``: its keystore, and its master key (loaded
    when first needed; see :mod:`leadflow.adapters.master_key`)."""
    # The keystore (SQLAlchemy) is opened when a key is first needed, as psycopg is
    # imported only for PostgreSQL: a command should not pay for what it does not use.
    from leadflow.adapters.master_key import ENV_KEY, keystore_url, master_key_loader

    where = keystore_url(url, os.environ.get("LEADFLOW_KEYSTORE"))

    def keystore() -> Keystore:
        from leadflow.adapters.keystore import SqlKeystore

        return SqlKeystore(where)

    if where == "sqlite:///:memory:" and not os.environ.get(ENV_KEY):
        ephemeral = MasterKey(generate_master_key(), "an in-memory store's own key")
        return DataKeys(keystore, lambda: ephemeral)
    keys = DataKeys(keystore, lambda: loader())
    loader = master_key_loader(url, lambda: keys.keystore.exists())
    return keys


def open_store(
    url: str | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    actor: str | None = None,
    create: bool = True,
) -> Leadflow:
    """Open the store at ``url`` (default: ``$LEADFLOW_DB``), creating it if needed;
    ``create=False``: raise :class:`StoreNotFound` if there is none."""
    resolved = resolve_url(url)
    if not create and not store_exists(resolved):
        raise StoreNotFound(resolved)
    env = persistence_env(resolved)
    if env["PERSISTENCE_MODULE"] != POSTGRES_MODULE:
        return Leadflow(env, clock=clock, actor=actor or _default_actor(), keys=data_keys(resolved))
    from psycopg import sql

    # Several processes opening a new store at once would race on CREATE TABLE
    # ("tuple concurrently updated"): serialise the creation with an advisory lock.
    with _postgres_connection(env) as conn:
        key = zlib.crc32(f"leadflow:{env.get('POSTGRES_SCHEMA', 'public')}".encode())
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            if "POSTGRES_SCHEMA" in env:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(env["POSTGRES_SCHEMA"])
                    )
                )
            return Leadflow(
                env, clock=clock, actor=actor or _default_actor(), keys=data_keys(resolved)
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def scrub(url: str) -> None:
    """After an erasure: leave no overwritten bytes in an embedded store's write-ahead log
    (the read models' old rows); the database file itself zeroes freed bytes
    (``secure_delete``). PostgreSQL's own WAL is beyond reach: see docs/operations.md."""
    env = persistence_env(url)
    name = env.get("SQLITE_DBNAME")
    if name is None or name == ":memory:":
        return
    with contextlib.closing(sqlite3.connect(name, timeout=30)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _postgres_connection(env: dict[str, str]) -> psycopg.Connection[Any]:
    import psycopg

    try:
        return psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=int(env["POSTGRES_PORT"]),
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=5,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(
            f"PostgreSQL at {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}: {exc}"
        ) from exc


def _default_actor() -> str:
    user = os.environ.get("LEADFLOW_ACTOR")
    if user:
        return user
    try:
        import getpass

        return f"user:{getpass.getuser()}"
    except Exception:  # getpass raises various errors when no user is known
        return "user:unknown"
