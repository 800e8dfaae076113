"""The event store: loading aggregates and appending their events atomically.

:class:`LeadStore` is the eventsourcing ``Application`` that owns the recorder, the
mapper and the caches. It knows nothing of commands: use cases ask it for aggregates
through a :class:`~leadflow.service.unit_of_work.UnitOfWork`, which hands back what
changed in one :meth:`LeadStore.append`. Persistence is chosen by ``env`` (see
``leadflow.adapters.store``).

Loaded leads are cached and fast-forwarded with any newer events from the store before
each use (one indexed read), so several processes can write the same store. The roster,
which every assignment reads, is kept in memory here and brought up to date the same
way; a fresh process starts from its latest snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable
from uuid import UUID, uuid4

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    EventStore,
    IntegrityError,
    Mapper,
    Notification,
    PersistenceError,
    Recording,
    StoredEvent,
)

from leadflow.domain.aggregate import Aggregate
from leadflow.domain.context import Context
from leadflow.domain.dedupe import ContactKey, key_id
from leadflow.domain.events import LeadEvent
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.pipeline_log import PIPELINE_LOG_ID, PipelineActivated, PipelineLog
from leadflow.domain.roster import ROSTER_ID, Roster, RosterEvent, RosterSnapshot
from leadflow.errors import ConcurrencyConflict, InvalidInput, LeadNotFound
from leadflow.service import log_reader
from leadflow.service.codec import LEAD_TOPICS, EventMapper, EventRecord
from leadflow.service.data_keys import DataKeys
from leadflow.service.pipeline_files import default_pipeline
from leadflow.service.sealing import PersonalSeal

__all__ = [
    "GroupRecorder",
    "IndexedRecorder",
    "LeadStore",
    "Pending",
    "fold_leads",
    "insert_groups",
]

log = structlog.get_logger("leadflow")

Clock = Callable[[], datetime]


@runtime_checkable
class IndexedRecorder(Protocol):
    """What leadflow's own recorders add to the library's (see ``leadflow.adapters``):
    one lead's events by its key, and a bulk "which of these ids exist"."""

    def select_lead_notifications(self, lead_id: UUID) -> Sequence[Notification]: ...

    def select_existing_originators(self, ids: Sequence[UUID]) -> set[UUID]: ...

    def select_notifications_of(self, ids: Sequence[UUID]) -> Sequence[Notification]: ...


@runtime_checkable
class GroupRecorder(Protocol):
    """Group commit (leadflow's recorders): many commands' events in one transaction."""

    def insert_event_groups(
        self, groups: Sequence[Sequence[StoredEvent]]
    ) -> list[Sequence[int] | None]:
        """Insert every group in one transaction, each on its own (see
        :func:`insert_groups`): a group's notification ids, or ``None`` when it was stale
        (nothing of it is written; the other groups are)."""
        ...


def insert_groups(
    groups: Sequence[Sequence[StoredEvent]],
    insert: Callable[[Sequence[StoredEvent]], Sequence[int] | None],
) -> list[Sequence[int] | None]:
    """Each group through ``insert`` (all of it, or nothing and ``None`` on a stale
    version: a recorder rolls back to a savepoint), in order, inside the caller's
    transaction.

    A group that writes an aggregate an earlier group of the batch failed to write fails
    too, unwritten: it was decided on the failed group's state (its versions continue
    the failed ones, and writing them would leave a gap in that aggregate's sequence).
    """
    failed: set[Any] = set()
    results: list[Sequence[int] | None] = []
    for group in groups:
        ids = {event.originator_id for event in group}
        done = None if ids & failed else insert(group)
        if done is None:
            failed |= ids
        results.append(done)
    return results


def fold_leads(notifications: Sequence[Notification], mapper: Mapper[UUID]) -> dict[UUID, Lead]:
    """The leads these stored events make (each lead's events in order; events of other
    aggregates are skipped undecoded). Their data keys are read first, together."""
    if isinstance(mapper, EventMapper):
        mapper.prefetch({n.originator_id for n in notifications if n.topic in LEAD_TOPICS})
    leads: dict[UUID, Lead] = {}
    for notification in notifications:
        if notification.topic not in LEAD_TOPICS:
            continue
        event = mapper.to_domain_event(notification)
        assert isinstance(event, LeadEvent)
        leads[event.originator_id] = Lead.evolve(leads.get(event.originator_id), event)
    return leads


