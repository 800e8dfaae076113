"""Every event leadflow records: an envelope (lead, time, actor) and a pydantic payload.

Events are named in the past tense and never change once written. A payload schema
that must change gets a new ``VERSION`` and an ``upcast_vN_vN+1`` function that turns
the stored older payload into the current shape, so the log is read as current events.

Events that record an automatic decision (or that may) carry ``rule`` (the rule id,
``None`` for a person's decision) and ``pipeline_version`` (the content hash of the
pipeline in force) in their payload, so any decision can be explained from the log.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from leadflow.domain.aggregate import FAMILIES

if TYPE_CHECKING:
    from leadflow.domain.aggregate import Aggregate

__all__ = [
    "EVENT_TYPES",
    "TOPICS",
    "ActivityCategory",
    "ActivityKind",
    "ActivityRecorded",
    "CandidateLoad",
    "DealLost",
    "DealWon",
    "DuplicateMerged",
    "DuplicateUnmerged",
    "FollowUpDue",
    "FollowUpDueData",
    "HandOffAccepted",
    "HandOffEscalated",
    "HandOffRejected",
    "LeadAssigned",
    "LeadCaptured",
    "LeadChurned",
    "LeadClaimed",
    "LeadConverted",
    "LeadDisqualified",
    "LeadEvent",
    "LeadHandedOff",
    "LeadMerged",
    "LeadRecycled",
    "LeadReleased",
    "LeadScored",
    "LeadUnmerged",
    "MigratedData",
    "Payload",
    "PersonalDataErased",
    "ProfileUpdated",
    "QualificationRecorded",
    "RecordedEvent",
    "RuleDecidedPayload",
    "ScoreKind",
    "SlaBreached",
    "StageChanged",
    "StatusChanged",
    "TouchRecorded",
    "payload_json",
    "register_events",
    "time_fields",
    "with_offset_times",
]


class Payload(BaseModel):
    """Base of every event payload: immutable, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


@functools.cache
def time_fields(model: type[Payload]) -> tuple[str, ...]:
    """The payload fields that hold a time (``datetime``, ``datetime | None``), once per class."""
    return tuple(
        name
        for name, info in model.model_fields.items()
        if info.annotation is datetime or datetime in typing.get_args(info.annotation)
    )


