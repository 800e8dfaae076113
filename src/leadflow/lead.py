"""The lead aggregate: its state is only ever derived from its events.

Command methods check the lead's invariants and the pipeline's rules, then record
events through :meth:`Lead._trigger`, which applies each event with the same
:meth:`Lead.evolve` used to rebuild the lead from the log. After each event the
pipeline's automation rules run; each change they make is an event of its own,
whose actor is ``system:<rule id>``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from leadflow.errors import InvalidInput, PipelineInvalid
from leadflow.events import (
    ActivityCategory,
    ActivityKind,
    ActivityRecorded,
    ActivityRecordedData,
    AssignedData,
    CapturedData,
    ClaimedData,
    ConvertedData,
    DealLost,
    DealWon,
    DealWonData,
    DuplicateMerged,
    DuplicateMergedData,
    ErasedData,
    HandedOffData,
    HandOffAccepted,
    HandOffAcceptedData,
    HandOffRejected,
    HandOffRejectedData,
    LeadAssigned,
    LeadCaptured,
    LeadChurned,
    LeadClaimed,
    LeadConverted,
    LeadDisqualified,
    LeadEvent,
    LeadHandedOff,
    LeadMerged,
    LeadReleased,
    LeadScored,
    MergedData,
    Payload,
    PersonalDataErased,
    ProfileUpdated,
    ProfileUpdatedData,
    ReasonData,
    ReleasedData,
    ScoredData,
    StageChanged,
    StageChangedData,
    StatusChanged,
    StatusChangedData,
)
from leadflow.pipeline import AutomationRule, Pipeline

__all__ = ["PROFILE_FIELDS", "Context", "HandOff", "Lead"]

PROFILE_FIELDS = ("email", "phone", "wechat", "name", "company", "source", "campaign")
PERSONAL_FIELDS = ("email", "phone", "wechat", "name")
MAX_AUTOMATION_STEPS = 20

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class Context:
    """Who acts, and when: business time (``occurred_at``) and recording time."""

    actor: str
    occurred_at: datetime
    recorded_at: datetime

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise InvalidInput("actor", "must not be empty")
        for name in ("occurred_at", "recorded_at"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                raise InvalidInput(name, "must include a UTC offset")
        if self.occurred_at > self.recorded_at:
            raise InvalidInput(
                "occurred_at",
                f"{self.occurred_at.isoformat()} is in the future "
                f"(now is {self.recorded_at.isoformat()})",
            )

    def as_rule(self, rule_id: str) -> Context:
        return replace(self, actor=f"system:{rule_id}")


@dataclass(frozen=True)
class HandOff:
    from_owner: str | None
    to_owner: str
    at: datetime
    sla_due: datetime | None


@dataclass(eq=False)
class Lead:
    """A lead's current state. Build it with :meth:`capture` or from its events."""

    id: UUID
    version: int = 0
    stage: str = ""
    status: str = ""
    owner: str | None = None
    email: str | None = None
    phone: str | None = None
    wechat: str | None = None
    name: str | None = None
    company: str | None = None
    source: str | None = None
    campaign: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    score: float = 0.0
    captured_at: datetime | None = None
    last_occurred_at: datetime | None = None
    last_activity_at: datetime | None = None
    last_follow_up_at: datetime | None = None
    owned_since: datetime | None = None
    stage_entered_at: datetime | None = None
    handoff: HandOff | None = None
    merged_into: UUID | None = None
    merged_leads: list[UUID] = field(default_factory=list)
    erased: bool = False
    pipeline_version: str | None = None
    _pending: list[LeadEvent[Any]] = field(default_factory=list, repr=False)

    # -- eventsourcing's aggregate protocol --------------------------------------------

    def collect_events(self) -> list[LeadEvent[Any]]:
        events, self._pending = self._pending, []
        return events

    def __deepcopy__(self, memo: dict[int, Any]) -> Lead:
        """A copy for a command to change (the aggregate cache hands these out)."""
        copied = copy.copy(self)
        copied.attributes = dict(self.attributes)
        copied.merged_leads = list(self.merged_leads)
        copied._pending = []
        return copied

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lead):
            return NotImplemented
        mine = {k: v for k, v in vars(self).items() if k != "_pending"}
        theirs = {k: v for k, v in vars(other).items() if k != "_pending"}
        return mine == theirs

    # -- state evolution: the only place state changes -----------------------------------

    @staticmethod
    def evolve(lead: Lead | None, event: LeadEvent[Any]) -> Lead:
        if lead is None:
            if not isinstance(event, LeadCaptured):
                raise ValueError(f"the first event of a lead must be LeadCaptured, not {event}")
            lead = Lead(id=event.originator_id)
        if event.originator_id != lead.id:
            raise ValueError(f"event for lead {event.originator_id} applied to lead {lead.id}")
        if event.originator_version != lead.version + 1:
            raise ValueError(
                f"event version {event.originator_version} does not follow {lead.version}"
            )
        lead._apply(event)
        lead.version = event.originator_version
        lead.last_occurred_at = event.occurred_at
        return lead

    def _apply(self, event: LeadEvent[Any]) -> None:
        at = event.occurred_at
        d: Any = event.data
        match event:
            case LeadCaptured():
                self.stage, self.status = d.stage, d.status
                self.email, self.phone, self.wechat = d.email, d.phone, d.wechat
                self.name, self.company = d.name, d.company
                self.source, self.campaign = d.source, d.campaign
                self.attributes = dict(d.attributes)
                self.captured_at = self.stage_entered_at = at
                self.pipeline_version = d.pipeline_version
            case ProfileUpdated():
                for key, value in d.changes.items():
                    if key.startswith("attributes."):
                        name = key.removeprefix("attributes.")
                        if value is None:
                            self.attributes.pop(name, None)
                        else:
                            self.attributes[name] = value
                    else:
                        setattr(self, key, value)
            case ActivityRecorded():
                self.last_activity_at = at
                if d.category == ActivityCategory.FOLLOW_UP:
                    self.last_follow_up_at = at
            case LeadScored():
                self.score = d.score
            case StageChanged():
                self.stage = d.stage
                self.stage_entered_at = at
                self.pipeline_version = d.pipeline_version
            case StatusChanged():
                self.status = d.status
            case LeadAssigned() | LeadClaimed():
                self.owner = d.owner
                self.owned_since = at
            case LeadReleased():
                self.owner = None
                self.owned_since = None
            case LeadHandedOff():
                self.handoff = HandOff(d.from_owner, d.to_owner, at, d.sla_due)
            case HandOffAccepted():
                assert self.handoff is not None
                self.owner = self.handoff.to_owner
                self.owned_since = at
                self.handoff = None
            case HandOffRejected():
                self.handoff = None
            case LeadMerged():
                self.merged_into = d.into_lead_id
            case DuplicateMerged():
                self.merged_leads.append(d.merged_lead_id)
            case PersonalDataErased():
                for name in d.fields:
                    if name.startswith("attributes."):
                        self.attributes.pop(name.removeprefix("attributes."), None)
                    else:
                        setattr(self, name, None)
                self.erased = True
            case LeadConverted() | DealWon() | DealLost() | LeadChurned() | LeadDisqualified():
                pass  # business facts; their stage effects are automation events
            case _:
                raise TypeError(f"no state change defined for {type(event).__name__}")

    def _trigger(
        self,
        event_class: type[LeadEvent[P]],
        data: P,
        ctx: Context,
    ) -> LeadEvent[P]:
        if self.last_occurred_at is not None and ctx.occurred_at < self.last_occurred_at:
            raise InvalidInput(
                "occurred_at",
                f"{ctx.occurred_at.isoformat()} is before this lead's latest event "
                f"({self.last_occurred_at.isoformat()}); events of a lead cannot be "
                "backdated past each other",
            )
        event = event_class(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=ctx.recorded_at,
            occurred_at=ctx.occurred_at,
            actor=ctx.actor,
            data=data,
        )
        Lead.evolve(self, event)
        self._pending.append(event)
        return event

    # -- commands ---------------------------------------------------------------------------

    @classmethod
    def capture(
        cls,
        lead_id: UUID,
        pipeline: Pipeline,
        ctx: Context,
        *,
        stage: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        wechat: str | None = None,
        name: str | None = None,
        company: str | None = None,
        source: str | None = None,
        campaign: str | None = None,
        attributes: dict[str, str] | None = None,
    ) -> Lead:
        """A new lead; contact details must already be normalised (see ``commands``)."""
        stage = stage or pipeline.entry_stages[0]
        if stage not in pipeline.entry_stages:
            raise InvalidInput(
                "stage",
                f"{stage!r} is not an entry stage; leads are captured into: "
                + ", ".join(pipeline.entry_stages),
            )
        lead = cls(id=lead_id)
        data = CapturedData(
            stage=stage,
            status=pipeline.initial_status,
            email=email,
            phone=phone,
            wechat=wechat,
            name=name,
            company=company,
            source=source,
            campaign=campaign,
            attributes=dict(attributes or {}),
            pipeline_version=pipeline.version,
        )
        lead._record(LeadCaptured, data, ctx, pipeline)
        return lead

    def update_profile(
        self, changes: dict[str, str | None], pipeline: Pipeline, ctx: Context
    ) -> None:
        self._check_open()
        for key in changes:
            if key not in PROFILE_FIELDS and not key.startswith("attributes."):
                raise InvalidInput(
                    f"changes.{key}",
                    "unknown profile field; use one of "
                    + ", ".join(PROFILE_FIELDS)
                    + " or attributes.<name>",
                )
        effective = {k: v for k, v in changes.items() if self._profile_value(k) != v}
        if effective:
            self._record(ProfileUpdated, ProfileUpdatedData(changes=effective), ctx, pipeline)

    def _profile_value(self, key: str) -> str | None:
        if key.startswith("attributes."):
            return self.attributes.get(key.removeprefix("attributes."))
        value: str | None = getattr(self, key)
        return value

    def record_activity(
        self,
        activity: ActivityKind,
        pipeline: Pipeline,
        ctx: Context,
        *,
        detail: str | None = None,
        ref: str | None = None,
    ) -> None:
        self._check_open()
        data = ActivityRecordedData(
            activity=activity, category=activity.category, detail=detail, ref=ref
        )
        self._record(ActivityRecorded, data, ctx, pipeline)

    def set_score(
        self, score: float, reason: str, pipeline: Pipeline, ctx: Context, rule: str | None = None
    ) -> None:
        self._check_open()
        data = ScoredData(
            score=score,
            delta=score - self.score,
            reason=reason,
            rule=rule,
            pipeline_version=pipeline.version,
        )
        self._record(LeadScored, data, ctx, pipeline)

    def change_stage(
        self, stage: str, pipeline: Pipeline, ctx: Context, *, reason: str | None = None
    ) -> None:
        self._check_open()
        if stage not in pipeline.stages:
            raise InvalidInput(
                "stage", f"unknown stage {stage!r}; stages: {', '.join(pipeline.stages)}"
            )
        if stage == self.stage:
            raise InvalidInput("stage", f"the lead is already in stage {stage!r}")
        self._move_to_stage(stage, pipeline, ctx, reason=reason, rule=None)
        self._automate(pipeline, ctx)

    def _move_to_stage(
        self, stage: str, pipeline: Pipeline, ctx: Context, *, reason: str | None, rule: str | None
    ) -> LeadEvent[Any]:
        kind = pipeline.transition_kind(self.stage, stage, rule)
        data = StageChangedData(
            from_stage=self.stage,
            stage=stage,
            kind=kind,
            reason=reason,
            rule=rule,
            pipeline_version=pipeline.version,
        )
        return self._trigger(StageChanged, data, ctx)

    def change_status(
        self, status: str, pipeline: Pipeline, ctx: Context, *, reason: str | None = None
    ) -> None:
        self._check_open()
        if status == self.status:
            raise InvalidInput("status", f"the lead already has status {status!r}")
        self._set_status(status, pipeline, ctx, reason=reason, rule=None)
        self._automate(pipeline, ctx)

    def _set_status(
        self, status: str, pipeline: Pipeline, ctx: Context, *, reason: str | None, rule: str | None
    ) -> LeadEvent[Any]:
        pipeline.check_status(self.stage, self.status, status, rule)
        data = StatusChangedData(
            from_status=self.status,
            status=status,
            reason=reason,
            rule=rule,
            pipeline_version=pipeline.version,
        )
        return self._trigger(StatusChanged, data, ctx)

    def assign(
        self,
        owner: str,
        pipeline: Pipeline,
        ctx: Context,
        *,
        reason: str | None = None,
        rule: str | None = None,
    ) -> None:
        self._check_open()
        _require("owner", owner)
        if owner == self.owner:
            raise InvalidInput("owner", f"the lead is already owned by {owner!r}")
        data = AssignedData(
            owner=owner,
            previous_owner=self.owner,
            reason=reason,
            rule=rule,
            pipeline_version=pipeline.version,
        )
        self._record(LeadAssigned, data, ctx, pipeline)

    def claim(self, owner: str, pipeline: Pipeline, ctx: Context) -> None:
        self._check_open()
        _require("owner", owner)
        if self.owner is not None:
            raise InvalidInput(
                "lead_id", f"the lead is owned by {self.owner!r}; only pool leads can be claimed"
            )
        self._record(LeadClaimed, ClaimedData(owner=owner), ctx, pipeline)

    def release(
        self, reason: str, pipeline: Pipeline, ctx: Context, *, rule: str | None = None
    ) -> None:
        self._check_open()
        _require("reason", reason)
        if self.owner is None:
            raise InvalidInput("lead_id", "the lead is already in the public pool")
        data = ReleasedData(
            previous_owner=self.owner, reason=reason, rule=rule, pipeline_version=pipeline.version
        )
        self._record(LeadReleased, data, ctx, pipeline)

    def hand_off(
        self, to_owner: str, pipeline: Pipeline, ctx: Context, *, note: str | None = None
    ) -> None:
        self._check_open()
        _require("to_owner", to_owner)
        if self.handoff is not None:
            raise InvalidInput(
                "lead_id", f"a hand-off to {self.handoff.to_owner!r} is already pending"
            )
        data = HandedOffData(
            from_owner=self.owner,
            to_owner=to_owner,
            sla_due=ctx.occurred_at + pipeline.handoff_sla,
            note=note,
        )
        self._record(LeadHandedOff, data, ctx, pipeline)

    def accept_handoff(self, pipeline: Pipeline, ctx: Context) -> None:
        self._check_open()
        self._require_handoff()
        self._record(HandOffAccepted, HandOffAcceptedData(by=ctx.actor), ctx, pipeline)

    def reject_handoff(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        self._check_open()
        _require("reason", reason)
        self._require_handoff()
        self._record(
            HandOffRejected, HandOffRejectedData(by=ctx.actor, reason=reason), ctx, pipeline
        )

    def convert(
        self,
        target: str,
        account_ref: str,
        pipeline: Pipeline,
        ctx: Context,
        *,
        opportunity_ref: str | None = None,
        amount: float | None = None,
    ) -> None:
        self._check_open()
        _require("account_ref", account_ref)
        if target not in ("opportunity", "customer"):
            raise InvalidInput("target", f"{target!r} is not one of: opportunity, customer")
        data = ConvertedData(
            target=target,  # pydantic checks the literal
            account_ref=account_ref,
            opportunity_ref=opportunity_ref,
            amount=amount,
        )
        self._record(LeadConverted, data, ctx, pipeline)

    def win(
        self,
        pipeline: Pipeline,
        ctx: Context,
        *,
        amount: float | None = None,
        currency: str | None = None,
    ) -> None:
        self._check_open()
        self._record(DealWon, DealWonData(amount=amount, currency=currency), ctx, pipeline)

    def lose(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        self._reasoned(DealLost, reason, pipeline, ctx)

    def churn(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        self._reasoned(LeadChurned, reason, pipeline, ctx)

    def disqualify(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        self._reasoned(LeadDisqualified, reason, pipeline, ctx)

    def _reasoned(
        self,
        event_class: type[LeadEvent[ReasonData]],
        reason: str,
        pipeline: Pipeline,
        ctx: Context,
    ) -> None:
        self._check_open()
        _require("reason", reason)
        self._record(event_class, ReasonData(reason=reason), ctx, pipeline)

    def merge_into(self, survivor: Lead, pipeline: Pipeline, ctx: Context) -> None:
        """Merge this duplicate into ``survivor``: both leads record the merge."""
        self._check_open()
        survivor._check_open()
        if survivor.id == self.id:
            raise InvalidInput("into_lead_id", "a lead cannot be merged into itself")
        self._record(LeadMerged, MergedData(into_lead_id=survivor.id), ctx, pipeline)
        survivor._record(
            DuplicateMerged, DuplicateMergedData(merged_lead_id=self.id), ctx, pipeline
        )

    def erase_personal_data(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        _require("reason", reason)
        fields = [name for name in PERSONAL_FIELDS if getattr(self, name) is not None]
        self._record(PersonalDataErased, ErasedData(fields=fields, reason=reason), ctx, pipeline)

    # -- rules ------------------------------------------------------------------------------

    def _record(
        self, event_class: type[LeadEvent[P]], data: P, ctx: Context, pipeline: Pipeline
    ) -> None:
        # If automation refuses (an illegal automatic move), the error propagates and the
        # application discards this in-memory lead: a command is saved whole or not at all.
        self._trigger(event_class, data, ctx)
        self._automate(pipeline, ctx)

    def _automate(self, pipeline: Pipeline, ctx: Context) -> None:
        """Run automation after the latest event, and after each change it makes."""
        queue = [self._pending[-1]]
        steps = 0
        while queue:
            trigger = queue.pop(0)
            for rule in pipeline.automation:
                if not self._matches(rule, trigger):
                    continue
                steps += 1
                if steps > MAX_AUTOMATION_STEPS:
                    raise PipelineInvalid(
                        [(f"automation.{rule.id}", "automation rules trigger each other in a loop")]
                    )
                rule_ctx = ctx.as_rule(rule.id)
                reason = rule.description or f"automation rule {rule.id}"
                if rule.then.stage is not None and rule.then.stage != self.stage:
                    queue.append(
                        self._move_to_stage(
                            rule.then.stage, pipeline, rule_ctx, reason=reason, rule=rule.id
                        )
                    )
                if rule.then.status is not None and rule.then.status != self.status:
                    queue.append(
                        self._set_status(
                            rule.then.status, pipeline, rule_ctx, reason=reason, rule=rule.id
                        )
                    )

    def _matches(self, rule: AutomationRule, event: LeadEvent[Any]) -> bool:
        when = rule.when
        if when.event is not None and when.event != event.TYPE:
            return False
        if when.stage is not None and when.stage != self.stage:
            return False
        if when.status is not None and when.status != self.status:
            return False
        for key, expected in when.data.items():
            if getattr(event.data, key, None) != expected:
                return False
        wanted_stage, wanted_status = rule.then.stage, rule.then.status
        return (wanted_stage is not None and wanted_stage != self.stage) or (
            wanted_status is not None and wanted_status != self.status
        )

    def _check_open(self) -> None:
        if self.merged_into is not None:
            raise InvalidInput(
                "lead_id", f"lead {self.id} was merged into {self.merged_into}; use that lead"
            )
        if self.erased:
            raise InvalidInput("lead_id", f"lead {self.id}'s personal data was erased")

    def _require_handoff(self) -> None:
        if self.handoff is None:
            raise InvalidInput("lead_id", "the lead has no pending hand-off")


def _require(field_name: str, value: str) -> None:
    if not value or not value.strip():
        raise InvalidInput(field_name, "must not be empty")