def _project(aggregate: Aggregate[Any] | None, events: Iterable[Any]) -> Aggregate[Any] | None:
    """Fold events into an aggregate (the library's default type-checks each event, slowly)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


@dataclass(frozen=True)
class Pending:
    """One command's aggregates and the events it recorded, taken from them for saving
    (:meth:`LeadStore.pending`)."""

    aggregates: Sequence[Aggregate[Any]]
    events: list[Any]
    roster_before: int | None
    """The roster's version before these events, when the roster is among them."""
    stored: list[StoredEvent]
    """The events as they will be stored (encoded, personal data sealed)."""

    @property
    def ids(self) -> set[UUID]:
        """The aggregates these events change."""
        return {aggregate.id for aggregate in self.aggregates}


def _collected(aggregates: Sequence[Aggregate[Any]]) -> tuple[list[Any], int | None]:
    """The pending events of ``aggregates``, taken from them, and the roster's version
    before them when the roster is among them."""
    events: list[Any] = []
    roster_before: int | None = None
    for aggregate in aggregates:
        collected = aggregate.collect_events()
        if isinstance(aggregate, Roster) and collected:
            roster_before = collected[0].originator_version - 1
        events.extend(collected)
    return events, roster_before


def _recordings(
    events: Sequence[Any], stored: Sequence[StoredEvent], ids: Sequence[int]
) -> list[Recording[UUID]]:
    """What an append recorded: each event with its notification (its log position)."""
    if not ids:  # a recorder that keeps no notification log
        return []
    return [
        Recording(
            event,
            Notification(
                id=n,
                originator_id=s.originator_id,
                originator_version=s.originator_version,
                topic=s.topic,
                state=s.state,
            ),
        )
        for event, s, n in zip(events, stored, ids, strict=True)
    ]


def _the_roster_of(aggregates: Sequence[Aggregate[Any]]) -> Roster:
    return next(a for a in aggregates if isinstance(a, Roster))


def _conflict(aggregates: Sequence[Aggregate[Any]]) -> ConcurrencyConflict:
    return ConcurrencyConflict(aggregates[0].id if aggregates else ROSTER_ID)


