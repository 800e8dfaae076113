"""The sweep use case: fire every time-driven rule that is due (``leadflow sweep [--now T]``).

Which leads have a deadline due is answered by the deadline index
(:mod:`leadflow.service.deadlines`): one indexed range query over each lead's next
deadline, after the index has caught up with what was recorded since the last sweep. The
cost of a sweep grows with the leads changed since the last one and the leads due, not
with the leads stored. Each lead with something due
(:func:`leadflow.domain.timers.next_due`) is then changed in a unit of work of its own,
like any other command; a conflict re-reads that lead and decides again.
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
from leadflow.domain.timers import next_due
from leadflow.errors import ConcurrencyConflict, InvalidInput, LeadflowError
from leadflow.service.deadlines import DeadlineIndex
from leadflow.service.store import LeadStore
from leadflow.service.unit_of_work import RecordedEventRef, unit_of_work

__all__ = ["Progress", "SweepResult", "sweep"]

log = structlog.get_logger("leadflow.sweep")

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

    refs: list[RecordedEventRef] = []
    changed = 0
    failed: dict[UUID, str] = {}
    lead_ids = index.due(now)
    ctx = Context(actor="system:sweep", occurred_at=now, recorded_at=recorded_at)
    for done, lead_id in enumerate(lead_ids, start=1):
        if progress is not None and (done % 500 == 0 or done == len(lead_ids)):
            progress("sweeping", done, len(lead_ids))
        for attempt in range(1, 4):
            try:
                with unit_of_work(store, "sweep", ctx, pipeline) as uow:
                    lead = uow.lead(lead_id)
                    if next_due(lead, pipeline, now) is None:
                        break  # swept by another process since the refresh
                    lead.sweep(pipeline, now, recorded_at, manager_of=manager_of)
                    result = uow.commit()
            except ConcurrencyConflict:
                log.info("sweep_conflict_retried", lead_id=str(lead_id), attempt=attempt)
                continue
            except LeadflowError as exc:
                failed[lead_id] = str(exc)
                log.warning("sweep_rule_failed", lead_id=str(lead_id), error=str(exc))
                break
            # Lead events only: the roster's LoadChanged bookkeeping saved alongside is not
            # a rule's decision.
            refs.extend(ref for ref in result.events if ref.type in EVENT_TYPES)
            changed += 1
            break
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
