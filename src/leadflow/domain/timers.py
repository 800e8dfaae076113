"""Time-driven rules: decay, no follow-up, hand-off and stage SLAs, stalled stages.

:func:`next_due` is a pure function of a lead's state, the pipeline and an instant:
the earliest deadline at or before that instant whose rule has not fired yet.
:func:`fire_due` records each decision on the lead, which changes its state so that the
same deadline is never due again: that is what makes a sweep idempotent. Ties are broken
by the order of :data:`RULE_ORDER`. :func:`record_late_breach` records a hand-off SLA
breach that no sweep caught before the hand-off was answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from leadflow.domain.automation import settle
from leadflow.domain.context import Context
from leadflow.domain.durations import span
from leadflow.domain.events import (
    FollowUpDue,
    FollowUpDueData,
    HandOffEscalated,
    HandOffEscalatedData,
    LeadReleased,
    ReleasedData,
    SlaBreached,
    SlaBreachedData,
)
from leadflow.domain.pipeline import Pipeline, StalledRule
from leadflow.domain.scoring import ScoreChange, decay_due
from leadflow.errors import PipelineInvalid

if TYPE_CHECKING:
    from leadflow.domain.lead import Lead

__all__ = [
    "MAX_SWEEP_STEPS",
    "RULE_ORDER",
    "Due",
    "DueKind",
    "Reminder",
    "fire_due",
    "next_deadline",
    "next_due",
    "record_late_breach",
    "upcoming",
]

MAX_SWEEP_STEPS = 1000
"""A lead that still has something due after this many decisions is a loop in the rules."""

ManagerOf = Callable[[str], "str | None"]


class DueKind(StrEnum):
    HANDOFF_SLA = "handoff_sla"
    STAGE_SLA = "stage_sla"
    NO_FOLLOW_UP = "no_follow_up"
    STALLED = "stalled"
    DECAY = "decay"
    REMINDER = "reminder"


RULE_ORDER = tuple(DueKind)


@dataclass(frozen=True)
class Due:
    """A time-driven rule due to fire for the deadline ``due_at``."""

    kind: DueKind
    rule: str
    due_at: datetime
    decay: ScoreChange | None = None
    stalled: StalledRule | None = None
    reminder: Reminder | None = None


@dataclass(frozen=True)
class Reminder:
    """What a ``FollowUpDue`` warns of: a deadline of another rule, and who must act."""

    deadline: DueKind
    deadline_at: datetime
    rep: str | None


def next_due(lead: Lead, pipeline: Pipeline, now: datetime) -> Due | None:
    """The earliest rule due at or before ``now`` for this lead, or ``None``."""
    if lead.merged_into is not None or lead.erased:
        return None
    candidates = [due for due in _all_due(lead, pipeline, now) if due.due_at <= now]
    if not candidates:
        return None
    return min(candidates, key=lambda due: (due.due_at, RULE_ORDER.index(due.kind)))


def next_deadline(lead: Lead, pipeline: Pipeline) -> datetime | None:
    """The earliest deadline of a rule that has not fired yet, whenever it is; ``None``
    when no rule will ever be due without a new event on the lead.

    What the deadline index stores for each lead: ``next_due(lead, pipeline, now)`` is not
    ``None`` exactly when this is at or before ``now`` (a property test checks it), so a
    sweep need look only at the leads whose deadline has passed.
    """
    if lead.merged_into is not None or lead.erased:
        return None
    found = _all_due(lead, pipeline, datetime.max.replace(tzinfo=UTC))
    return min((due.due_at for due in found), default=None)


def _all_due(lead: Lead, pipeline: Pipeline, now: datetime) -> list[Due]:
    found = _deadlines(lead, pipeline, now)
    return found + _reminders(lead, pipeline, found)


def _reminders(lead: Lead, pipeline: Pipeline, deadlines: list[Due]) -> list[Due]:
    """A reminder ``remind_before`` each deadline that has one configured, once each."""
    found = []
    for due in deadlines:
        before = None
        if due.kind is DueKind.NO_FOLLOW_UP and pipeline.recycling.no_follow_up is not None:
            before = pipeline.recycling.no_follow_up.remind_before
        elif due.kind is DueKind.STAGE_SLA:
            before = pipeline.stages[lead.stage].sla_remind_before
        elif due.kind is DueKind.HANDOFF_SLA and pipeline.sla.handoff is not None:
            before = pipeline.sla.handoff.remind_before
        if before is None or lead.reminded_for.get(due.kind.value) == due.due_at:
            continue
        reminder = Reminder(due.kind, due.due_at, _who_acts(lead, due.kind))
        found.append(Due(DueKind.REMINDER, due.rule, due.due_at - before, reminder=reminder))
    return found


def upcoming(lead: Lead, pipeline: Pipeline, now: datetime) -> list[Reminder]:
    """The deadlines a reminder was recorded for that are still ahead (``leadflow
    reminders``): the lead is as it was when reminded, and the rule has not fired."""
    if lead.merged_into is not None or lead.erased:
        return []
    pending = []
    for due in _deadlines(lead, pipeline, now):
        if lead.reminded_for.get(due.kind.value) == due.due_at and due.due_at > now:
            pending.append(Reminder(due.kind, due.due_at, _who_acts(lead, due.kind)))
    return pending


def _who_acts(lead: Lead, kind: DueKind) -> str | None:
    """A hand-off waits on the rep it is addressed to; anything else on the owner."""
    if kind is DueKind.HANDOFF_SLA and lead.handoff is not None:
        return lead.handoff.to_owner
    return lead.owner


def _deadlines(lead: Lead, pipeline: Pipeline, now: datetime) -> list[Due]:
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


def fire_due(
    lead: Lead,
    pipeline: Pipeline,
    now: datetime,
    recorded_at: datetime,
    *,
    manager_of: ManagerOf | None = None,
) -> None:
    """Fire every time-driven rule due at or before ``now``, earliest deadline first.

    Each decision happens at its deadline (``occurred_at``), or at the lead's latest
    event if that is later: a lead's events never go back in time. After this, no
    rule is due at or before ``now``, so sweeping again records nothing.
    ``manager_of(rep)`` names whom a breach is escalated to (a team directory);
    without it, or when it knows no manager, the SLA rule's ``escalate_to``.
    """
    for _ in range(MAX_SWEEP_STEPS):
        due = next_due(lead, pipeline, now)
        if due is None:
            return
        at = due.due_at
        if lead.last_occurred_at is not None and lead.last_occurred_at > at:
            at = lead.last_occurred_at
        ctx = Context(actor=f"system:{due.rule}", occurred_at=at, recorded_at=recorded_at)
        _fire(lead, due, pipeline, ctx, manager_of)
    raise PipelineInvalid([("recycling", f"more than {MAX_SWEEP_STEPS} steps for one lead")])


def _fire(
    lead: Lead, due: Due, pipeline: Pipeline, ctx: Context, manager_of: ManagerOf | None
) -> None:
    version = pipeline.version
    match due.kind:
        case DueKind.DECAY:
            assert due.decay is not None
            settle(lead, pipeline, ctx, [lead.apply_score(due.decay, pipeline, ctx, None)])
        case DueKind.NO_FOLLOW_UP:
            rule = pipeline.recycling.no_follow_up
            assert rule is not None
            assert lead.owner is not None
            released = ReleasedData(
                previous_owner=lead.owner,
                reason=f"no follow-up within {span(rule.after)} of assignment",
                rule=due.rule,
                pipeline_version=version,
                due_at=due.due_at,
            )
            lead.record(LeadReleased, released, ctx, pipeline)
        case DueKind.HANDOFF_SLA:
            sla = pipeline.sla.handoff
            assert sla is not None
            assert lead.handoff is not None
            breach = SlaBreachedData(
                sla="handoff",
                owner=lead.handoff.to_owner,
                rule=due.rule,
                pipeline_version=version,
                due_at=due.due_at,
            )
            lead.record(SlaBreached, breach, ctx, pipeline)
            if lead.handoff is None:
                return  # an automation rule settled the hand-off
            owner = lead.handoff.to_owner
            manager = manager_of(owner) if manager_of is not None else None
            reassign = sla.reassign_to
            if reassign == lead.handoff.to_owner:
                reassign = None
            escalation = HandOffEscalatedData(
                to=manager or sla.escalate_to,
                reassigned_to=reassign,
                sla_due=ctx.occurred_at + pipeline.handoff_sla if reassign else None,
                rule=due.rule,
                pipeline_version=version,
                due_at=due.due_at,
            )
            lead.record(HandOffEscalated, escalation, ctx, pipeline)
        case DueKind.STAGE_SLA:
            breach = SlaBreachedData(
                sla=f"stage:{lead.stage}",
                owner=lead.owner,
                rule=due.rule,
                pipeline_version=version,
                due_at=due.due_at,
            )
            lead.record(SlaBreached, breach, ctx, pipeline)
        case DueKind.REMINDER:
            reminder = due.reminder
            assert reminder is not None
            data = FollowUpDueData(
                deadline=reminder.deadline.value,
                rep=reminder.rep,
                deadline_at=reminder.deadline_at,
                rule=due.rule,
                pipeline_version=version,
                due_at=due.due_at,
            )
            lead.record(FollowUpDue, data, ctx, pipeline)
        case DueKind.STALLED:
            stalled = due.stalled
            assert stalled is not None
            reason = f"no activity in stage {stalled.stage} for {span(stalled.after)}"
            moves = lead.recycle(
                due.rule, reason, stalled.to_stage, stalled.to_status, pipeline, ctx, due.due_at
            )
            settle(lead, pipeline, ctx, moves)


def record_late_breach(lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
    """An answer after the hand-off's SLA deadline that no sweep caught yet: the breach is
    recorded first, at its deadline, so breaches do not depend on when sweeps ran. Not
    escalated: the hand-off is being answered."""
    sla, handoff = pipeline.sla.handoff, lead.handoff
    if (
        sla is None
        or handoff is None
        or handoff.sla_due is None
        or handoff.breached_for == handoff.sla_due
        or ctx.occurred_at <= handoff.sla_due
    ):
        return
    at = handoff.sla_due
    if lead.last_occurred_at is not None and lead.last_occurred_at > at:
        at = lead.last_occurred_at
    data = SlaBreachedData(
        sla="handoff",
        owner=handoff.to_owner,
        rule=sla.id,
        pipeline_version=pipeline.version,
        due_at=handoff.sla_due,
    )
    lead.record(SlaBreached, data, replace(ctx.as_rule(sla.id), occurred_at=at), pipeline)