class LeadStore(Application[UUID]):
    """Aggregates in, aggregates out; every append is atomic and conflict-checked."""

    name = "leadflow"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }
    roster_snapshot_every = 1000
    """Roster events between snapshots (a fresh process reads at most this many)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        clock: Clock,
        keys: DataKeys | None = None,
    ) -> None:
        self.keys = keys
        """The per-lead data keys that seal personal data; ``None``: stored plain (a store
        opened without a keystore, e.g. in-memory tests)."""
        self._redacting: EventMapper | None = None
        super().__init__(dict(env or {}))
        self.clock = clock
        self._pipeline_log: PipelineLog | None = None
        self._roster: Roster | None = None
        self._snapshot_store: EventStore[UUID] | None = None
        self._indexed = isinstance(self.recorder, IndexedRecorder)

    def construct_mapper(self) -> Mapper[UUID]:
        seal = None if self.keys is None else PersonalSeal(self.keys, self._personal_attributes)
        return EventMapper(
            compressor=self.factory.compressor(), cipher=self.factory.cipher(), seal=seal
        )

    def _personal_attributes(self) -> list[str]:
        # The pipeline as this process last read it: a command reads it at its start
        # (brought up to date then), and its events are sealed under that same pipeline,
        # without another read of the log for each event.
        plog = self._pipeline_log if self._pipeline_log is not None else self.pipeline_log()
        return (plog.current or default_pipeline()).personal_data.attributes

    def close(self) -> None:
        """Close the store and its keystore."""
        if self.keys is not None:
            self.keys.close()
        super().close()

    def new_lead_id(self) -> UUID:
        """An id for a lead about to be captured (its data key made ahead, when personal
        data is sealed: :meth:`DataKeys.new_lead_id`)."""
        return uuid4() if self.keys is None else self.keys.new_lead_id()

    def contact_key_id(self, kind: str, value: str) -> UUID:
        """The id of a contact (or import) key: a keyed HMAC when personal data is sealed
        (an address cannot be confirmed by guessing), else the unkeyed legacy id."""
        if self.keys is None:
            return key_id(kind, value)
        return self.keys.contact_key_id(kind, value)

    # -- loading ------------------------------------------------------------------------

    def lead(self, lead_id: UUID) -> Lead:
        """The lead as stored now; :class:`LeadNotFound` if there is none."""
        try:
            lead = self.repository.get(lead_id, projector_func=_project)
        except AggregateNotFoundError:
            raise LeadNotFound(lead_id) from None
        if not isinstance(lead, Lead):
            raise LeadNotFound(lead_id)
        return lead

    def find_lead(self, lead_id: UUID) -> Lead | None:
        try:
            return self.lead(lead_id)
        except LeadNotFound:
            return None

    def leads(self, lead_ids: Sequence[UUID]) -> dict[UUID, Lead]:
        """These leads as stored now (those that exist), read together: one query per
        500 leads on leadflow's recorders instead of one per lead."""
        if not self._indexed:
            return {i: lead for i in lead_ids if (lead := self.find_lead(i)) is not None}
        assert isinstance(self.recorder, IndexedRecorder)
        return fold_leads(self.recorder.select_notifications_of(lead_ids), self.mapper)

    def key(self, key_id: UUID) -> ContactKey | None:
        """The contact (or import) key aggregate, ``None`` when the key is free."""
        try:
            key = self.repository.get(key_id, projector_func=_project)
        except AggregateNotFoundError:
            return None
        assert isinstance(key, ContactKey)
        return key

    def existing(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregate ids exist: one query on leadflow's recorders."""
        if self._indexed:
            assert isinstance(self.recorder, IndexedRecorder)
            return self.recorder.select_existing_originators(list(ids))
        return {i for i in ids if self.key(i) is not None or self.find_lead(i) is not None}

    # -- the pipeline -------------------------------------------------------------------

    def pipeline_log(self) -> PipelineLog:
        """Every pipeline version activated, as stored now.

        Kept in memory and brought up to date on each use (one indexed read of anything
        newer), so a pipeline another process activated is in force here at once.
        """
        plog = self._pipeline_log
        if plog is not None and plog.version and not self.repository.fastforward:
            return plog  # a single writer process (AGGREGATE_CACHE_FASTFORWARD=n) trusts it
        if plog is None:
            plog = PipelineLog()
        for event in self.repository.event_store.get(PIPELINE_LOG_ID, gt=plog.version):
            assert isinstance(event, PipelineActivated)
            PipelineLog.evolve(plog, event)
        self._pipeline_log = plog
        return plog

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline in force; the shipped default is activated on first use."""
        current = self.pipeline_log().current
        if current is None:
            now = self.clock()
            # Another process opening the same new store may put it in force first: then
            # this append conflicts, and the re-read finds theirs.
            with contextlib.suppress(ConcurrencyConflict):
                self.record_pipeline(default_pipeline(), Context("system:init", now, now))
            current = self.pipeline_log().current
            assert current is not None
        return current

    def pipeline_of_version(self, version: str) -> Pipeline:
        """A pipeline version that was activated (the rules behind a past decision).

        The log of versions is brought up to date first: another process may have
        activated it since.
        """
        known = self.pipeline_log().versions.get(version)
        if known is None:
            raise InvalidInput("pipeline_version", f"no pipeline {version!r} was activated")
        return known

    def record_pipeline(self, pipeline: Pipeline, ctx: Context) -> bool:
        """Put ``pipeline`` in force on its own (the first one; later ones go through
        :func:`leadflow.service.activation.activate`); False if it already was."""
        plog = self.pipeline_log()
        if not plog.activate(pipeline, ctx):
            return False
        try:
            self.append([plog])
        finally:
            self.forget_pipeline_log()
        log.info("pipeline_activated", version=pipeline.version, name=pipeline.name)
        return True

    def forget_pipeline_log(self) -> None:
        """Drop the in-memory versions (read afresh on next use)."""
        self._pipeline_log = None

    # -- the roster ---------------------------------------------------------------------

    def roster(self) -> Roster:
        """The roster as stored now (kept in memory; only newer events are read).

        Kept here rather than in the library's aggregate cache, which would deep-copy the
        whole ledger on every read. A unit of work changes this copy; if its command
        fails, :meth:`forget_roster` drops it.
        """
        roster = self._roster
        if roster is not None and not self.repository.fastforward:
            return roster  # a single writer process (AGGREGATE_CACHE_FASTFORWARD=n) trusts it
        if roster is None:
            latest = list(self.roster_snapshots().get(ROSTER_ID, desc=True, limit=1))
            roster = Roster()
            if latest:
                assert isinstance(latest[0], RosterSnapshot)
                roster = latest[0].mutate(None)
        if not roster.pending_events:  # mid-command, the working copy is the one to use
            for event in self.repository.event_store.get(ROSTER_ID, gt=roster.version):
                assert isinstance(event, RosterEvent)
                Roster.evolve(roster, event)
        self._roster = roster
        return roster

    def forget_roster(self) -> None:
        """Drop the in-memory roster (a command that changed it failed)."""
        self._roster = None

    def roster_at(self, version: int) -> Roster:
        """The roster as it stood at ``version`` (``LeadAssigned.roster_version``)."""
        try:
            roster = self.repository.get(ROSTER_ID, version=version, projector_func=_project)
        except AggregateNotFoundError:
            return Roster()
        assert isinstance(roster, Roster)
        return roster

    def roster_snapshots(self) -> EventStore[UUID]:
        """The snapshot table (created on first use), for the roster only: leads are small
        enough to replay, and their loads should not pay a snapshot lookup."""
        if self._snapshot_store is None:
            for attempt in range(3):
                try:
                    recorder = self.factory.aggregate_recorder("snapshots")
                    break
                except PersistenceError:
                    # Two processes creating the table at once: PostgreSQL refuses one of
                    # the concurrent CREATE TABLE IF NOT EXISTS; by now the table exists.
                    if attempt == 2:
                        raise
            self._snapshot_store = EventStore(mapper=self.mapper, recorder=recorder)
        return self._snapshot_store

    def _snapshot_roster(self, before: int, roster: Roster) -> None:
        every = self.roster_snapshot_every
        if roster.version // every == before // every:
            return
        # IntegrityError: another process wrote this version's snapshot first.
        with contextlib.suppress(IntegrityError):
            self.roster_snapshots().put([RosterSnapshot.take(roster, self.clock())])
        log.info("roster_snapshot_taken", version=roster.version)

    # -- appending ----------------------------------------------------------------------

    def append(self, aggregates: Sequence[Aggregate[Any]]) -> list[Recording[UUID]]:
        """Save the pending events of ``aggregates`` in one atomic append.

        A stale version (another writer saved first) raises :class:`ConcurrencyConflict`
        and nothing is saved; the cached copies are dropped so the retry reads afresh.
        """
        events, roster_before = _collected(aggregates)
        if not events:
            return []
        stored = self._encoded(events)
        try:
            ids = self.recorder.insert_events(stored) or ()
        except IntegrityError as exc:
            self._forget(aggregates)
            raise _conflict(aggregates) from exc
        recordings = _recordings(events, stored, ids)
        self._stored(aggregates)
        if roster_before is not None:
            self._snapshot_roster(roster_before, _the_roster_of(aggregates))
        return recordings

    def pending(self, aggregates: Sequence[Aggregate[Any]]) -> Pending:
        """Take the pending events of ``aggregates`` for an append. A group commit takes
        each command's as soon as it is decided: the next command may record more on a
        shared aggregate (the roster), and those are its own."""
        events, roster_before = _collected(aggregates)
        return Pending(aggregates, events, roster_before, self._encoded(events))

    def _encoded(self, events: Sequence[Any]) -> list[StoredEvent]:
        """The events as stored, encoded together (their data keys read or made at once)."""
        mapper = self.mapper
        if isinstance(mapper, EventMapper):
            return mapper.to_stored_events(events)
        return [mapper.to_stored_event(e) for e in events]

    def append_each(
        self, commands: Sequence[Pending]
    ) -> list[list[Recording[UUID]] | ConcurrencyConflict]:
        """Group commit: each command's events saved atomically and conflict-checked on
        its own, all of them in one transaction (one commit, one fsync).

        The answer, per command in order: its recordings, or the
        :class:`ConcurrencyConflict` it met (a stale version: none of its events are
        saved, its cached copies are dropped; the other commands are saved). A command
        that continues an aggregate a failed command changed in the same batch (e.g.
        the roster) fails with it (:func:`insert_groups`).
        """
        return self.settle(commands, self.insert_each(commands))

    def insert_each(self, commands: Sequence[Pending]) -> list[Sequence[int] | None]:
        """The database half of :meth:`append_each`: each command's notification ids, or
        ``None`` when it was refused. Touches no in-memory state of the store, so a
        server may run it while its next commands are being decided."""
        groups = [c.stored for c in commands if c.stored]
        recorder = self.recorder
        if isinstance(recorder, GroupRecorder):
            written = iter(recorder.insert_event_groups(groups))
        else:  # the library's recorders: one transaction per command
            written = iter(insert_groups(groups, self._insert_or_none))
        return [next(written) if c.stored else () for c in commands]

    def settle(
        self, commands: Sequence[Pending], ids: Sequence[Sequence[int] | None]
    ) -> list[list[Recording[UUID]] | ConcurrencyConflict]:
        """The in-memory half of :meth:`append_each`, once :meth:`insert_each` answered:
        caches and indexes learn what was saved, and forget what was refused."""
        answers: list[list[Recording[UUID]] | ConcurrencyConflict] = []
        roster: tuple[int, Roster] | None = None
        roster_failed = False
        for command, notification_ids in zip(commands, ids, strict=True):
            if notification_ids is None:
                self._forget(command.aggregates)
                roster_failed |= command.roster_before is not None
                answers.append(_conflict(command.aggregates))
                continue
            answers.append(_recordings(command.events, command.stored, notification_ids))
            self._stored(command.aggregates)
            if command.roster_before is not None and roster is None:
                roster = (command.roster_before, _the_roster_of(command.aggregates))
        if roster is not None and not roster_failed:
            self._snapshot_roster(*roster)
        return answers

    def _insert_or_none(self, group: Sequence[StoredEvent]) -> Sequence[int] | None:
        try:
            return self.recorder.insert_events(group) or ()
        except IntegrityError:
            return None

    def _stored(self, aggregates: Sequence[Aggregate[Any]]) -> None:
        cache = self.repository.cache
        if cache is not None and not self.repository.fastforward:
            for aggregate in aggregates:
                cache.put(aggregate.id, aggregate)
        self.saved(aggregates)

    def saved(self, aggregates: Sequence[Aggregate[Any]]) -> None:
        """Called after each successful append with what it saved (for in-process indexes)."""

    def _forget(self, aggregates: Iterable[Aggregate[Any]]) -> None:
        cache = self.repository.cache
        for aggregate in aggregates:
            if isinstance(aggregate, Roster):
                self.forget_roster()
            elif cache is not None:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate.id, evict=True)

    # -- reading the log ----------------------------------------------------------------

    def read_events(
        self,
        *,
        after: int = 0,
        lead_id: UUID | None = None,
        types: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        include_org: bool = False,
        batch_size: int = 1000,
        redact: bool = False,
    ) -> Iterator[EventRecord]:
        """Lead events in log order, after position ``after``; filters combine with AND.

        ``since``/``until`` bound ``occurred_at`` (inclusive); see :mod:`.log_reader`.
        ``redact``: personal values read ``[personal]`` (no master key is needed).
        A generator of its own, so the store stays open while a caller reads.
        """
        mapper = self.mapper
        assert isinstance(mapper, EventMapper)
        if redact:
            if self._redacting is None:
                self._redacting = mapper.with_redaction()
            mapper = self._redacting
        by_lead = None
        if self._indexed:
            assert isinstance(self.recorder, IndexedRecorder)
            by_lead = self.recorder.select_lead_notifications
        yield from log_reader.read_events(
            self.recorder,
            mapper,
            by_lead,
            after=after,
            lead_id=lead_id,
            types=types,
            since=since,
            until=until,
            include_org=include_org,
            batch_size=batch_size,
        )

    def lead_history(self, lead_id: UUID) -> list[LeadEvent[Any]]:
        """One lead's events, in order, read by the lead's id (no log scan)."""
        events = [e for e in self.events.get(lead_id) if isinstance(e, LeadEvent)]
        if not events:
            raise LeadNotFound(lead_id)
        return events

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0
