"""The lead aggregate: its state is only ever derived from its events.

Command methods check the lead's invariants and the pipeline's rules, then record
events through :meth:`Lead.record`, which applies each event with the same ``_apply`` used
to rebuild the lead from the log (:mod:`leadflow.domain.aggregate`). What follows an event
on its own (scoring, MQL promotion, BANT, automation rules) is
:mod:`leadflow.domain.automation`; what fires when time passes is
:mod:`leadflow.domain.timers`. Each automatic change is an event of its own, whose actor
is ``system:<rule id>``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from leadflow.domain.aggregate import Aggregate
from leadflow.domain.automation import settle
from leadflow.domain.context import Context
from leadflow.domain.durations import span
from leadflow.domain.events import (
    ActivityCategory,
    ActivityKind,
    ActivityRecorded,
    ActivityRecordedData,
    AssignedData,
    CandidateLoad,
    CapturedData,
    ClaimedData,
    ConvertedData,
    DealLost,
    DealWon,
    DealWonData,
    DuplicateMerged,
    DuplicateMergedData,
    DuplicateUnmerged,
    DuplicateUnmergedData,
    ErasedData,
    FollowUpDue,
    HandedOffData,
    HandOffAccepted,
    HandOffAcceptedData,
    HandOffEscalated,
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
    LeadRecycled,
    LeadReleased,
    LeadScored,
    LeadUnmerged,
    MergedData,
    MigratedData,
    Payload,
    PersonalDataErased,
    ProfileUpdated,
    ProfileUpdatedData,
    QualificationRecorded,
    QualificationRecordedData,
    ReasonData,
    RecycledData,
    ReleasedData,
    ScoredData,
    ScoreKind,
    SlaBreached,
    StageChanged,
    StageChangedData,
    StatusChanged,
    StatusChangedData,
    TouchData,
    TouchRecorded,
    UnmergedData,
)
from leadflow.domain.ownership import in_pool
from leadflow.domain.personal_data import ERASED, LEAD_FIELDS, lead_personal_fields
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.scoring import (
    BANT_CRITERIA,
    ScoreChange,
    bounded,
)
from leadflow.domain.timers import fire_due, record_late_breach
from leadflow.errors import InvalidInput

__all__ = ["OWNER_FIELDS", "PROFILE_FIELDS", "HandOff", "Lead", "merged_into_person", "survivor_of"]

PROFILE_FIELDS = ("email", "phone", "wechat", "name", "company", "source", "campaign")
CONTACT_KINDS = ("email", "phone", "wechat")
OWNER_FIELDS = {
    "LeadAssigned": "owner",
    "LeadClaimed": "owner",
    "LeadHandedOff": "to_owner",
    "HandOffEscalated": "reassigned_to",
}
"""The events whose payload names who owns (or will own, on acceptance) the lead, and the
field that does: a lead's owner is always named by one of its events of these types (a
property test checks it against ``_apply``)."""
NEW_CYCLE_KINDS = frozenset({"re_entry", "upsell", "recycle"})
"""Transition kinds after which the lead starts over (a deal may be won or lost again)."""

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class HandOff:
    from_owner: str | None
    to_owner: str
    at: datetime
    sla_due: datetime | None
    breached_for: datetime | None = None
    """The SLA deadline a breach was already recorded for."""


@dataclass(eq=False)
class Lead(Aggregate[LeadEvent[Any]]):
    """A lead's current state. Build it with :meth:`capture` or from its events."""

    FAMILY: ClassVar[str] = "leadflow.lead"

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
    lost_by: dict[str, datetime] = field(default_factory=dict)
    """Rep → when the lead last left them (released, reassigned, handed off)."""
    touches: int = 0
    last_touch_at: datetime | None = None
    known_contacts: list[tuple[str, str]] = field(default_factory=list)
    """Every (kind, normalised value) this lead was captured, touched or updated with:
    the contact keys it may hold (moved with it on merge and back on unmerge)."""
    # scoring and recycling state (see scoring.py, recycling.py)
    fit: dict[str, float] = field(default_factory=dict)
    """Points each profile rule currently grants."""
    awards: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    """Points each behaviour rule granted, and when (for caps per period)."""
    decay_anchor: datetime | None = None
    """Last engagement: capture, activity, or a score change other than decay."""
    decayed_to: datetime | None = None
    """The deadline of the latest decay step."""
    bant: dict[str, bool] = field(default_factory=dict)
    stage_breached_for: datetime | None = None
    """The stage SLA deadline a breach was already recorded for."""
    reminded_for: dict[str, datetime] = field(default_factory=dict)
    """Deadline kind (``FollowUpDue.deadline``) → the deadline a reminder was recorded for."""
    cycle: int = 0
    """How often the lead started over: each re-entry, upsell or recycle starts a new cycle."""
    outcomes: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    """Outcome event type (``DealWon``, ``DealLost``, ``LeadChurned``, ``LeadDisqualified``)
    → the cycle and time it was last recorded in: an outcome happens once per cycle."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Lead:
        """A copy for a command to change (the aggregate cache hands these out)."""
        copied = copy.copy(self)
        copied.attributes = dict(self.attributes)
        copied.merged_leads = list(self.merged_leads)
        copied.lost_by = dict(self.lost_by)
        copied.known_contacts = list(self.known_contacts)
        copied.fit = dict(self.fit)
        copied.awards = {rule: list(points) for rule, points in self.awards.items()}
        copied.bant = dict(self.bant)
        copied.outcomes = dict(self.outcomes)
        copied.reminded_for = dict(self.reminded_for)
        copied.unreadable = list(self.unreadable)
        copied._pending = []
        return copied

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lead):
            return NotImplemented
        mine = {k: v for k, v in vars(self).items() if k != "_pending"}
        theirs = {k: v for k, v in vars(other).items() if k != "_pending"}
        return mine == theirs

    # -- state evolution: the only place state changes -----------------------------------

    @classmethod
    def _start(cls, event: LeadEvent[Any]) -> Lead:
        if not isinstance(event, LeadCaptured):
            raise ValueError(f"the first event of a lead must be LeadCaptured, not {event}")
        return cls(id=event.originator_id)

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
                self.captured_at = self.stage_entered_at = self.decay_anchor = at
                self.pipeline_version = d.pipeline_version
                self._know(d.email, d.phone, d.wechat)
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
                        if key in CONTACT_KINDS and value is not None:
                            self._know(**{key: value})
            case ActivityRecorded():
                self.last_activity_at = self.decay_anchor = at
                if d.category == ActivityCategory.FOLLOW_UP:
                    self.last_follow_up_at = at
            case LeadScored():
                self.score = d.score
                self._apply_score_bookkeeping(event)
            case StageChanged():
                self.stage = d.stage
                self.stage_entered_at = at
                self.pipeline_version = d.pipeline_version
                if d.kind in NEW_CYCLE_KINDS:
                    self.cycle += 1
            case StatusChanged():
                self.status = d.status
            case LeadAssigned() | LeadClaimed():
                if self.owner is not None:
                    self.lost_by[self.owner] = at
                self.owner = d.owner
                self.owned_since = at
            case LeadReleased():
                self.lost_by[d.previous_owner] = at
                self.owner = None
                self.owned_since = None
            case LeadHandedOff():
                self.handoff = HandOff(d.from_owner, d.to_owner, at, d.sla_due)
            case HandOffAccepted():
                assert self.handoff is not None
                if self.owner is not None and self.owner != self.handoff.to_owner:
                    self.lost_by[self.owner] = at
                self.owner = self.handoff.to_owner
                self.owned_since = at
                self.handoff = None
            case HandOffRejected():
                self.handoff = None
            case LeadMerged():
                self.merged_into = d.into_lead_id
            case DuplicateMerged():
                self.merged_leads.append(d.merged_lead_id)
            case TouchRecorded():
                self.touches += 1
                self.last_touch_at = d.touched_at
                self._know(d.email, d.phone, d.wechat)
            case LeadUnmerged():
                self.merged_into = None
            case DuplicateUnmerged():
                self.merged_leads.remove(d.unmerged_lead_id)
            case PersonalDataErased():
                for name in d.fields:
                    if name.startswith("attributes."):
                        self.attributes.pop(name.removeprefix("attributes."), None)
                    else:
                        setattr(self, name, None)
                # Erasures recorded before every personal field was listed (company) or
                # copied from such a store: nothing personal is left in the state.
                for name in LEAD_FIELDS:
                    setattr(self, name, None)
                for name in [k for k, v in self.attributes.items() if v == ERASED]:
                    del self.attributes[name]
                self.erased = True
                self.known_contacts = []
            case QualificationRecorded():
                for name in BANT_CRITERIA:
                    answer = getattr(d, name)
                    if answer is not None:
                        self.bant[name] = answer
            case SlaBreached():
                if d.sla == "handoff" and self.handoff is not None:
                    self.handoff = replace(self.handoff, breached_for=d.due_at)
                elif d.sla.startswith("stage:"):
                    self.stage_breached_for = d.due_at
            case FollowUpDue():
                self.reminded_for[d.deadline] = d.deadline_at
            case HandOffEscalated():
                if d.reassigned_to is not None and self.handoff is not None:
                    self.handoff = HandOff(self.handoff.from_owner, d.reassigned_to, at, d.sla_due)
            case LeadRecycled():
                pass  # a marker naming the rule and reason; the moves are their own events
            case DealWon() | DealLost() | LeadChurned() | LeadDisqualified():
                self.outcomes[event.TYPE] = (self.cycle, at)  # stage effects: automation
            case LeadConverted():
                pass  # a business fact; its stage effect is an automation event
            case _:
                raise TypeError(f"no state change defined for {type(event).__name__}")
        self.last_occurred_at = at

    def _know(
        self, email: str | None = None, phone: str | None = None, wechat: str | None = None
    ) -> None:
        for kind, value in (("email", email), ("phone", phone), ("wechat", wechat)):
            if value is not None and (kind, value) not in self.known_contacts:
                self.known_contacts.append((kind, value))

    def _apply_score_bookkeeping(self, event: LeadEvent[Any]) -> None:
        d: Any = event.data
        points = d.delta if d.points is None else d.points
        if d.kind == ScoreKind.PROFILE and d.rule is not None:
            held = round(self.fit.get(d.rule, 0.0) + points, 2)
            if held:
                self.fit[d.rule] = held
            else:
                self.fit.pop(d.rule, None)
        elif d.kind == ScoreKind.BEHAVIOUR and d.rule is not None:
            self.awards.setdefault(d.rule, []).append((event.occurred_at, points))
        if d.kind == ScoreKind.DECAY:
            self.decayed_to = d.due_at
        else:
            self.decay_anchor = event.occurred_at

    def _check_time(self, ctx: Context) -> None:
        if self.last_occurred_at is not None and ctx.occurred_at < self.last_occurred_at:
            raise InvalidInput(
                "occurred_at",
                f"{ctx.occurred_at.isoformat()} is before this lead's latest event "
                f"({self.last_occurred_at.isoformat()}); events of a lead cannot be "
                "backdated past each other",
            )

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
        lead.record(LeadCaptured, data, ctx, pipeline)
        return lead

    @classmethod
    def migrate(
        cls,
        lead_id: UUID,
        pipeline: Pipeline,
        captured: Context,
        ctx: Context,
        migrated: MigratedData,
        profile: Mapping[str, Any],
        *,
        team: str | None = None,
        roster_version: int | None = None,
    ) -> Lead:
        """A lead from another CRM, in the state it had there (``import --migrate``).

        It is captured (at ``captured``: when the other CRM took it in) into an entry
        stage, the capture naming the migrated state; then, at ``ctx`` (the import: when
        leadflow learnt that state), its stage, status, owner and score are set by events
        of their own. No automation runs: the state is the other CRM's, and the
        pipeline's rules apply from the lead's next event on. Time in the migrated stage
        (and its SLA) therefore counts from the import. The owner must already be
        checked against the roster (the use case holds it). ``profile``: the capture's
        normalised :data:`PROFILE_FIELDS` and ``attributes``.
        """
        stage, status = pipeline.held_state(migrated.stage, migrated.status)
        entry = stage if stage in pipeline.entry_stages else pipeline.entry_stages[0]
        lead = cls(id=lead_id)
        data = CapturedData(
            stage=entry,
            status=pipeline.initial_status,
            attributes=dict(profile.get("attributes") or {}),
            pipeline_version=pipeline.version,
            migrated=migrated,
            **{name: profile.get(name) for name in PROFILE_FIELDS},
        )
        lead._trigger(LeadCaptured, data, captured)
        reason = "imported from another CRM"
        version = pipeline.version
        if stage != entry:
            moved = StageChangedData(
                from_stage=entry,
                stage=stage,
                kind="migrate",
                reason=reason,
                pipeline_version=version,
            )
            lead._trigger(StageChanged, moved, ctx)
        if status != lead.status:
            changed = StatusChangedData(
                from_status=lead.status, status=status, reason=reason, pipeline_version=version
            )
            lead._trigger(StatusChanged, changed, ctx)
        if migrated.owner is not None:
            owned = AssignedData(
                owner=migrated.owner,
                reason=reason,
                pipeline_version=version,
                strategy="migrate",
                team=team,
                roster_version=roster_version,
            )
            lead._trigger(LeadAssigned, owned, ctx)
        if migrated.score is not None and migrated.score != lead.score:
            scored = ScoredData(
                score=migrated.score,
                delta=migrated.score - lead.score,
                reason=reason,
                pipeline_version=version,
            )
            lead._trigger(LeadScored, scored, ctx)
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
        wanted = pipeline.capture.contact_fields
        if any(getattr(self, f) for f in wanted) and not any(
            (effective[f] if f in effective else getattr(self, f)) for f in wanted
        ):
            raise InvalidInput("changes", "a lead keeps at least one of: " + ", ".join(wanted))
        if effective:
            self.record(ProfileUpdated, ProfileUpdatedData(changes=effective), ctx, pipeline)

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
        self.record(ActivityRecorded, data, ctx, pipeline)

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
        self.record(LeadScored, data, ctx, pipeline)

    def qualify(
        self,
        pipeline: Pipeline,
        ctx: Context,
        *,
        budget: bool | None = None,
        authority: bool | None = None,
        need: bool | None = None,
        timeline: bool | None = None,
        note: str | None = None,
    ) -> None:
        """Record BANT answers; the pipeline's BANT rule may then qualify the lead."""
        self._check_open()
        data = QualificationRecordedData(
            budget=budget, authority=authority, need=need, timeline=timeline, note=note
        )
        if all(getattr(data, name) is None for name in BANT_CRITERIA):
            raise InvalidInput("bant", "answer at least one of: " + ", ".join(BANT_CRITERIA))
        self.record(QualificationRecorded, data, ctx, pipeline)

    def sweep(
        self,
        pipeline: Pipeline,
        now: datetime,
        recorded_at: datetime,
        *,
        manager_of: Callable[[str], str | None] | None = None,
    ) -> None:
        """Fire every time-driven rule due at or before ``now`` (see
        :func:`leadflow.domain.timers.fire_due`); sweeping again records nothing."""
        fire_due(self, pipeline, now, recorded_at, manager_of=manager_of)

    # -- recording primitives: the lead's own policies (automation, timers) record through
    # these; use cases call the commands above and below, never these directly.

    def record(
        self, event_class: type[LeadEvent[P]], data: P, ctx: Context, pipeline: Pipeline
    ) -> None:
        """Record an event, then what follows from it (policies and automation rules).

        If automation refuses (an illegal automatic move), the error propagates and the
        use case discards this in-memory lead: a command is saved whole or not at all.
        """
        self._trigger(event_class, data, ctx)
        settle(self, pipeline, ctx)

    def apply_score(
        self, change: ScoreChange, pipeline: Pipeline, ctx: Context, cause: int | None
    ) -> LeadEvent[Any]:
        """Record a scoring rule's change, kept within the pipeline's bounds."""
        new = bounded(self.score + change.points, pipeline.scoring)
        data = ScoredData(
            score=new,
            delta=round(new - self.score, 2),
            reason=change.reason,
            kind=change.kind,
            points=change.points,
            cause=cause,
            rule=change.rule,
            pipeline_version=pipeline.version,
            due_at=change.due_at,
        )
        return self._trigger(LeadScored, data, ctx.as_rule(change.rule))

    def recycle(
        self,
        rule: str,
        reason: str,
        to_stage: str | None,
        to_status: str | None,
        pipeline: Pipeline,
        ctx: Context,
        due_at: datetime | None,
    ) -> list[LeadEvent[Any]]:
        """Record the recycle (with its reason), then the moves it makes."""
        ctx = ctx.as_rule(rule)
        data = RecycledData(
            reason=reason,
            from_stage=self.stage,
            to_stage=to_stage,
            to_status=to_status,
            rule=rule,
            pipeline_version=pipeline.version,
            due_at=due_at,
        )
        events: list[LeadEvent[Any]] = [self._trigger(LeadRecycled, data, ctx)]
        if to_stage is not None and to_stage != self.stage:
            events.append(
                self.move_to_stage(to_stage, pipeline, ctx, reason=reason, rule=rule, due_at=due_at)
            )
        if to_status is not None and to_status != self.status:
            events.append(
                self.set_status(to_status, pipeline, ctx, reason=reason, rule=rule, due_at=due_at)
            )
        return events

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
        self.move_to_stage(stage, pipeline, ctx, reason=reason, rule=None)
        settle(self, pipeline, ctx)

    def move_to_stage(
        self,
        stage: str,
        pipeline: Pipeline,
        ctx: Context,
        *,
        reason: str | None,
        rule: str | None,
        due_at: datetime | None = None,
    ) -> LeadEvent[Any]:
        kind = pipeline.transition_kind(self.stage, stage, rule)
        data = StageChangedData(
            from_stage=self.stage,
            stage=stage,
            kind=kind,
            reason=reason,
            rule=rule,
            pipeline_version=pipeline.version,
            due_at=due_at,
        )
        return self._trigger(StageChanged, data, ctx)

    def remap_stage(self, stage: str, pipeline: Pipeline, ctx: Context) -> None:
        """Move the lead out of a stage ``pipeline`` (being activated) no longer has.

        Not a transition of any pipeline: the activation's ``OLD=NEW`` mapping decides it,
        and no automation follows (the rules are the new version's, applied from the next
        command on). Merged and erased leads are moved too: they sit in a stage as well.
        """
        if stage not in pipeline.stages:
            raise InvalidInput("map", f"{stage!r} is not a stage of the new pipeline")
        data = StageChangedData(
            from_stage=self.stage,
            stage=stage,
            kind="remap",
            reason=f"pipeline version {pipeline.version} maps {self.stage} to {stage}",
            mapping=f"{self.stage}={stage}",
            rule=None,
            pipeline_version=pipeline.version,
        )
        self._trigger(StageChanged, data, ctx)

    def change_status(
        self, status: str, pipeline: Pipeline, ctx: Context, *, reason: str | None = None
    ) -> None:
        self._check_open()
        if status == self.status:
            raise InvalidInput("status", f"the lead already has status {status!r}")
        self.set_status(status, pipeline, ctx, reason=reason, rule=None)
        settle(self, pipeline, ctx)

    def set_status(
        self,
        status: str,
        pipeline: Pipeline,
        ctx: Context,
        *,
        reason: str | None,
        rule: str | None,
        due_at: datetime | None = None,
    ) -> LeadEvent[Any]:
        pipeline.check_status(self.stage, self.status, status, rule)
        data = StatusChangedData(
            from_status=self.status,
            status=status,
            reason=reason,
            rule=rule,
            pipeline_version=pipeline.version,
            due_at=due_at,
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
        strategy: str | None = None,
        team: str | None = None,
        candidates: list[CandidateLoad] | None = None,
        tie_break: str | None = None,
        roster_version: int | None = None,
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
            strategy=strategy,
            team=team,
            candidates=candidates,
            tie_break=tie_break,
            roster_version=roster_version,
        )
        self.record(LeadAssigned, data, ctx, pipeline)

    def claim(
        self,
        owner: str,
        pipeline: Pipeline,
        ctx: Context,
        *,
        claims_today: int | None = None,
        daily_claim_limit: int | None = None,
    ) -> None:
        """A rep takes the lead from the pool; a rep who lost it waits ``pool.reclaim_after``."""
        self._check_open()
        _require("owner", owner)
        if self.owner is not None:
            raise InvalidInput(
                "lead_id", f"the lead is owned by {self.owner!r}; only pool leads can be claimed"
            )
        if not in_pool(self, pipeline.assignment.closed_stages):
            raise InvalidInput(
                "lead_id",
                f"the lead is in closed stage {self.stage!r} (assignment.closed_stages), not in "
                "the public pool; only pool leads can be claimed",
            )
        lost_at = self.lost_by.get(owner)
        wait = pipeline.pool.reclaim_after
        if lost_at is not None and ctx.occurred_at < lost_at + wait:
            raise InvalidInput(
                "owner",
                f"{owner} lost this lead at {lost_at.isoformat()} and may claim it again from "
                f"{(lost_at + wait).isoformat()} (pool.reclaim_after = {span(wait)})",
            )
        data = ClaimedData(
            owner=owner,
            claims_today=claims_today,
            daily_claim_limit=daily_claim_limit,
            pipeline_version=pipeline.version,
        )
        self.record(LeadClaimed, data, ctx, pipeline)

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
        self.record(LeadReleased, data, ctx, pipeline)

    def hand_off(
        self, to_owner: str, pipeline: Pipeline, ctx: Context, *, note: str | None = None
    ) -> None:
        self._check_open()
        _require("to_owner", to_owner)
        if to_owner == self.owner:
            raise InvalidInput(
                "to_owner", f"the lead is owned by {to_owner} already; hand it off to someone else"
            )
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
        self.record(LeadHandedOff, data, ctx, pipeline)

    def accept_handoff(self, pipeline: Pipeline, ctx: Context) -> None:
        self._check_open()
        self._require_handoff()
        record_late_breach(self, pipeline, ctx)
        self.record(HandOffAccepted, HandOffAcceptedData(by=ctx.actor), ctx, pipeline)

    def reject_handoff(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        self._check_open()
        _require("reason", reason)
        self._require_handoff()
        record_late_breach(self, pipeline, ctx)
        self.record(
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
        self.record(LeadConverted, data, ctx, pipeline)

    def win(
        self,
        pipeline: Pipeline,
        ctx: Context,
        *,
        amount: float | None = None,
        currency: str | None = None,
    ) -> None:
        self._check_open()
        self._check_once(DealWon, "won")
        self.record(DealWon, DealWonData(amount=amount, currency=currency), ctx, pipeline)

    def lose(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        self._check_once(DealLost, "lost")
        self._reasoned(DealLost, reason, pipeline, ctx)

    def churn(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        self._check_once(LeadChurned, "churned")
        self._reasoned(LeadChurned, reason, pipeline, ctx)

    def disqualify(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        self._check_once(LeadDisqualified, "disqualified")
        self._reasoned(LeadDisqualified, reason, pipeline, ctx)

    def _check_once(self, event_class: type[LeadEvent[Any]], done: str) -> None:
        """An outcome happens once per cycle: winning a won deal again records nothing true."""
        recorded = self.outcomes.get(event_class.TYPE)
        if recorded is not None and recorded[0] == self.cycle:
            raise InvalidInput(
                "lead_id",
                f"the lead was {done} already (at {recorded[1].isoformat()}); it can be {done} "
                "again only after it starts over (re-entry, upsell or recycle)",
            )

    def _reasoned(
        self,
        event_class: type[LeadEvent[ReasonData]],
        reason: str,
        pipeline: Pipeline,
        ctx: Context,
    ) -> None:
        self._check_open()
        _require("reason", reason)
        self.record(event_class, ReasonData(reason=reason), ctx, pipeline)

    def merge_into(self, survivor: Lead, pipeline: Pipeline, ctx: Context) -> None:
        """Merge this duplicate into ``survivor``: both leads record the merge."""
        self._check_open()
        survivor._check_open()
        if survivor.id == self.id:
            raise InvalidInput("into_lead_id", "a lead cannot be merged into itself")
        self.record(LeadMerged, MergedData(into_lead_id=survivor.id), ctx, pipeline)
        survivor.record(DuplicateMerged, DuplicateMergedData(merged_lead_id=self.id), ctx, pipeline)

    def unmerge_from(self, survivor: Lead, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        """Undo :meth:`merge_into` with compensating events on both leads. Not once the
        person was erased: erased together, they stay one lead."""
        _require("reason", reason)
        if self.merged_into != survivor.id:
            raise InvalidInput(
                "lead_id",
                f"lead {self.id} is not merged into {survivor.id}"
                + (f" (it is merged into {self.merged_into})" if self.merged_into else ""),
            )
        if survivor.erased and not self.erased:  # erased before merged leads went with it
            raise InvalidInput(
                "lead_id",
                f"cannot unmerge: lead {survivor.id}'s personal data was erased, and lead "
                f"{self.id} is the same person; erase lead {survivor.id} again to erase it too",
            )
        if self.erased or survivor.erased:
            raise InvalidInput(
                "lead_id",
                f"cannot unmerge: lead {self.id}'s personal data was erased with lead "
                f"{survivor.id}'s; an erased person stays one lead",
            )
        self.record(
            LeadUnmerged, UnmergedData(from_lead_id=survivor.id, reason=reason), ctx, pipeline
        )
        survivor.record(
            DuplicateUnmerged,
            DuplicateUnmergedData(unmerged_lead_id=self.id, reason=reason),
            ctx,
            pipeline,
        )

    def record_touch(self, touch: TouchData, pipeline: Pipeline, ctx: Context) -> None:
        """The same person came in again. A touch older than the lead's latest event is
        recorded now, with its own time in ``touched_at``: history is never reordered."""
        self._check_open()
        latest = self.last_occurred_at
        if latest is not None and ctx.occurred_at < latest:
            # Also when another writer's event on this lead was stamped a moment after this
            # capture read the clock: the touch goes after it, never before.
            ctx = replace(ctx, occurred_at=latest, recorded_at=max(ctx.recorded_at, latest))
        self.record(TouchRecorded, touch, ctx, pipeline)

    def erase_personal_data(
        self, reason: str, pipeline: Pipeline, ctx: Context, merged: Sequence[Lead] = ()
    ) -> None:
        """Erase the person: this lead and ``merged``, every lead merged into it (directly
        or into one of those), each with its own ``PersonalDataErased``. A merge said they
        are one person, so a lead merged away is erased only through the lead that
        survived. Erasing again erases those an earlier erasure left (one recorded before
        merged leads were erased with their survivor)."""
        _require("reason", reason)
        if self.merged_into is not None:
            raise InvalidInput(
                "lead_id",
                f"lead {self.id} was merged into {self.merged_into}; erase that lead: it "
                "erases every lead merged into it (one person)",
            )
        person = {self.id, *(lead.id for lead in merged)}
        strays = [lead.id for lead in merged if lead.merged_into not in person]
        if strays:
            raise ValueError(f"leads {strays} are not merged into lead {self.id}")
        pending = [lead for lead in (self, *merged) if not lead.erased]
        if not pending:
            raise InvalidInput("lead_id", f"lead {self.id}'s personal data was erased already")
        for lead in pending:
            lead._erase(reason, pipeline, ctx)

    def _erase(self, reason: str, pipeline: Pipeline, ctx: Context) -> None:
        profile = {name: getattr(self, name) for name in LEAD_FIELDS}
        fields = lead_personal_fields(profile, self.attributes, pipeline.personal_data.attributes)
        self.record(PersonalDataErased, ErasedData(fields=fields, reason=reason), ctx, pipeline)

    # -- checks ---------------------------------------------------------------------------

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


def survivor_of(lead: Lead, find: Callable[[UUID], Lead | None]) -> Lead:
    """The last lead a chain of merges from ``lead`` reaches (``lead`` itself when it was not
    merged). ``find`` reads a lead by id. The walk stops early at a lead whose survivor
    cannot be found, or whose survivor the chain already passed (a chain that comes back on
    itself); that lead still names a survivor (``merged_into``), which tells the caller."""
    seen = {lead.id}
    while lead.merged_into is not None and lead.merged_into not in seen:
        survivor = find(lead.merged_into)
        if survivor is None:
            break
        seen.add(survivor.id)
        lead = survivor
    return lead


def merged_into_person(lead: Lead, find: Callable[[UUID], Lead | None]) -> list[Lead]:
    """Every lead merged into ``lead``, directly or into one of those: with it, one person
    (what an erasure erases). ``find`` reads a lead by id (``None``: there is none)."""
    found: list[Lead] = []
    seen = {lead.id}
    waiting = list(lead.merged_leads)
    while waiting:
        lead_id = waiting.pop(0)
        duplicate = None if lead_id in seen else find(lead_id)
        seen.add(lead_id)
        if duplicate is not None:
            found.append(duplicate)
            waiting += duplicate.merged_leads
    return found


def _require(field_name: str, value: str) -> None:
    if not value or not value.strip():
        raise InvalidInput(field_name, "must not be empty")
