"""The keystore: wrapped per-lead data keys, kept apart from the log.

Beside an embedded store ``leadflow.db`` it is a second SQLite file, ``leadflow.keys.db``;
for PostgreSQL a schema of its own (``<schema>_keys``, or ``leadflow_keys`` for the
default schema). ``$LEADFLOW_KEYSTORE`` (a ``sqlite:///…`` or ``postgresql://…?schema=…``
URL) puts it elsewhere. A copy or backup of the log alone therefore opens no personal
data, and destroying a key (erasure) changes nothing in the log.

Destroying a key must leave no copy of it behind: SQLite runs with ``secure_delete`` (freed
bytes are zeroed) and the write-ahead log is truncated after each erasure; PostgreSQL's
table is rewritten (``VACUUM FULL``) so no dead row keeps the old key. What neither can
reach (file-system snapshots, PostgreSQL's WAL archive, backups) is in docs/operations.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import NullPool, StaticPool

from leadflow.service.data_keys import DESTROYED

__all__ = ["SqlKeystore"]

_METADATA = sa.MetaData()
DATA_KEYS = sa.Table(
    "lf_data_keys",
    _METADATA,
    sa.Column("lead_id", sa.String(36), primary_key=True),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("destroyed_at", sa.DateTime(timezone=True)),
)
"""One row per lead with personal data: its wrapped key, or a tombstone (empty) once
erased; plus the keys made ahead for leads not captured yet (``DataKeys.new_lead_id``)."""
META = sa.Table(
    "lf_keystore_meta",
    _METADATA,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
)
"""``key_id`` (of the master key), ``index`` (the wrapped contact-index secret),
``generation`` (grows with each destroyed key)."""


def _now() -> datetime:
    return datetime.now(UTC)


class SqlKeystore:
    """The keystore on SQLite or PostgreSQL (SQLAlchemy Core)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sqlite = parts.scheme.startswith("sqlite")
        self.schema: str | None = None
        if self.sqlite:
            path = url.split("?", 1)[0].removeprefix("sqlite:///")
            self.location = path
            if path == ":memory:":
                engine = sa.create_engine(
                    "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
                )
            else:
                Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine("sqlite:///" + path, connect_args={"timeout": 30})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            self.schema = (parse_qs(parts.query).get("schema") or ["leadflow_keys"])[0]
            base = url.split("?", 1)[0]
            # Keys are read in batches and cached: no connection is held between uses.
            engine = sa.create_engine(
                "postgresql+psycopg://" + base.split("://", 1)[1], poolclass=NullPool
            )
            self.location = (
                f"{parts.hostname}:{parts.port or 5432}{parts.path} schema {self.schema}"
            )
            for attempt in range(3):
                try:
                    with engine.begin() as conn:
                        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
                    break
                except sa.exc.DBAPIError:  # a concurrent CREATE SCHEMA of the same name
                    if attempt == 2:
                        raise
        self.engine = engine.execution_options(schema_translate_map={None: self.schema})
        self._created = False

    def _begin(self) -> Any:
        if not self._created:
            for attempt in range(3):
                try:
                    with self.engine.begin() as conn:
                        _METADATA.create_all(conn, checkfirst=True)
                    break
                except sa.exc.DBAPIError:
                    # Another process created the tables between the check and the create.
                    if attempt == 2:
                        raise
            self._created = True
        return self.engine.begin()

    def exists(self) -> bool:
        """Whether the keystore was ever initialised (holds a master key id)."""
        return "key_id" in self.meta()

    def meta(self) -> dict[str, bytes]:
        with self._begin() as conn:
            return {row.name: bytes(row.value) for row in conn.execute(sa.select(META))}

    def initialise(self, key_id: str, wrapped_index: bytes) -> None:
        with contextlib.suppress(sa.exc.IntegrityError), self._begin() as conn:
            # IntegrityError: another writer initialised it first (its key id is checked).
            present = conn.execute(sa.select(META.c.name).where(META.c.name == "key_id")).first()
            if present is None:
                conn.execute(
                    sa.insert(META),
                    [
                        {"name": "key_id", "value": key_id.encode()},
                        {"name": "index", "value": wrapped_index},
                        {"name": "generation", "value": b"0"},
                    ],
                )

    def get(self, lead_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        with self._begin() as conn:
            return _stored_keys(conn, lead_ids)

    def add_many(self, wrapped: Mapping[UUID, bytes]) -> dict[UUID, bytes]:
        """One transaction for all (an import makes a batch's keys together): each lead's
        new key is inserted unless it has one, and the stored key of each is returned."""
        rows = [
            {"lead_id": str(lead_id), "wrapped": key, "created_at": _now()}
            for lead_id, key in wrapped.items()
        ]
        insert = (sqlite_insert if self.sqlite else postgresql_insert)(DATA_KEYS)
        with self._begin() as conn:
            # A lead that has a key (another writer's, or a tombstone) keeps it.
            conn.execute(insert.on_conflict_do_nothing(), rows)
            return _stored_keys(conn, list(wrapped))

    def add_new(self, keys: Sequence[tuple[UUID, bytes]]) -> None:
        now = _now()
        with self._begin() as conn:
            conn.execute(
                sa.insert(DATA_KEYS),
                [{"lead_id": str(i), "wrapped": w, "created_at": now} for i, w in keys],
            )

    def destroy(self, lead_id: UUID) -> bool:
        with self._begin() as conn:
            existing = conn.execute(
                sa.select(DATA_KEYS.c.wrapped).where(DATA_KEYS.c.lead_id == str(lead_id))
            ).first()
            if existing is None:
                conn.execute(
                    sa.insert(DATA_KEYS).values(
                        lead_id=str(lead_id),
                        wrapped=DESTROYED,
                        created_at=_now(),
                        destroyed_at=_now(),
                    )
                )
            else:
                conn.execute(
                    sa.update(DATA_KEYS)
                    .where(DATA_KEYS.c.lead_id == str(lead_id))
                    .values(wrapped=DESTROYED, destroyed_at=_now())
                )
            generation = conn.execute(
                sa.select(META.c.value).where(META.c.name == "generation")
            ).scalar_one_or_none()
            if generation is not None:
                conn.execute(
                    sa.update(META)
                    .where(META.c.name == "generation")
                    .values(value=str(int(generation) + 1).encode())
                )
        self._scrub()
        return existing is not None and bytes(existing.wrapped) != DESTROYED

    def _scrub(self) -> None:
        """Leave no copy of a destroyed key in the files (see the module docstring)."""
        if self.sqlite:
            if self.location != ":memory:":
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return
        with (
            contextlib.suppress(sa.exc.OperationalError),
            self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        ):
            conn.exec_driver_sql(f'VACUUM FULL "{self.schema}".lf_data_keys')

    def generation(self) -> int:
        with self._begin() as conn:
            value = conn.execute(
                sa.select(META.c.value).where(META.c.name == "generation")
            ).scalar_one_or_none()
        return int(value) if value is not None else 0

    def rewrap(self, rewrap: Callable[[UUID, bytes], bytes], key_id: str, index: bytes) -> int:
        count = 0
        with self._begin() as conn:
            rows = conn.execute(
                sa.select(DATA_KEYS.c.lead_id, DATA_KEYS.c.wrapped).where(
                    DATA_KEYS.c.wrapped != DESTROYED
                )
            ).all()
            for row in rows:
                conn.execute(
                    sa.update(DATA_KEYS)
                    .where(DATA_KEYS.c.lead_id == row.lead_id)
                    .values(wrapped=rewrap(UUID(row.lead_id), bytes(row.wrapped)))
                )
                count += 1
            conn.execute(
                sa.update(META).where(META.c.name == "key_id").values(value=key_id.encode())
            )
            conn.execute(sa.update(META).where(META.c.name == "index").values(value=index))
        self._scrub()
        return count

    def files(self) -> list[Path]:
        """The keystore's files on disk (SQLite): what a backup must take together."""
        if not self.sqlite or self.location == ":memory:":
            return []
        base = Path(self.location)
        return [p for p in (base, Path(f"{base}-wal"), Path(f"{base}-journal")) if p.exists()]

    def close(self) -> None:
        self.engine.dispose()


def _stored_keys(conn: Any, lead_ids: Sequence[UUID]) -> dict[UUID, bytes]:
    found: dict[UUID, bytes] = {}
    ids = [str(i) for i in lead_ids]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            sa.select(DATA_KEYS.c.lead_id, DATA_KEYS.c.wrapped).where(
                DATA_KEYS.c.lead_id.in_(chunk)
            )
        )
        found.update((UUID(row.lead_id), bytes(row.wrapped)) for row in rows)
    return found


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA secure_delete=ON")
    dbapi_connection.execute("PRAGMA synchronous=FULL")  # a key made must survive a crash
