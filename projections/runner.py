"""Running projections over the log: exactly once, crash-safe, rebuildable.

A projection turns batches of events into rows. The runner pulls events after the
lowest position any projection has reached, and applies each batch to each
projection inside ONE database transaction that also moves that projection's row in
``lf_projection_positions``. A crash (even SIGKILL) therefore loses a whole batch or
nothing: on restart the runner resumes from the committed position, and no event is
applied twice.

Two runners may race (a command's catch-up and ``leadflow project --follow``). Each
transaction first moves the position with a compare-and-set
(``UPDATE … WHERE position = <what this runner read>``); that write takes the row
lock (PostgreSQL) or the database write lock (SQLite) before any read-model row is
touched, and if another runner got there first the batch is rolled back and the
runner continues from the committed position. The compare-and-set also checks the
fingerprint: a runner whose read model another runner rebuilt under other code or
settings (a pipeline that closes other stages) raises :class:`ReadModelReplaced`
rather than add rows of its own rules to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from leadflow.errors import LeadflowError, UndecodableEvent
from leadflow.projections import failures as failure_log
from leadflow.projections._sql import READ_MODELS, Timestamp
from leadflow.projections.failures import FAILURES, ProjectionFailed, ProjectionFailure
from leadflow.projections.locks import read_models_lock
from leadflow.projections.log_table import LogSource, Sql, build_log_table, drop_log_table
from leadflow.service.codec import EventRecord
from leadflow.service.logs import get_logger

__all__ = [
    "POSITIONS",
    "Projection",
    "ProjectionRunner",
    "Read",
    "ReadModelReplaced",
    "all_projections",
]


def _log() -> Any:
    # Looked up at each use: the CLI may configure (and re-point) logging after import.
    return get_logger("leadflow.projections")


POSITIONS = sa.Table(
    "lf_projection_positions",
    READ_MODELS,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("fingerprint", sa.String(32), nullable=False),
)
"""The last log position each projection has applied (0: nothing yet), and the
fingerprint of the tables and code that wrote its rows."""

REBUILD_BATCH = 10_000
"""The most events per transaction (batches grow to it when far behind the log)."""

IN_DATABASE_FROM = 2_000
"""How far behind the log (in positions) a catch-up runs inside the database, rebuilding
the leads it touches (see :meth:`ProjectionRunner.catch_up`); closer, event by event."""

Read = Callable[[int], Iterable[EventRecord]]
"""Lead events in log order after a position.

