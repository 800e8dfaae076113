"""The unit of work: what one command loaded, changed and saves, in one atomic append.

A use case asks the unit of work for the aggregates it needs (leads, contact keys, the
roster), lets the domain decide, and commits. :meth:`UnitOfWork.commit` then:

1. derives the roster's ledger of open leads: for every lead the command touched it
   compares whom the lead counted for when loaded with whom it counts for now
   (:func:`leadflow.domain.ownership.counts_for`), and records a ``LoadChanged`` for each
   difference. No list of "events that move a load" is kept anywhere, so a new command
   cannot forget one;
2. appends every pending event of every aggregate in one transaction: all or nothing,
   and a stale read anywhere is a :class:`~leadflow.errors.ConcurrencyConflict`
   (:func:`commit_each` saves many units of work in one transaction, each of them all or
   nothing on its own);
3. logs one ``event_recorded`` line per event (lead id, position) and returns what was
   recorded as a :class:`CommandResult`.

A command that raises leaves nothing behind: its in-memory copies are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import Recording

from leadflow.domain.aggregate import Aggregate
from leadflow.domain.commands import ErasePersonalData
from leadflow.domain.context import Context
from leadflow.domain.dedupe import ContactKey
from leadflow.domain.lead import Lead
from leadflow.domain.ownership import counts_for
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import ROSTER_ID, Roster
from leadflow.errors import ConcurrencyConflict, InvalidInput, LeadNotFound
from leadflow.service.store import LeadStore

__all__ = ["CommandResult", "RecordedEventRef", "UnitOfWork", "commit_each", "unit_of_work"]

log = structlog.get_logger("leadflow")


@dataclass(frozen=True)
class RecordedEventRef:
    """One event a command recorded: its log position, type, sequence and actor."""

    position: int
    type: str
    sequence: int
    actor: str
    aggregate_id: UUID


@dataclass(frozen=True)
class CommandResult:
    """What a command recorded: the lead (or the roster), its new version, each event."""

    lead_id: UUID
    version: int
    events: tuple[RecordedEventRef, ...]


@dataclass(eq=False, slots=True)
class _Tracked:
    lead: Lead
    counted: str | None
    """Whom the lead counted for when last compared (when loaded, at first)."""
    settled: int
    """The lead's version when last compared (-1: a new lead, never compared)."""


ERASE = ErasePersonalData.NAME
"""The one command a lead holding an unreadable event still takes."""


