"""The sweep use case: fire every time-driven rule that is due (``leadflow sweep [--now T]``).

Which leads have a deadline due is a question about every open lead. Until a deadline
index exists as a read model, the sweep keeps :class:`LeadStates`, an in-memory fold of
every lead over the log that it brings up to date from its last position: the first sweep
of a process reads the whole log once (one sequential scan, no per-lead queries), later
sweeps in the same process read only what was recorded since. Each lead with something
due (:func:`leadflow.domain.timers.next_due`) is then changed in a unit of work of its
own, like any other command; a conflict re-reads that lead and decides again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import structlog

from leadflow.domain.context import Context
from leadflow.domain.events import EVENT_TYPES, LeadEvent
from leadflow.domain.lead import Lead
from leadflow.domain.timers import next_due
from leadflow.errors import ConcurrencyConflict, InvalidInput, LeadflowError
from leadflow.service.codec import LEAD_TOPICS
from leadflow.service.log_reader import notification_rows
from leadflow.service.store import LeadStore
from leadflow.service.unit_of_work import RecordedEventRef, unit_of_work

__all__ = ["LeadStates", "Progress", "SweepResult", "sweep"]

log = structlog.get_logger("leadflow.sweep")

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total): ``reading`` (log positions), then ``sweeping`` (leads)."""


@dataclass(frozen=True)
class SweepResult:
    now: datetime
    leads: int
    """Leads evaluated."""
    changed: int
    """Leads that recorded at least one event."""
    events: tuple[RecordedEventRef, ...]
    by_rule: dict[str, int] = field(default_factory=dict)
    """Events recorded per rule (the actor's ``system:<rule>``)."""
    failed: dict[UUID, str] = field(default_factory=dict)
    """Leads a rule could not be applied to, with the error (nothing was written)."""


class LeadStates:
    """Every lead's current state, folded from the log and kept up to date by position."""

    def __init__(self) -> None:
        self.leads: dict[UUID, Lead] = {}
        self.position = 0

    def catch_up(
        self, store: LeadStore, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        """Apply what was recorded since the last call; returns the number of events read."""
        read = 0
        end = store.max_position()
        select = notification_rows(store.recorder)
        while True:
            batch = select(
                start=self.position,
                limit=batch_size,
                topics=LEAD_TOPICS,
                inclusive_of_start=False,
            )
            if not batch:
                return read
            for notification in batch:
                event = store.mapper.to_domain_event(notification)
                assert isinstance(event, LeadEvent)
                lead = self.leads.get(event.originator_id)
                if lead is not None and event.originator_version <= lead.version:
                    continue  # recorded by this process's own sweep: already applied
                self.leads[event.originator_id] = Lead.evolve(lead, event)
            read += len(batch)
            self.position = batch[-1].id
            if progress is not None:
                progress("reading", min(self.position, end), end)


def sweep(
    store: LeadStore,
    states: LeadStates,
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
    read = states.catch_up(store, progress=progress)
    pipeline = store.pipeline
    roster = store.roster()

    def manager_of(rep: str) -> str | None:
        """A breach escalates to the first manager of the rep's team on the roster now."""
        managers = roster.managers_of(rep)
        return managers[0] if managers else None

    refs: list[RecordedEventRef] = []
    changed = 0
    failed: dict[UUID, str] = {}
    lead_ids = list(states.leads)
    ctx = Context(actor="system:sweep", occurred_at=now, recorded_at=recorded_at)
    for done, lead_id in enumerate(lead_ids, start=1):
        if progress is not None and (done % 500 == 0 or done == len(lead_ids)):
            progress("sweeping", done, len(lead_ids))
        if next_due(states.leads[lead_id], pipeline, now) is None:
            continue
        for attempt in range(1, 4):
            try:
                with unit_of_work(store, "sweep", ctx, pipeline) as uow:
                    lead = uow.lead(lead_id)
                    lead.sweep(pipeline, now, recorded_at, manager_of=manager_of)
                    result = uow.commit()
            except ConcurrencyConflict:
                log.info("sweep_conflict_retried", lead_id=str(lead_id), attempt=attempt)
                continue
            except LeadflowError as exc:
                failed[lead_id] = str(exc)
                log.warning("sweep_rule_failed", lead_id=str(lead_id), error=str(exc))
                break
            states.leads[lead_id] = lead
            # Lead events only: the roster's LoadChanged bookkeeping saved alongside is not
            # a rule's decision.
            refs.extend(ref for ref in result.events if ref.type in EVENT_TYPES)
            changed += 1
            break
    by_rule = Counter(ref.actor.removeprefix("system:") for ref in refs)
    log.info(
        "sweep_finished",
        now=now.isoformat(),
        leads=len(lead_ids),
        changed=changed,
        events=len(refs),
        log_events_read=read,
    )
    return SweepResult(now, len(lead_ids), changed, tuple(refs), dict(by_rule), failed)