E.g. ``lambda after: app.read_events(after=after)``.
"""

Progress = Callable[[int], None]
"""Called after each committed batch with the last position applied."""


@runtime_checkable
class Projection(Protocol):
    """A read model fed by the log.

    ``handle`` applies a batch inside the caller's transaction. It must give the same
    tables for any interleaving of different leads' events as long as each lead's
    events keep their order (Kafka keeps order per lead, not across leads), and it
    must ignore event types it does not know.

    A projection may also have an integer ``version``: raise it when ``handle`` changes
    what it writes, and every store rebuilds that read model on its next catch-up. And
    it may have a ``settings`` string: what else its rows depend on (``leads``: the
    closed stages); a runner with other settings rebuilds it too.
    """

    name: str
    tables: list[sa.Table]

    def handle(self, conn: sa.Connection, records: Sequence[EventRecord]) -> None: ...

    def reset(self, conn: sa.Connection) -> None: ...


def all_projections(
    closed_stages: Collection[str] | None = None,
    main_path: Sequence[str] | None = None,
    dimensions: Sequence[str] | None = None,
) -> list[Projection]:
    """The built-in read models, in the order they are applied.

    ``closed_stages``: the pipeline in force's ``assignment.closed_stages``, which decide
    pool membership in ``lf_leads``; ``main_path``: its main path, which decides what
    ``lf_passes`` counts; ``dimensions``: its ``[reporting] dimensions``, the attributes
    ``lf_lead_dimensions`` keeps (each default: the shipped pipeline's).
    """
    from leadflow.projections.breaches import Breaches
    from leadflow.projections.dimensions import Dimensions
    from leadflow.projections.handoffs import HandOffs
    from leadflow.projections.leads import Leads
    from leadflow.projections.merges import Merges
    from leadflow.projections.passes import Passes
    from leadflow.projections.revenue import Deals
    from leadflow.projections.stage_history import StageHistory

    return [
        Leads(closed_stages),
        StageHistory(),
        HandOffs(),
        Merges(),
        Passes(main_path),
        Deals(),
        Breaches(),
        Dimensions(dimensions),
    ]


def _fingerprint(projection: Projection, dialect: sa.Dialect) -> str:
    """What the projection's rows depend on: its tables' DDL, its ``version``, its ``settings``."""
    key = f"{projection.name}/{getattr(projection, 'version', 1)}"
    settings = getattr(projection, "settings", "")
    if settings:  # only then: other read models keep their fingerprints, and their rows
        key += f"/{settings}"
    digest = hashlib.sha256(key.encode())
    for table in projection.tables:
        digest.update(str(CreateTable(table).compile(dialect=dialect)).encode())
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            digest.update(str(CreateIndex(index).compile(dialect=dialect)).encode())
    return digest.hexdigest()[:32]


class _Overtaken(Exception):
    """Another runner committed this projection's position first."""


class ReadModelReplaced(LeadflowError):
    """Another runner rebuilt a read model under other code or settings."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"read model {name!r} was rebuilt by a runner with other code or settings "
            "(e.g. a pipeline that closes other stages): restart this runner"
        )
        self.name = name


class ProjectionRunner:
    """Feeds projections from the log and keeps their positions.

    ``engine`` is the store's database; ``schema`` the PostgreSQL schema the store
    lives in (read models are created beside the events).
    """

    def __init__(
        self,
        engine: sa.Engine,
        projections: Sequence[Projection] | None = None,
        schema: str | None = None,
        *,
        batch_size: int = 1000,
        in_database_from: int = IN_DATABASE_FROM,
    ) -> None:
        self.engine = engine.execution_options(schema_translate_map={None: schema})
        self.schema = schema
        self.projections = list(projections if projections is not None else all_projections())
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique: {names}")
        self.batch_size = batch_size
        self.in_database_from = in_database_from
        self._ready = False
        self._fingerprints: dict[str, str] = {}
        """What this runner's projections write (set by :meth:`ensure_tables`)."""
        self._stopped: dict[str, ProjectionFailure] = {}
        """Projections that failed on an event in this catch-up, stopped before it."""

    # -- set-up -------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Create missing read-model tables and position rows (idempotent).

        A projection whose fingerprint (its tables' DDL and its ``version``) differs from
        the one stored with its position was written by other code: its tables are
        dropped and created anew at position 0, and the next catch-up rebuilds it.

        Two processes may do this at once on a new store (a command's catch-up and a
        follower): the loser of a ``CREATE TABLE`` race tries again. Each lost race means
        another process created a table, so one attempt per table always suffices.
        """
        if self._ready:
            return
        tables = [POSITIONS] + [t for p in self.projections for t in p.tables]
        attempts = len(tables) + 1
        for attempt in range(attempts):
            try:
                with self.engine.begin() as conn:
                    self._create(conn)
                break
            except sa.exc.DBAPIError as exc:
                if attempt == attempts - 1:
                    raise
                _log().info("read_models_creation_raced", error=str(exc.orig))
        self._ready = True

    def _create(self, conn: sa.Connection) -> None:
        inspector = sa.inspect(conn)
        schema = self.schema
        if inspector.has_table(POSITIONS.name, schema=schema):
            columns = {c["name"] for c in inspector.get_columns(POSITIONS.name, schema=schema)}
            if columns != {c.name for c in POSITIONS.columns}:
                # Positions from before fingerprints: nothing they describe can be trusted.
                _log().warning("read_model_positions_outdated", action="rebuild_all")
                POSITIONS.drop(conn)
        POSITIONS.create(conn, checkfirst=True)
        FAILURES.create(conn, checkfirst=True)
        stored = dict(conn.execute(sa.select(POSITIONS.c.name, POSITIONS.c.fingerprint)).all())
        now = datetime.now(UTC)
        for projection in self.projections:
            fingerprint = self._fingerprints[projection.name] = _fingerprint(
                projection, conn.dialect
            )
            if stored.get(projection.name) == fingerprint:
                READ_MODELS.create_all(conn, tables=projection.tables, checkfirst=True)
                continue
            if projection.name in stored:
                _log().warning("read_model_outdated", projection=projection.name, action="rebuild")
            READ_MODELS.drop_all(conn, tables=projection.tables, checkfirst=True)
            READ_MODELS.create_all(conn, tables=projection.tables, checkfirst=True)
            conn.execute(POSITIONS.delete().where(POSITIONS.c.name == projection.name))
            conn.execute(
                POSITIONS.insert().values(
                    name=projection.name, position=0, updated_at=now, fingerprint=fingerprint
                )
            )

    def positions(self) -> dict[str, int]:
        """Each projection's last applied log position."""
        self.ensure_tables()
        with self.engine.connect() as conn:
            stored = dict(conn.execute(sa.select(POSITIONS.c.name, POSITIONS.c.position)).all())
        return {p.name: int(stored.get(p.name, 0)) for p in self.projections}

    def _stored_fingerprint(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(POSITIONS.c.fingerprint).where(POSITIONS.c.name == name)
            ).scalar_one_or_none()

    def projection(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        raise KeyError(name)

    # -- running ------------------------------------------------------------------------

    def exclusive(self, *, wait: bool = True, timeout: float | None = None) -> Any:
        """The store's read-model lock (:mod:`leadflow.projections.locks`): whoever writes
        read-model rows outside :meth:`catch_up` and :meth:`rebuild` holds it too."""
        return read_models_lock(self.engine, self.schema, wait=wait, timeout=timeout)

    def failures(self) -> list[ProjectionFailure]:
        """Events a read model stopped before (see :mod:`leadflow.projections.failures`)."""
        self.ensure_tables()
        with self.engine.connect() as conn:
            return failure_log.failures(conn)

    def catch_up(
        self,
        read: Read,
        progress: Progress | None = None,
        head: Callable[[], int] | None = None,
        *,
        wait: bool = True,
        log: LogSource | None = None,
    ) -> int:
        """Apply every event not yet applied; returns how many events were applied.

        ``log``: where the store's events are. Read models at position 0 that can
        (a ``build`` method) are then first built inside the database, in one transaction
        (:mod:`~leadflow.projections.log_table`), and caught up from there. Read models
        at least ``in_database_from`` positions behind that can (``build`` and
        ``forget``) are caught up inside the database too, in one transaction: the
        leads with new events are rebuilt from their whole histories (their rows deleted,
        their counts taken out, then built again), every other lead's rows stay.

        ``head`` (e.g. ``app.max_position``) is the log's last position, events of any
        kind. Positions then move past trailing events that ``read`` does not yield
        (a pipeline activation), so that lag reads 0 when nothing is left to apply.

        Holds the read-model lock (``wait=False``: raise
        :class:`~leadflow.projections.locks.ReadModelsBusy` if another runner has it).
        A read model that fails on an event stops before it, the others go on, and
        :class:`~leadflow.projections.failures.ProjectionFailed` is raised at the end.
        """
        self.ensure_tables()
        with self.exclusive(wait=wait):
            self._stopped = {}
            applied = 0
            if log is not None:
                applied = self._build(log, progress, head)
                applied += self._catch_up_in_database(log, progress, head)
            applied += self._catch_up(read, progress, head)
        if self._stopped:
            raise ProjectionFailed(list(self._stopped.values()))
        return applied

    def _catch_up(
        self, read: Read, progress: Progress | None, head: Callable[[], int] | None
    ) -> int:
        positions = self.positions()
        if not self.projections:
            return 0
        # Read the head first: every event up to it is committed, so after reading
        # everything, no event a projection wants can hide at or below it.
        top = head() if head is not None else 0
        applied = 0
        batch: list[EventRecord] = []
        # Far behind (a first build, an upgrade), batches grow: fewer, larger transactions.
        size = self.batch_size
        try:
            for record in read(min(positions.values())):
                batch.append(record)
                if len(batch) >= size:
                    applied += self._apply(batch, positions)
                    batch = []
                    size = min(size * 2, max(self.batch_size, REBUILD_BATCH))
                    if progress:
                        progress(min(positions.values()))
        except UndecodableEvent as bad:
            # No read model can go past an event nobody can read: each stops before it.
            if batch:
                applied += self._apply(batch, positions)
                batch = []
            self._stop_all_at(bad, positions)
            top = 0
        if batch:
            applied += self._apply(batch, positions)
            if progress:
                progress(min(positions.values()))
        if top > min(positions.values()):
            self._advance(top, positions)
        return applied

    def _build(
        self, log: LogSource, progress: Progress | None, head: Callable[[], int] | None
    ) -> int:
        """Build the read models at position 0 inside the database, up to ``head()`` (the
        log's last position by default); returns the lead events built from (0: none to
        build, or another runner got there first)."""
        positions = self.positions()
        chosen = [p for p in self.projections if positions[p.name] == 0 and hasattr(p, "build")]
        if not chosen:
            return 0
        position, events = self._log_columns(log)
        try:
            with self.engine.begin() as conn:
                count, top = self._build_in(conn, chosen, log, position, events, head)
        except _Overtaken as overtaken:
            _log().info("projection_overtaken", projection=str(overtaken))
            return 0
        if not count:
            return 0
        _log().info(
            "projections_built_in_database",
            projections=[p.name for p in chosen],
            position=top,
            events=count,
        )
        if progress:
            progress(top)
        return count

    def _build_in(
        self,
        conn: sa.Connection,
        chosen: list[Projection],
        log: LogSource,
        position: str,
        events: str,
        last: Callable[[], int] | None,
    ) -> tuple[int, int]:
        head = self._claim(conn, chosen, 0, position, events, last)
        if not head:
            return 0, 0
        build_log_table(conn, log, head)
        count = int(conn.exec_driver_sql("SELECT count(*) FROM lf_log").scalar() or 0)
        if count:
            sql = Sql(conn, log)
            for projection in chosen:
                projection.build(sql)  # type: ignore[attr-defined]
            conn.execute(
                POSITIONS.update()
                .where(POSITIONS.c.name.in_([p.name for p in chosen]))
                .values(position=head, updated_at=datetime.now(UTC))
            )
        drop_log_table(conn)
        return count, head

    def _log_columns(self, log: LogSource) -> tuple[str, str]:
        """The log table's position column and its quoted name, for the in-database paths."""
        position = "notification_id" if self.engine.dialect.name == "postgresql" else "rowid"
        events = f'"{log.schema}"."{log.table}"' if log.schema else f'"{log.table}"'
        return position, events

    def _claim(
        self,
        conn: sa.Connection,
        chosen: list[Projection],
        at: int,
        position: str,
        events: str,
        last: Callable[[], int] | None,
    ) -> int:
        """Take the chosen read models at position ``at`` (the write lock, first: see the
        module), or raise :class:`_Overtaken`; then the head of the log to build up to."""
        for projection in chosen:
            moved = conn.execute(
                POSITIONS.update()
                .where(POSITIONS.c.name == projection.name, POSITIONS.c.position == at)
                .where(POSITIONS.c.fingerprint == self._fingerprints[projection.name])
                .values(updated_at=datetime.now(UTC))
            )
            if moved.rowcount != 1:
                raise _Overtaken(projection.name)
        # Read after the write lock is held: no event up to it can be committed later.
        if last is not None:
            return last()
        return int(conn.exec_driver_sql(f"SELECT max({position}) FROM {events}").scalar() or 0)

    def _catch_up_in_database(
        self, log: LogSource, progress: Progress | None, head: Callable[[], int] | None
    ) -> int:
        """Catch up, inside the database, the read models far enough behind that can, all
        from the lowest position among them; returns how many new lead events they took
        (0: none to do, another runner got there first, or it failed, and the event-by-event
        catch-up that follows takes over)."""
        positions = self.positions()
        able = [
            p
            for p in self.projections
            if hasattr(p, "build") and hasattr(p, "forget") and positions[p.name] > 0
        ]
        if not able:
            return 0
        position, events = self._log_columns(log)
        if head is None:
            with self.engine.connect() as conn:
                top = conn.exec_driver_sql(f"SELECT max({position}) FROM {events}").scalar()
            last = int(top or 0)
        else:
            last = head()
        if last - min(positions[p.name] for p in able) < self.in_database_from:
            return 0  # close to the head (every command's catch-up): nothing more is read
        # A read model stopped before an event goes on event by event: the handlers say
        # again why it cannot apply it.
        stopped = {f.name for f in self.failures()}
        able = [p for p in able if p.name not in stopped]
        if not able:
            return 0
        start = min(positions[p.name] for p in able)
        if last - start < self.in_database_from:
            return 0
        chosen = [p for p in able if positions[p.name] == start]
        try:
            with self.engine.begin() as conn:
                count, top = self._catch_up_in(conn, chosen, log, start, position, events, head)
        except _Overtaken as overtaken:
            _log().info("projection_overtaken", projection=str(overtaken))
            return 0
        except sa.exc.DBAPIError as exc:  # e.g. a malformed event: the handlers name it
            _log().warning("projections_catch_up_in_database_failed", error=str(exc.orig))
            return 0
        _log().info(
            "projections_caught_up_in_database",
            projections=[p.name for p in chosen],
            position=top,
            events=count,
        )
        if progress:
            progress(top)
        return count

    def _catch_up_in(
        self,
        conn: sa.Connection,
        chosen: list[Projection],
        log: LogSource,
        start: int,
        position: str,
        events: str,
        last: Callable[[], int] | None,
    ) -> tuple[int, int]:
        head = self._claim(conn, chosen, start, position, events, last)
        build_log_table(conn, log, head, after=start)
        count = int(
            conn.exec_driver_sql(f"SELECT count(*) FROM lf_log WHERE position > {start}").scalar()
            or 0
        )
        if count:
            sql = Sql(conn, log, partial=True)
            for projection in chosen:
                projection.forget(sql)  # type: ignore[attr-defined]
            for projection in chosen:
                projection.build(sql)  # type: ignore[attr-defined]
        for projection in chosen:
            failure_log.clear(conn, projection.name, past=head)
        conn.execute(
            POSITIONS.update()
            .where(POSITIONS.c.name.in_([p.name for p in chosen]))
            .values(position=head, updated_at=datetime.now(UTC))
        )
        drop_log_table(conn)
        return count, head

    def _advance(self, top: int, positions: dict[str, int]) -> None:
        """Move positions up to ``top`` where no wanted event lies in between."""
        with self.engine.begin() as conn:
            for name, position in positions.items():
                if position < top and name not in self._stopped:
                    conn.execute(
                        POSITIONS.update()
                        .where(POSITIONS.c.name == name, POSITIONS.c.position == position)
                        .where(POSITIONS.c.fingerprint == self._fingerprints[name])
                        .values(position=top, updated_at=datetime.now(UTC))
                    )
        positions.update(self.positions())

    def _apply(self, batch: list[EventRecord], positions: dict[str, int]) -> int:
        """Apply one batch to every projection behind it; ``positions`` is updated."""
        first, last = batch[0].position, batch[-1].position
        while True:
            work = [
                (
                    p,
                    batch
                    if positions[p.name] < first
                    else [r for r in batch if r.position > positions[p.name]],
                )
                for p in self.projections
                if positions[p.name] < last
            ]
            work = [
                (p, [r for r in records if r.position < self._stopped[p.name].position])
                if p.name in self._stopped
                else (p, records)
                for p, records in work
            ]
            work = [(p, records) for p, records in work if records]
            if not work:
                return 0
            try:
                with self.engine.begin() as conn:
                    now = datetime.now(UTC)
                    for projection, records in work:
                        moved = conn.execute(
                            POSITIONS.update()
                            .where(POSITIONS.c.name == projection.name)
                            .where(POSITIONS.c.position == positions[projection.name])
                            # Rows written under other settings must not be added to.
                            .where(POSITIONS.c.fingerprint == self._fingerprints[projection.name])
                            .values(position=records[-1].position, updated_at=now)
                        )
                        if moved.rowcount != 1:
                            raise _Overtaken(projection.name)
                        failure_log.clear(conn, projection.name, past=records[-1].position)
                    for projection, records in work:
                        projection.handle(conn, records)
            except _Overtaken as overtaken:
                name = str(overtaken)
                if self._stored_fingerprint(name) != self._fingerprints[name]:
                    raise ReadModelReplaced(name) from None
                _log().info("projection_overtaken", projection=name)
                positions.update(self.positions())
                continue
            except Exception as exc:
                if not self._diagnose(work, exc):
                    raise
                continue  # again, without the bad events
            for projection, records in work:
                positions[projection.name] = records[-1].position
            _log().debug(
                "projection_batch_applied",
                projections=[p.name for p, _ in work],
                first_position=batch[0].position,
                last_position=last,
            )
            return max(len(records) for _, records in work)

    def _stop_all_at(self, bad: UndecodableEvent, positions: dict[str, int]) -> None:
        for projection in self.projections:
            if positions[projection.name] >= bad.position or projection.name in self._stopped:
                continue
            failure = ProjectionFailure(
                name=projection.name,
                position=bad.position,
                event_id="(unreadable)",
                event_type=bad.topic.rsplit(":", 1)[-1],
                lead_id=str(bad.aggregate_id),
                error=bad.error,
            )
            with self.engine.begin() as conn:
                failure_log.record(conn, failure)
            _log().error(
                "projection_failed",
                projection=projection.name,
                position=bad.position,
                lead_id=str(bad.aggregate_id),
                error=bad.error,
            )
            self._stopped[projection.name] = failure

    def _diagnose(self, work: list[tuple[Projection, list[EventRecord]]], exc: Exception) -> bool:
        """Find which projection fails on which event (each tried alone, rolled back), and
        record it. ``False``: none fails alone (a database error, not a bad event)."""
        found = False
        for projection, records in work:
            bad = self._first_bad(projection, records)
            if bad is None:
                continue
            record, error = bad
            failure = ProjectionFailure(
                name=projection.name,
                position=record.position,
                event_id=str(record.id),
                event_type=record.type,
                lead_id=str(record.lead_id),
                error=f"{type(error).__name__}: {error}",
            )
            with self.engine.begin() as conn:
                failure_log.record(conn, failure)
            _log().error(
                "projection_failed",
                projection=projection.name,
                position=record.position,
                event_id=failure.event_id,
                lead_id=failure.lead_id,
                error=failure.error,
                cause=type(exc).__name__,
            )
            self._stopped[projection.name] = failure
            found = True
        return found

    def _first_bad(
        self, projection: Projection, records: list[EventRecord]
    ) -> tuple[EventRecord, Exception] | None:
        with self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                for record in records:
                    try:
                        projection.handle(conn, [record])
                    except Exception as error:  # the event this read model cannot apply
                        return record, error
            finally:
                transaction.rollback()
        return None

    def rebuild(
        self,
        read: Read,
        names: Sequence[str] | None = None,
        progress: Progress | None = None,
        head: Callable[[], int] | None = None,
        *,
        log: LogSource | None = None,
    ) -> int:
        """Drop the named projections' rows (all if ``names`` is None) and replay the log
        (with ``log``: build them inside the database, see :meth:`catch_up`).

        Holds the read-model lock throughout, so a second rebuild or a follower waits
        for this one instead of interleaving with it."""
        self.ensure_tables()
        chosen = [self.projection(name) for name in names] if names else list(self.projections)
        with self.exclusive():
            with self.engine.begin() as conn:
                for projection in chosen:
                    projection.reset(conn)
                    failure_log.clear(conn, projection.name)
                    conn.execute(
                        POSITIONS.update()
                        .where(POSITIONS.c.name == projection.name)
                        .values(position=0, updated_at=datetime.now(UTC))
                    )
            _log().info("projections_reset", projections=[p.name for p in chosen])
            runner = ProjectionRunner(
                self.engine,
                chosen,
                self.schema,
                batch_size=self.batch_size,
                in_database_from=self.in_database_from,
            )
            runner._ready = True
            runner._fingerprints = self._fingerprints
            return runner.catch_up(read, progress, head, log=log)


def fingerprint(projection: Projection, dialect: sa.Dialect) -> str:
    """What ``projection``'s rows depend on (its tables' DDL, ``version``, ``settings``):
    rows written under another fingerprint must be rebuilt, not added to."""
    return _fingerprint(projection, dialect)