class UnitOfWork:
    """The aggregates of one command, loaded once and saved together."""

    def __init__(
        self, store: LeadStore, command: str, ctx: Context, pipeline: Pipeline | None = None
    ) -> None:
        self.store = store
        self.command = command
        """The command's name, recorded as the ``cause`` of each load change."""
        self.ctx = ctx
        self.pipeline: Pipeline = pipeline if pipeline is not None else store.pipeline
        """The pipeline in force, read once for the whole command."""
        self._leads: dict[UUID, Lead] = {}
        self._tracked: list[_Tracked] = []
        """Every lead of the command, in the order it came, with whom it counted for."""
        self._keys: dict[UUID, ContactKey | None] = {}
        self._key_ids: dict[tuple[str, str], UUID] = {}
        self._roster: Roster | None = None
        self._others: list[Aggregate[Any]] = []
        self._after: list[Callable[[], object]] = []
        self._main: Lead | None = None
        self.result: CommandResult | None = None

    # -- loading ----------------------------------------------------------------------

    def lead(self, lead_id: UUID) -> Lead:
        """The lead, loaded once per unit of work; :class:`LeadNotFound` if absent."""
        found = self.find_lead(lead_id)
        if found is None:
            raise LeadNotFound(lead_id)
        return found

    def find_lead(self, lead_id: UUID) -> Lead | None:
        if lead_id not in self._leads:
            found = self.store.find_lead(lead_id)
            if found is None:
                return None
            if found.unreadable and self.command != ERASE:
                raise InvalidInput(
                    "lead_id",
                    f"lead {lead_id} holds an event this release cannot read "
                    f"({found.unreadable[0].describe()}); until it is repaired the lead can "
                    "only be shown and erased (leadflow doctor names the event)",
                )
            # As loaded: nothing to compare until it records an event.
            self._track(found, counts_for(found, self._closed), found.version)
        return self._leads[lead_id]

    def loaded(self, lead: Lead) -> Lead:
        """A lead the caller read from the store itself (e.g. many at once): tracked as
        if this unit of work had loaded it."""
        self._track(lead, counts_for(lead, self._closed), lead.version)
        return lead

    def add_lead(self, lead: Lead) -> Lead:
        """A lead this command created (it counted for nobody before)."""
        self._track(lead, None, settled=-1)
        return lead

    def _track(self, lead: Lead, counted: str | None, settled: int) -> None:
        self._leads[lead.id] = lead
        self._tracked.append(_Tracked(lead, counted, settled))

    def key_id(self, kind: str, value: str) -> UUID:
        """The id of a contact (or import) key, computed once per unit of work (a batch
        looks each one up before it captures)."""
        found = self._key_ids.get((kind, value))
        if found is None:
            found = self._key_ids[kind, value] = self.store.contact_key_id(kind, value)
        return found

    def key(self, key_id: UUID) -> ContactKey | None:
        """A contact or import key, ``None`` when free (looked up once)."""
        if key_id not in self._keys:
            self._keys[key_id] = self.store.key(key_id)
        return self._keys[key_id]

    def add_key(self, key: ContactKey) -> None:
        self._keys[key.id] = key

    def known_free(self, key_ids: Sequence[UUID]) -> None:
        """Ask the store once which of these keys exist; the rest are free, unread."""
        unknown = [k for k in key_ids if k not in self._keys]
        if not unknown:
            return
        found = self.store.existing(unknown)
        for key_id in unknown:
            if key_id not in found:
                self._keys[key_id] = None

    @property
    def roster(self) -> Roster:
        """The roster, its loads agreeing with every lead this command changed so far
        (so a second assignment in the same command sees the first one's load)."""
        self._derive_loads()
        return self._the_roster()

    def _the_roster(self) -> Roster:
        if self._roster is None:
            self._roster = self.store.roster()
        return self._roster

    def add(self, aggregate: Aggregate[Any]) -> None:
        """Any other aggregate to save with this command (e.g. the pipeline log)."""
        self._others.append(aggregate)

    def after_commit(self, action: Callable[[], object]) -> None:
        """Something to do once the append succeeded (e.g. destroy an erased lead's data
        key: only after its ``PersonalDataErased`` is stored)."""
        self._after.append(action)

    @property
    def _closed(self) -> list[str]:
        return self.pipeline.assignment.closed_stages

    # -- saving -----------------------------------------------------------------------

    def _derive_loads(self) -> None:
        """Record a load change for each lead whose ``counts_for`` differs from when it
        was loaded (only leads with new events since the last look are compared)."""
        for tracked in self._tracked:
            lead = tracked.lead
            # A lead's version moves with every event it records: an unchanged version is
            # an unchanged owner and stage (this runs on every roster read of a batch).
            if tracked.settled == lead.version:
                continue
            tracked.settled = lead.version
            now = counts_for(lead, self._closed)
            if now == tracked.counted:
                continue
            tracked.counted = now
            pending = lead.pending_events
            last = pending[-1] if pending else None
            ctx = (
                Context(actor=last.actor, occurred_at=last.occurred_at, recorded_at=last.timestamp)
                if last is not None
                else self.ctx
            )
            self._the_roster().track(lead.id, now, self.command, ctx)

    def commit(self) -> CommandResult:
        """Save everything this command changed, atomically; see the module docstring."""
        return self.finish(self.store.append(self.changed()))

    def changed(self) -> list[Aggregate[Any]]:
        """What this command changed, ready to append (its loads derived first): the
        first half of :meth:`commit`, for a group commit (:func:`commit_each`)."""
        self._derive_loads()
        changed: list[Aggregate[Any]] = [a for a in self._leads.values() if a.pending_events]
        changed += [k for k in self._keys.values() if k is not None and k.pending_events]
        if self._roster is not None and self._roster.pending_events:
            changed.append(self._roster)
        changed += [a for a in self._others if a.pending_events]
        main = next((lead for lead in self._leads.values() if lead.pending_events), None)
        if main is None and self._leads:
            main = next(iter(self._leads.values()))
        self._main = main
        return changed

    def finish(self, recordings: Sequence[Recording[UUID]]) -> CommandResult:
        """The second half of :meth:`commit`, once what :meth:`changed` listed is saved."""
        for action in self._after:
            action()
        refs = tuple(
            RecordedEventRef(
                position=r.notification.id,
                type=r.domain_event.TYPE,  # type: ignore[attr-defined]
                sequence=r.domain_event.originator_version,
                actor=r.domain_event.actor,  # type: ignore[attr-defined]
                aggregate_id=r.domain_event.originator_id,
            )
            for r in recordings
        )
        logger = log.bind(command=self.command) if refs else log
        for ref in refs:
            logger.info(
                "event_recorded",
                lead_id=str(ref.aggregate_id),
                position=ref.position,
                type=ref.type,
                actor=ref.actor,
            )
        self.result = self._result(self._main, refs)
        return self.result

    def _result(self, main: Lead | None, refs: tuple[RecordedEventRef, ...]) -> CommandResult:
        if main is not None:
            return CommandResult(lead_id=main.id, version=main.version, events=refs)
        if self._roster is not None:
            return CommandResult(lead_id=ROSTER_ID, version=self._roster.version, events=refs)
        first = next((a for a in (*self._keys.values(), *self._others) if a is not None), None)
        if first is not None:
            return CommandResult(lead_id=first.id, version=first.version, events=refs)
        return CommandResult(lead_id=ROSTER_ID, version=0, events=refs)


@contextmanager
def unit_of_work(
    store: LeadStore, command: str, ctx: Context, pipeline: Pipeline | None = None
) -> Iterator[UnitOfWork]:
    """A unit of work that drops its in-memory copies if the command fails."""
    uow = UnitOfWork(store, command, ctx, pipeline)
    try:
        yield uow
    except BaseException:
        if uow._roster is not None:
            store.forget_roster()
        raise


def commit_each(
    store: LeadStore, uows: Sequence[UnitOfWork]
) -> list[CommandResult | ConcurrencyConflict]:
    """Group commit: every unit of work saved in one transaction, each atomic and
    conflict-checked on its own (:meth:`LeadStore.append_each`). The answer, per unit of
    work: its result, or the conflict that left all of it unsaved."""
    # Each command's events are taken before the next derives its loads (both may record
    # on the roster): in this order, one at a time.
    saved = store.append_each([store.pending(uow.changed()) for uow in uows])
    return [
        outcome if isinstance(outcome, ConcurrencyConflict) else uow.finish(outcome)
        for uow, outcome in zip(uows, saved, strict=True)
    ]
