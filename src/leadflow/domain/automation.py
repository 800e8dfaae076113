"""What follows an event on its own: the policies' reactions and the pipeline's automation.

After each event a command records, :func:`settle` runs, in order, until nothing more
follows:

1. the policies react to the event (:func:`reactions`): scoring rules score a capture, a
   profile change or an activity; a score that crosses the MQL threshold promotes the lead;
   BANT answers that meet the rule qualify it; a rejected hand-off is recycled;
2. the pipeline's ``[[automation]]`` rules whose ``when`` holds (:func:`rule_applies`)
   move the stage or status.

Each change is an event of its own (actor ``system:<rule>``), and is itself followed up the
same way. A chain longer than :data:`MAX_AUTOMATION_STEPS` is a loop in the pipeline's rules
and is refused: the command records nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leadflow.domain.context import Context
from leadflow.domain.events import (
    ActivityRecorded,
    HandOffRejected,
    LeadCaptured,
    LeadEvent,
    LeadScored,
    ProfileUpdated,
    QualificationRecorded,
)
from leadflow.domain.pipeline import AutomationRule, Pipeline
from leadflow.domain.scoring import (
    ScoreChange,
    bant_decision,
    behaviour_changes,
    crosses_mql,
    profile_changes,
)
from leadflow.errors import PipelineInvalid

if TYPE_CHECKING:
    from leadflow.domain.lead import Lead

__all__ = ["MAX_AUTOMATION_STEPS", "reactions", "rule_applies", "settle"]

MAX_AUTOMATION_STEPS = 20


def settle(
    lead: Lead, pipeline: Pipeline, ctx: Context, triggers: list[LeadEvent[Any]] | None = None
) -> None:
    """Run the policies and automation after the lead's latest event (or ``triggers``),
    and after each change they make. Policies react first."""
    queue = list(triggers) if triggers is not None else [lead.pending_events[-1]]
    steps = 0
    while queue:
        trigger = queue.pop(0)
        queue.extend(reactions(lead, trigger, pipeline, ctx))
        for rule in pipeline.automation:
            if not rule_applies(rule, lead, trigger):
                continue
            steps += 1
            if steps > MAX_AUTOMATION_STEPS:
                raise PipelineInvalid(
                    [(f"automation.{rule.id}", "automation rules trigger each other in a loop")]
                )
            rule_ctx = ctx.as_rule(rule.id)
            reason = rule.description or f"automation rule {rule.id}"
            if rule.then.stage is not None and rule.then.stage != lead.stage:
                queue.append(
                    lead.move_to_stage(
                        rule.then.stage, pipeline, rule_ctx, reason=reason, rule=rule.id
                    )
                )
            if rule.then.status is not None and rule.then.status != lead.status:
                queue.append(
                    lead.set_status(
                        rule.then.status, pipeline, rule_ctx, reason=reason, rule=rule.id
                    )
                )


def reactions(
    lead: Lead, trigger: LeadEvent[Any], pipeline: Pipeline, ctx: Context
) -> list[LeadEvent[Any]]:
    """The scoring and recycling policies' events in response to ``trigger``."""
    scoring = pipeline.scoring
    cause = trigger.originator_version
    changes: list[ScoreChange] = []
    events: list[LeadEvent[Any]] = []
    match trigger:
        case LeadCaptured() | ProfileUpdated():
            changes = profile_changes(lead, scoring)
        case ActivityRecorded():
            changes = behaviour_changes(lead, trigger.data.activity, trigger.occurred_at, scoring)
        case LeadScored() if scoring.mql is not None:
            mql = scoring.mql
            before = trigger.data.score - trigger.data.delta
            if crosses_mql(mql, lead.stage, before, trigger.data.score):
                reason = f"score {trigger.data.score:g} reached the MQL threshold {mql.threshold:g}"
                events.append(
                    lead.move_to_stage(
                        mql.stage, pipeline, ctx.as_rule(mql.id), reason=reason, rule=mql.id
                    )
                )
        case QualificationRecorded() if scoring.bant is not None:
            bant = scoring.bant
            reason_text = bant_decision(bant, lead.stage, lead.status, lead.bant)
            if reason_text is not None:
                events.append(
                    lead.set_status(
                        bant.status,
                        pipeline,
                        ctx.as_rule(bant.id),
                        reason=reason_text,
                        rule=bant.id,
                    )
                )
        case HandOffRejected() if pipeline.recycling.on_rejection is not None:
            recycle = pipeline.recycling.on_rejection
            events.extend(
                lead.recycle(
                    recycle.id,
                    trigger.data.reason,
                    recycle.to_stage,
                    recycle.to_status,
                    pipeline,
                    ctx,
                    None,
                )
            )
        case _:
            pass
    events.extend(lead.apply_score(change, pipeline, ctx, cause) for change in changes)
    return events


def rule_applies(rule: AutomationRule, lead: Lead, event: LeadEvent[Any]) -> bool:
    """Whether an automation rule's ``when`` holds after ``event`` and its ``then`` would
    change something (a rule that would change nothing does not fire)."""
    when = rule.when
    if when.event is not None and when.event != event.TYPE:
        return False
    if when.stage is not None and when.stage != lead.stage:
        return False
    if when.status is not None and when.status != lead.status:
        return False
    for key, expected in when.data.items():
        if getattr(event.data, key, None) != expected:
            return False
    wanted_stage, wanted_status = rule.then.stage, rule.then.status
    return (wanted_stage is not None and wanted_stage != lead.stage) or (
        wanted_status is not None and wanted_status != lead.status
    )
