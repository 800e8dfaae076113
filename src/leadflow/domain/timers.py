"""Time-driven rules: decay, no follow-up, hand-off and stage SLAs, stalled stages.

:func:`next_due` is a pure function of a lead's state, the pipeline and an instant:
the earliest deadline at or before that instant whose rule has not fired yet. The
lead records the decision (see :meth:`leadflow.lead.Lead.sweep`), which changes its
state so that the same deadline is never due again: that is what makes a sweep
idempotent. Ties are broken by the order of :data:`RULE_ORDER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from leadflow.domain.pipeline import Pipeline, StalledRule
from leadflow.domain.scoring import ScoreChange, decay_due

if TYPE_CHECKING:
    from leadflow.domain.lead import Lead

__all__ = ["RULE_ORDER", "Due", "DueKind", "next_due"]


class DueKind(StrEnum):
    HANDOFF_SLA = "handoff_sla"
    STAGE_SLA = "stage_sla"
    NO_FOLLOW_UP = "no_follow_up"
    STALLED = "stalled"
    DECAY = "decay"


RULE_ORDER = tuple(DueKind)


@dataclass(frozen=True)
class Due:
    """A time-driven rule due to fire for the deadline ``due_at``."""

    kind: DueKind
    rule: str
    due_at: datetime
    decay: ScoreChange | None = None
    stalled: StalledRule | None = None


def next_due(lead: Lead, pipeline: Pipeline, now: datetime) -> Due | None:
    """The earliest rule due at or before ``now`` for this lead, or ``None``."""
    if lead.merged_into is not None or lead.erased:
        return None
    candidates = [due for due in _all_due(lead, pipeline, now) if due.due_at <= now]
    if not candidates:
        return None
    return min(candidates, key=lambda due: (due.due_at, RULE_ORDER.index(due.kind)))


def _all_due(lead: Lead, pipeline: Pipeline, now: datetime) -> list[Due]:
    found = []
    sla = pipeline.sla.handoff
    handoff = lead.handoff
    if (
        sla is not None
        and handoff is not None
        and handoff.sla_due is not None
        and handoff.breached_for != handoff.sla_due
    ):
        found.append(Due(DueKind.HANDOFF_SLA, sla.id, handoff.sla_due))
    watch = pipeline.sla.stage
    if watch is not None and lead.stage in pipeline.stages and lead.stage_entered_at is not None:
        limit = pipeline.stages[lead.stage].sla
        if limit is not None and (watch.stages is None or lead.stage in watch.stages):
            deadline = lead.stage_entered_at + limit
            if lead.stage_breached_for != deadline:
                found.append(Due(DueKind.STAGE_SLA, watch.id, deadline))
    follow = pipeline.recycling.no_follow_up
    if (
        follow is not None
        and lead.owner is not None
        and lead.owned_since is not None
        and lead.handoff is None  # handing off is acting on the lead
        and (follow.stages is None or lead.stage in follow.stages)
        and (lead.last_follow_up_at is None or lead.last_follow_up_at < lead.owned_since)
    ):
        found.append(Due(DueKind.NO_FOLLOW_UP, follow.id, lead.owned_since + follow.after))
    for stalled in pipeline.recycling.stalled:
        if lead.stage != stalled.stage or lead.stage_entered_at is None:
            continue
        quiet_since = lead.stage_entered_at
        if lead.last_activity_at is not None and lead.last_activity_at > quiet_since:
            quiet_since = lead.last_activity_at
        found.append(Due(DueKind.STALLED, stalled.id, quiet_since + stalled.after, stalled=stalled))
    decay = decay_due(lead, pipeline.scoring, now)
    if decay is not None:
        assert decay.due_at is not None
        found.append(Due(DueKind.DECAY, decay.rule, decay.due_at, decay=decay))
    return found
