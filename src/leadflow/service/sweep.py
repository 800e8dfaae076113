"""The sweep use case: fire every time-driven rule that is due (``leadflow sweep [--now T]``).

Which leads have a deadline due is answered by the deadline index
(:mod:`leadflow.service.deadlines`): one indexed range query over each lead's next
deadline, after the index has caught up with what was recorded since the last sweep. The
cost of a sweep grows with the leads changed since the last one and the leads due, not
with the leads stored. The due leads are read in batches (one query per 500), and each
lead with something due (:func:`leadflow.domain.timers.next_due`) is changed in a unit of
work of its own, like any other command; a batch's units of work are saved by group
commit (one transaction, each lead's append atomic and conflict-checked on its own). A
lead that meets a conflict is re-read on its own and decided again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import structlog

from leadflow.domain.context import Context
from leadflow.domain.events import EVENT_TYPES
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.timers import next_due
from leadflow.errors import ConcurrencyConflict, InvalidInput, LeadflowError
from leadflow.service.deadlines import DeadlineIndex
from leadflow.service.store import LeadStore
from leadflow.service.unit_of_work import (
    CommandResult,
    RecordedEventRef,
    UnitOfWork,
    commit_each,
    unit_of_work,
)

__all__ = ["Progress", "SweepResult", "sweep"]

log = structlog.get_logger("leadflow.sweep")

BATCH = 500
"""Due leads read together and saved in one transaction."""

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total): ``indexing deadlines`` (log positions, only when the
index is rebuilt for a new pipeline), then ``sweeping`` (leads due)."""


@dataclass(frozen=True)
class SweepResult:
    now: datetime
    leads: int
    """Leads evaluated: those the deadline index had due at ``now``."""
    changed: int
    """Leads that recorded at least one event."""
    events: tuple[RecordedEventRef, ...]
    by_rule: dict[str, int] = field(default_factory=dict)
    """Events recorded per rule (the actor's ``system:<rule>``)."""
    failed: dict[UUID, str] = field(default_factory=dict)
    """Leads a rule could not be applied to, with the error (nothing was written)."""


def sweep(
    store: LeadStore,
    index: DeadlineIndex,
    now: datetime,
    *,
    progress: Progress | None = None,
) -> SweepResult:
    """Fire every time-driven rule due at or before ``now``, lead by lead.

    Deterministic and idempotent: sweeping again at the same ``now`` records nothing.
    """
    recorded_at = store.clock()
    if now.tzinfo is None:
        raise InvalidInput("now", "must include a UTC offset")
    if now > recorded_at:
        raise InvalidInput(
            "now", f"{now.isoformat()} is in the future (now is {recorded_at.isoformat()})"
        )
    pipeline = store.pipeline
    reloaded = index.refresh(pipeline, progress)
    roster = store.roster()

    def manager_of(rep: str) -> str | None:
        """A breach escalates to the first manager of the rep's team on the roster now."""
        managers = roster.managers_of(rep)
        return managers[0] if managers else None

    lead_ids = index.due(now)
    ctx = Context(actor="system:sweep", occurred_at=now, recorded_at=recorded_at)
    sweeper = _Sweeper(store, pipeline, ctx, manager_of)
    for start in range(0, len(lead_ids), BATCH):
        chunk = lead_ids[start : start + BATCH]
        for lead_id in sweeper.batch(chunk):
            sweeper.one(lead_id)
        if progress is not None:
            progress("sweeping", start + len(chunk), len(lead_ids))
    refs, failed, changed = sweeper.refs, sweeper.failed, len(sweeper.swept)
    if lead_ids:
        index.refresh(pipeline)  # this sweep's own events move the swept leads' deadlines
    by_rule = Counter(ref.actor.removeprefix("system:") for ref in refs)
    log.info(
        "sweep_finished",
        now=now.isoformat(),
        leads=len(lead_ids),
        changed=changed,
        events=len(refs),
        leads_reindexed=reloaded,
    )
    return SweepResult(now, len(lead_ids), changed, tuple(refs), dict(by_rule), failed)


@dataclass
class _Sweeper:
    """One sweep's leads: decided, saved, and what they recorded."""

    store: LeadStore
    pipeline: Pipeline
    ctx: Context
    manager_of: Callable[[str], str | None]
    refs: list[RecordedEventRef] = field(default_factory=list)
    failed: dict[UUID, str] = field(default_factory=dict)
    swept: list[Lead] = field(default_factory=list)
    """Held until the sweep's final refresh of the index, which then reuses them."""

    def batch(self, lead_ids: list[UUID]) -> list[UUID]:
        """Sweep these leads, read together and saved by group commit (each lead its own
        atomic, conflict-checked append, all in one transaction); returns the leads that
        met a conflict, to sweep again one by one on a fresh read."""
        leads = self.store.leads(lead_ids)
        batch: list[tuple[Lead, UnitOfWork]] = []
        for lead_id in lead_ids:
            lead = leads.get(lead_id)
            if lead is None:
                continue
            uow = UnitOfWork(self.store, "sweep", self.ctx, self.pipeline)
            if self._decide(uow.loaded(lead)):
                batch.append((lead, uow))
        outcomes = commit_each(self.store, [uow for _, uow in batch])
        retry = []
        for (lead, _), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, ConcurrencyConflict):
                log.info("sweep_conflict_retried", lead_id=str(lead.id), attempt=1)
                retry.append(lead.id)
            else:
                self._done(lead, outcome)
        return retry

    def one(self, lead_id: UUID) -> None:
        """Sweep one lead in a unit of work of its own, re-read on each conflict."""
        for attempt in range(2, 5):
            try:
                with unit_of_work(self.store, "sweep", self.ctx, self.pipeline) as uow:
                    lead = uow.lead(lead_id)
                    if not self._decide(lead):
                        return
                    result = uow.commit()
            except ConcurrencyConflict:
                log.info("sweep_conflict_retried", lead_id=str(lead_id), attempt=attempt)
                continue
            except LeadflowError as exc:
                self._fail(lead_id, exc)
                return
            self._done(lead, result)
            return

    def _decide(self, lead: Lead) -> bool:
        """Fire the lead's due rules; False if nothing is due (any more) or a rule could
        not be applied."""
        if next_due(lead, self.pipeline, self.ctx.occurred_at) is None:
            return False  # swept by another process since the refresh
        try:
            lead.sweep(
                self.pipeline,
                self.ctx.occurred_at,
                self.ctx.recorded_at,
                manager_of=self.manager_of,
            )
        except LeadflowError as exc:
            self._fail(lead.id, exc)
            return False
        return True

    def _fail(self, lead_id: UUID, exc: LeadflowError) -> None:
        self.failed[lead_id] = str(exc)
        log.warning("sweep_rule_failed", lead_id=str(lead_id), error=str(exc))

    def _done(self, lead: Lead, result: CommandResult) -> None:
        self.swept.append(lead)
        # Lead events only: the roster's LoadChanged bookkeeping saved alongside is not
        # a rule's decision.
        self.refs.extend(ref for ref in result.events if ref.type in EVENT_TYPES)