def with_offset_times(model: type[Payload], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a payload of ``model`` as JSON) with its times ending ``+00:00``, not ``Z``.

    pydantic writes a UTC time as ``...Z``; the envelope, ``LeadView`` and the CLI write
    ``+00:00``. One spelling lets readers compare times as text. Changes ``data`` in place
    (readers get a fresh dict per event) and only the top-level time fields: no lead event
    nests a time.
    """
    for name in time_fields(model):
        value = data.get(name)
        if value.__class__ is str and value.endswith("Z"):
            data[name] = value[:-1] + "+00:00"
    return data


def payload_json(payload: Payload) -> dict[str, Any]:
    """The payload as JSON-ready values, times with a numeric offset (see above)."""
    return with_offset_times(type(payload), payload.model_dump(mode="json"))


class RuleDecidedPayload(Payload):
    """Base of the payloads that may record a rule's decision (a name of the code only:
    stored payloads do not name their classes)."""

    rule: str | None = None
    """Id of the rule that decided this; ``None`` when a person did."""
    pipeline_version: str
    """Content hash of the pipeline in force when the decision was made."""
    due_at: datetime | None = None
    """For a time-driven rule (``leadflow sweep``): the deadline instant it fired for."""


class ActivityCategory(StrEnum):
    BEHAVIOUR = "behaviour"
    FOLLOW_UP = "follow_up"


class ActivityKind(StrEnum):
    # behaviour: what the lead did
    PAGE_VISIT = "page_visit"
    FORM_SUBMIT = "form_submit"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    EMAIL_BOUNCE = "email_bounce"
    WEBINAR = "webinar"
    DOWNLOAD = "download"
    UNSUBSCRIBE = "unsubscribe"
    # follow-up: what we did
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    NOTE = "note"

    @property
    def category(self) -> ActivityCategory:
        if self in _FOLLOW_UPS:
            return ActivityCategory.FOLLOW_UP
        return ActivityCategory.BEHAVIOUR


_FOLLOW_UPS = frozenset(
    {ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING, ActivityKind.NOTE}
)

# ---- payloads ----------------------------------------------------------------------------
# Attribute docstrings are the field descriptions of docs/events.md and the JSON Schemas.


class MigratedData(Payload):
    """The state another CRM gave a lead brought in by ``leadflow import --migrate``."""

    stage: str
    """The stage it had there (a stage of the pipeline in force)."""
    status: str
    """The status it had there (one its stage permits)."""
    owner: str | None = None
    """The rep who owned it there (a rep on the roster); ``None``: nobody."""
    score: float | None = None
    """Its score there; ``None``: none was given (the score stays at 0)."""
    by: str
    """Who imported it (the import's actor)."""


class CapturedData(RuleDecidedPayload):
    stage: str
    """The entry stage the lead was captured into."""
    status: str
    """The pipeline's initial status."""
    email: str | None = None
    """Normalised email address (lower case)."""
    phone: str | None = None
    """Phone number in E.164 (``+8613800138000``)."""
    wechat: str | None = None
    """WeChat id (lower case)."""
    name: str | None = None
    """The person's name."""
    company: str | None = None
    """The person's company."""
    source: str | None = None
    """Where the lead came from: web_form, import, partner, event, …"""
    campaign: str | None = None
    """The campaign that brought the lead."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Further profile fields (industry, region, …), by name."""
    migrated: MigratedData | None = None
    """For a lead imported from another CRM (``leadflow import --migrate``): the state it
    was imported with, and by whom. The events recorded with this one set that state
    (``StageChanged`` of kind ``migrate``, ``StatusChanged``, ``LeadAssigned`` of strategy
    ``migrate``, ``LeadScored``); no automation runs on them."""


class ProfileUpdatedData(Payload):
    changes: dict[str, str | None]
    """Field name → new value (``None`` clears it); attributes are ``attributes.<key>``."""


class ActivityRecordedData(Payload):
    activity: ActivityKind
    """What happened: page_visit, form_submit, email_open, email_click, email_bounce, webinar,
    download, unsubscribe (behaviour); call, email, meeting, note (follow-up)."""
    category: ActivityCategory
    """``behaviour`` (what the lead did) or ``follow_up`` (what we did)."""
    detail: str | None = None
    """Free text: the page, the email subject, the call outcome."""
    ref: str | None = None
    """An external reference (campaign id, meeting id, URL)."""


class ScoreKind(StrEnum):
    """Which kind of scoring rule changed the score (``manual``: a person did)."""

    MANUAL = "manual"
    PROFILE = "profile"
    BEHAVIOUR = "behaviour"
    NEGATIVE = "negative"
    DECAY = "decay"


class ScoredData(RuleDecidedPayload):
    score: float
    """The lead's score after this change."""
    delta: float
    """The change: ``score`` minus the previous score."""
    reason: str
    """Why, in words."""
    kind: ScoreKind = ScoreKind.MANUAL
    """Which kind of rule changed the score; ``manual`` when a person set it."""
    points: float | None = None
    """What the rule granted before the score was kept within its bounds."""
    cause: int | None = None
    """Sequence number of the lead's event that triggered the rule, if any."""


class StageChangedData(RuleDecidedPayload):
    from_stage: str
    """The stage the lead left."""
    stage: str
    """The stage the lead entered."""
    kind: str
    """The transition kind from the pipeline: promotion, regression, recycle, exit, re_entry,
    upsell; or ``remap``: a pipeline activation moved the lead out of a stage it removed; or
    ``migrate``: an import from another CRM put the lead in the stage it had there."""
    reason: str | None = None
    """Why, in words (the rule's description for automatic changes)."""
    mapping: str | None = None
    """For ``remap``: the ``OLD=NEW`` mapping given with the activation (whose version is
    ``pipeline_version``)."""


class StatusChangedData(RuleDecidedPayload):
    from_status: str
    """The previous status."""
    status: str
    """The new status."""
    reason: str | None = None
    """Why, in words."""


class CandidateLoad(Payload):
    """A rep considered for an assignment, as the roster stood at that moment."""

    rep: str
    """The rep."""
    open_leads: int
    """Their open leads at that moment."""
    cap: int | None = None
    """Their cap on open leads (own capacity, else ``assignment.max_open_leads``)."""
    weight: float = 1.0
    """Their weight under the ``weighted`` strategy."""
    skipped: str | None = None
    """Why the rep could not take the lead (``absent``, ``at_cap``); ``None`` if eligible."""


class AssignedData(RuleDecidedPayload):
    owner: str
    """The rep who now owns the lead."""
    previous_owner: str | None = None
    """The rep who owned it before, if any."""
    reason: str | None = None
    """Why, in words."""
    # Added by the assignment policies (optional, so older events read unchanged):
    strategy: str | None = None
    """``round_robin``, ``weighted``, ``rule`` (a rule naming a rep), ``manual``, ``manager``
    (a leaving rep's deal or account given to their manager), or ``migrate`` (the owner the
    lead had in another CRM, ``leadflow import --migrate``)."""
    team: str | None = None
    """The team the candidates were drawn from (``None``: every rep)."""
    candidates: list[CandidateLoad] | None = None
    """Every rep considered, with their load, cap and weight, and why any was skipped."""
    tie_break: str | None = None
    """How a tie between equally loaded reps was broken, naming the tied reps."""
    roster_version: int | None = None
    """Version of the roster (reps, teams, absences) the decision was made on."""


class ClaimedData(Payload):
    owner: str
    """The rep who claimed the lead from the public pool."""
    # Added by the pool policies (optional, so older events read unchanged):
    claims_today: int | None = None
    """This rep's claims on this claim day, this one included."""
    daily_claim_limit: int | None = None
    """``pool.daily_claim_limit`` at that moment (``None``: no limit)."""
    pipeline_version: str | None = None
    """Content hash of the pipeline in force."""


class ReleasedData(RuleDecidedPayload):
    previous_owner: str
    """The rep who owned the lead until now."""
    reason: str
    """Why it went back to the pool."""


class HandedOffData(Payload):
    from_owner: str | None
    """The (marketing) owner handing the lead off."""
    to_owner: str
    """The sales rep receiving it."""
    sla_due: datetime | None = None
    """When sales must have accepted or rejected it (the pipeline's ``handoff_sla``)."""
    note: str | None = None
    """Context for sales."""


class HandOffAcceptedData(Payload):
    by: str
    """Who accepted."""


class HandOffRejectedData(Payload):
    by: str
    """Who rejected."""
    reason: str
    """Why sales rejected the lead."""


class ConvertedData(Payload):
    target: Literal["opportunity", "customer"]
    """What the lead became."""
    account_ref: str
    """The account in the CRM or billing system."""
    opportunity_ref: str | None = None
    """The opportunity (deal) reference, if any."""
    amount: float | None = None
    """Expected deal value."""


class DealWonData(Payload):
    amount: float | None = None
    """Won deal value."""
    currency: str | None = None
    """ISO 4217 currency code."""


class ReasonData(Payload):
    reason: str
    """Why, in words."""


class MergedData(Payload):
    into_lead_id: UUID
    """The lead this duplicate was merged into."""


class DuplicateMergedData(Payload):
    merged_lead_id: UUID
    """The duplicate that was merged into this lead."""


class TouchData(Payload):
    """A capture or import that matched this lead instead of creating one."""

    matched_on: list[str]
    """The contact keys that matched, e.g. ``["phone"]``."""
    touched_at: datetime
    """When the touch happened (the event itself cannot be backdated past the lead)."""
    source: str | None = None
    """Where the touch came from."""
    campaign: str | None = None
    """The campaign of the touch."""
    email: str | None = None
    """Normalised email given with the touch."""
    phone: str | None = None
    """Normalised phone (E.164) given with the touch."""
    wechat: str | None = None
    """Normalised WeChat id given with the touch."""
    name: str | None = None
    """Name given with the touch (the lead's profile is not changed)."""
    company: str | None = None
    """Company given with the touch (the lead's profile is not changed)."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Attributes given with the touch (the lead's profile is not changed)."""
    notify: str | None = None
    """The lead's owner, who is told of the touch; ``None`` when it sits in the pool."""
    other_matches: list[UUID] = Field(default_factory=list)
    """Other leads that hold some of the touch's contact keys: merge candidates."""
    import_key: str | None = None
    """The import row's key (``external:<id>`` or ``row:<hash>``), for an imported touch."""


class UnmergedData(Payload):
    from_lead_id: UUID
    """The lead this one had been merged into."""
    reason: str
    """Why the merge was undone."""


class DuplicateUnmergedData(Payload):
    unmerged_lead_id: UUID
    """The lead that stands on its own again."""
    reason: str
    """Why the merge was undone."""


class ErasedData(Payload):
    fields: list[str]
    """The personal fields the lead held that were erased (``attributes.<name>`` for attributes)."""
    reason: str
    """The request behind the erasure (e.g. a GDPR/PIPL ticket)."""


class QualificationRecordedData(Payload):
    """BANT answers; ``None`` leaves an earlier answer as it was."""

    budget: bool | None = None
    """Is there budget for it?"""
    authority: bool | None = None
    """Is this person the one who decides (or reaching them)?"""
    need: bool | None = None
    """Is there a need we solve?"""
    timeline: bool | None = None
    """Is there a timeline for buying?"""
    note: str | None = None
    """What was learned, in words."""


class SlaBreachedData(RuleDecidedPayload):
    sla: str
    """Which SLA: ``handoff``, or ``stage:<name>`` for the time allowed in a stage."""
    owner: str | None
    """Who had to act by ``due_at``; ``None`` when nobody owned the lead."""


class FollowUpDueData(RuleDecidedPayload):
    """``due_at`` is when the reminder was due (the deadline less ``remind_before``)."""

    deadline: str
    """What is coming: ``no_follow_up`` (the lead returns to the pool), ``stage_sla``
    or ``handoff_sla`` (a breach is recorded)."""
    rep: str | None
    """Who must act before the deadline; ``None`` when nobody owns the lead."""
    deadline_at: datetime
    """When the deadline's rule fires unless someone acts."""


class HandOffEscalatedData(RuleDecidedPayload):
    to: str
    """Whom the breach is escalated to (a manager)."""
    reassigned_to: str | None = None
    """Who the pending hand-off now waits on, if the rule reassigns it."""
    sla_due: datetime | None = None
    """The reassigned hand-off's new SLA deadline."""


class RecycledData(RuleDecidedPayload):
    reason: str
    """Why: a sales rejection's reason, or what the time-driven rule saw."""
    from_stage: str
    """The stage the lead was recycled from."""
    to_stage: str | None = None
    """The stage the rule moves it to (a ``StageChanged`` follows); ``None``: automation does."""
    to_status: str | None = None
    """The status the rule sets (a ``StatusChanged`` follows)."""


# ---- events ------------------------------------------------------------------------------

D = TypeVar("D", bound=Payload)


@dataclass(frozen=True, kw_only=True)
class RecordedEvent(Generic[D]):
    """Envelope shared by every event leadflow records.

    ``timestamp`` is when the event was recorded (the name the eventsourcing library
    uses); ``occurred_at`` is business time, which a command may backdate.
    """

    FAMILY: ClassVar[str]
    """Topic prefix of the aggregate family, e.g. ``leadflow.lead``."""
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    DATA: ClassVar[type[Payload]]
    PERSONAL: ClassVar[tuple[str, ...]] = ()
    """The payload's personal fields (``name`` or ``name.*``), the one declaration of what
    is personal: see :mod:`leadflow.domain.personal_data`. Encrypted under the lead's data
    key when stored; shown as erased once the key is destroyed."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    occurred_at: datetime
    actor: str
    data: D

    @property
    def recorded_at(self) -> datetime:
        return self.timestamp

    @classmethod
    def topic(cls) -> str:
        """The stable topic stored with each event: never derived from a module path."""
        return f"{cls.FAMILY}:{cls.TYPE}"

    def mutate(self, aggregate: Aggregate[Any] | None) -> Aggregate[Any]:
        """Apply this event to its aggregate (eventsourcing's aggregate projector protocol)."""
        return FAMILIES[self.FAMILY].evolve(aggregate, self)

    @classmethod
    def upcast(cls, data: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Bring a stored payload of an older version up to :attr:`VERSION`."""
        while from_version < cls.VERSION:
            data = getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(data)
            from_version += 1
        return data


@dataclass(frozen=True, kw_only=True)
class LeadEvent(RecordedEvent[D]):
    """An event in one lead's history."""

    FAMILY = "leadflow.lead"

    @property
    def lead_id(self) -> UUID:
        return self.originator_id


TOPICS: dict[str, type[RecordedEvent[Any]]] = {}
"""Every recorded event class by its stored topic."""


def register_events(*classes: type[RecordedEvent[Any]]) -> None:
    for cls in classes:
        existing = TOPICS.setdefault(cls.topic(), cls)
        if existing is not cls:
            raise ValueError(f"topic {cls.topic()} is already registered for {existing}")


@dataclass(frozen=True, kw_only=True)
class LeadCaptured(LeadEvent[CapturedData]):
    """A new lead entered the pipeline, from a form, an import, a partner or an event."""

    TYPE = "LeadCaptured"
    DATA = CapturedData
    PERSONAL = ("email", "phone", "wechat", "name", "company", "attributes.*")


@dataclass(frozen=True, kw_only=True)
class ProfileUpdated(LeadEvent[ProfileUpdatedData]):
    """Profile or contact fields changed; only the fields that changed are listed."""

    TYPE = "ProfileUpdated"
    DATA = ProfileUpdatedData
    PERSONAL = ("changes.*",)


@dataclass(frozen=True, kw_only=True)
class ActivityRecorded(LeadEvent[ActivityRecordedData]):
    """Version 2 names the activity ``activity`` and adds its ``category``.

    Version 1 stored ``{"kind": ..., "detail": ...}``. Upcasters return the complete
    current shape (readers of the log do not re-validate payloads).
    """

    TYPE = "ActivityRecorded"
    VERSION = 2
    DATA = ActivityRecordedData
    PERSONAL = ("detail",)

    @staticmethod
    def upcast_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        kind = ActivityKind(data.pop("kind"))
        data["activity"] = kind.value
        data["category"] = kind.category.value
        data.setdefault("detail", None)
        data.setdefault("ref", None)
        return data


@dataclass(frozen=True, kw_only=True)
class LeadScored(LeadEvent[ScoredData]):
    """The lead's score changed, by a scoring rule or by hand."""

    TYPE = "LeadScored"
    DATA = ScoredData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class StageChanged(LeadEvent[StageChangedData]):
    """The lead moved to another stage: by a person, or by an automation rule.

    For an automatic change ``rule`` names the rule and the actor is ``system:<rule>``.
    """

    TYPE = "StageChanged"
    DATA = StageChangedData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class StatusChanged(LeadEvent[StatusChangedData]):
    """The lead's status changed, by a person or by an automation rule."""

    TYPE = "StatusChanged"
    DATA = StatusChangedData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class LeadAssigned(LeadEvent[AssignedData]):
    """A manager or an assignment rule gave the lead to a rep."""

    TYPE = "LeadAssigned"
    DATA = AssignedData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class LeadClaimed(LeadEvent[ClaimedData]):
    """A rep claimed the lead from the public pool."""

    TYPE = "LeadClaimed"
    DATA = ClaimedData


@dataclass(frozen=True, kw_only=True)
class LeadReleased(LeadEvent[ReleasedData]):
    """The lead went back to the public pool."""

    TYPE = "LeadReleased"
    DATA = ReleasedData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class LeadHandedOff(LeadEvent[HandedOffData]):
    """Marketing handed the lead to sales, who must accept or reject it by ``sla_due``."""

    TYPE = "LeadHandedOff"
    DATA = HandedOffData
    PERSONAL = ("note",)


@dataclass(frozen=True, kw_only=True)
class HandOffAccepted(LeadEvent[HandOffAcceptedData]):
    """Sales accepted the hand-off; the lead is now owned by the receiving rep."""

    TYPE = "HandOffAccepted"
    DATA = HandOffAcceptedData


@dataclass(frozen=True, kw_only=True)
class HandOffRejected(LeadEvent[HandOffRejectedData]):
    """Sales rejected the hand-off; the pipeline's automation recycles the lead."""

    TYPE = "HandOffRejected"
    DATA = HandOffRejectedData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class LeadConverted(LeadEvent[ConvertedData]):
    """The lead became an opportunity or a customer, linked to an account."""

    TYPE = "LeadConverted"
    DATA = ConvertedData


@dataclass(frozen=True, kw_only=True)
class DealWon(LeadEvent[DealWonData]):
    """The lead's deal was won."""

    TYPE = "DealWon"
    DATA = DealWonData


@dataclass(frozen=True, kw_only=True)
class DealLost(LeadEvent[ReasonData]):
    """The lead's deal was lost."""

    TYPE = "DealLost"
    DATA = ReasonData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class LeadChurned(LeadEvent[ReasonData]):
    """A customer churned."""

    TYPE = "LeadChurned"
    DATA = ReasonData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class LeadDisqualified(LeadEvent[ReasonData]):
    """The lead was disqualified."""

    TYPE = "LeadDisqualified"
    DATA = ReasonData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class LeadMerged(LeadEvent[MergedData]):
    """This lead was a duplicate and was merged into ``into_lead_id``."""

    TYPE = "LeadMerged"
    DATA = MergedData


@dataclass(frozen=True, kw_only=True)
class DuplicateMerged(LeadEvent[DuplicateMergedData]):
    """A duplicate (``merged_lead_id``) was merged into this lead."""

    TYPE = "DuplicateMerged"
    DATA = DuplicateMergedData


@dataclass(frozen=True, kw_only=True)
class PersonalDataErased(LeadEvent[ErasedData]):
    """The lead's personal data was erased: its data key is destroyed, so every earlier
    personal value reads `[erased]` (see docs/events.md, Personal data)."""

    TYPE = "PersonalDataErased"
    DATA = ErasedData


@dataclass(frozen=True, kw_only=True)
class TouchRecorded(LeadEvent[TouchData]):
    """The same person came in again (capture or import); no new lead was created."""

    TYPE = "TouchRecorded"
    DATA = TouchData
    PERSONAL = ("email", "phone", "wechat", "name", "company", "attributes.*")


@dataclass(frozen=True, kw_only=True)
class LeadUnmerged(LeadEvent[UnmergedData]):
    """Compensates ``LeadMerged``: this lead stands on its own again."""

    TYPE = "LeadUnmerged"
    DATA = UnmergedData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class DuplicateUnmerged(LeadEvent[DuplicateUnmergedData]):
    """Compensates ``DuplicateMerged`` on the lead that had absorbed the duplicate."""

    TYPE = "DuplicateUnmerged"
    DATA = DuplicateUnmergedData
    PERSONAL = ("reason",)


@dataclass(frozen=True, kw_only=True)
class QualificationRecorded(LeadEvent[QualificationRecordedData]):
    """Sales recorded BANT answers (budget, authority, need, timeline)."""

    TYPE = "QualificationRecorded"
    DATA = QualificationRecordedData
    PERSONAL = ("note",)


@dataclass(frozen=True, kw_only=True)
class SlaBreached(LeadEvent[SlaBreachedData]):
    """Someone did not act by an SLA deadline (recorded by ``leadflow sweep``)."""

    TYPE = "SlaBreached"
    DATA = SlaBreachedData


@dataclass(frozen=True, kw_only=True)
class FollowUpDue(LeadEvent[FollowUpDueData]):
    """A reminder: a no-follow-up recycle or an SLA breach is near (``leadflow sweep``)."""

    TYPE = "FollowUpDue"
    DATA = FollowUpDueData


@dataclass(frozen=True, kw_only=True)
class HandOffEscalated(LeadEvent[HandOffEscalatedData]):
    """A breached hand-off was escalated to a manager, and perhaps reassigned."""

    TYPE = "HandOffEscalated"
    DATA = HandOffEscalatedData


@dataclass(frozen=True, kw_only=True)
class LeadRecycled(LeadEvent[RecycledData]):
    """The lead was recycled (back to marketing); the stage moves follow as their own events."""

    TYPE = "LeadRecycled"
    DATA = RecycledData
    PERSONAL = ("reason",)


EVENT_TYPES: dict[str, type[LeadEvent[Any]]] = {
    cls.TYPE: cls
    for cls in (
        LeadCaptured,
        ProfileUpdated,
        ActivityRecorded,
        LeadScored,
        StageChanged,
        StatusChanged,
        LeadAssigned,
        LeadClaimed,
        LeadReleased,
        LeadHandedOff,
        HandOffAccepted,
        HandOffRejected,
        LeadConverted,
        DealWon,
        DealLost,
        LeadChurned,
        LeadDisqualified,
        LeadMerged,
        DuplicateMerged,
        PersonalDataErased,
        # dedupe and merge (issue 3)
        TouchRecorded,
        LeadUnmerged,
        DuplicateUnmerged,
        # policies: scoring, recycling and SLAs
        QualificationRecorded,
        SlaBreached,
        HandOffEscalated,
        LeadRecycled,
        # reminders (issue 12)
        FollowUpDue,
    )
}
"""Every lead event type by its stable name."""

register_events(*EVENT_TYPES.values())
