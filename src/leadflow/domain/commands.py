"""Every command leadflow takes, validated: the one list the CLI, the Python API, replay
and the demo drive.

A command is a frozen pydantic model. Bad input is refused with the field and the
reason (:func:`validate_command`). Who acts and when is not part of a command: the use
case passes it as a :class:`~leadflow.domain.context.Context`.

A :class:`LeadCommand` acts on one lead. Its :meth:`~LeadCommand.decide` is the domain's
decision (a call on :class:`~leadflow.domain.lead.Lead`); the use case around it loads,
checks who may act, and saves. ``RECORDS`` names the event a person's command records, so
that replay can give a recorded history again as the same commands
(:func:`command_for_event`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from leadflow.domain.bounds import (
    ATTRIBUTE_KEY_MAX,
    ATTRIBUTE_VALUE_MAX,
    ATTRIBUTES_MAX,
    NAME_MAX,
    Amount,
    AttributeValue,
    Capacity,
    Currency,
    FreeText,
    Id,
    Label,
    Name,
    PlannedTime,
    Ref,
    Score,
    Weight,
    check_occurred_at,
    line_problem,
)
from leadflow.domain.contact import normalise_email, normalise_phone, normalise_wechat
from leadflow.domain.context import Context
from leadflow.domain.events import ActivityKind
from leadflow.domain.lead import Lead
from leadflow.domain.permissions import require_rep_on_roster
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import Roster
from leadflow.errors import InvalidInput

__all__ = [
    "COMMANDS",
    "AcceptHandOff",
    "AddRep",
    "AssignLead",
    "CaptureLead",
    "ChangeStage",
    "ChangeStatus",
    "ChurnLead",
    "ClaimLead",
    "Command",
    "ConvertLead",
    "DefineTeam",
    "DisqualifyLead",
    "ErasePersonalData",
    "HandOffLead",
    "LeadCommand",
    "LoseDeal",
    "MergeLeads",
    "MigrateLead",
    "RecordAbsence",
    "RecordActivity",
    "RecordQualification",
    "Redistribute",
    "RejectHandOff",
    "ReleaseLead",
    "SetScore",
    "UnmergeLead",
    "UpdateProfile",
    "WinDeal",
    "command_for_event",
    "validate_capture",
    "validate_command",
    "validate_migration",
]

M = TypeVar("M", bound=BaseModel)

_ATTRIBUTE_KEY = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"

Text = FreeText
"""A reason or other required free text: not blank (after stripping), at most 2,000."""


class Command(BaseModel):
    """Base of every command."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    NAME: ClassVar[str]
    """The command's name in logs and results (``change_stage``)."""


class LeadCommand(Command):
    """A command on one lead."""

    RECORDS: ClassVar[str | None] = None
    """The lead event type this command records when a person gives it (for replay)."""

    lead_id: UUID

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        """Ask the lead to decide; it records the resulting events (or refuses)."""
        raise NotImplementedError

    @classmethod
    def from_recorded(cls, lead_id: UUID, data: Mapping[str, Any]) -> Self:
        """The command that recorded an event with this payload."""
        fields = {k: v for k, v in data.items() if k in cls.model_fields and k != "lead_id"}
        return cls.model_validate({"lead_id": lead_id, **fields})


class CaptureLead(Command):
    """A new lead from a form, an import, a partner or an event.

    Contact details are normalised: email lower-cased and validated, phone to E.164
    (read in the pipeline's default region when it has no country code), WeChat id
    lower-cased. At least one of the pipeline's contact fields is required.
    """

    NAME = "capture"

    email: str | None = None
    phone: str | None = None
    wechat: str | None = None
    name: Name | None = None
    company: Name | None = None
    source: Label | None = None
    campaign: Label | None = None
    attributes: Annotated[dict[str, AttributeValue], Field(max_length=ATTRIBUTES_MAX)] = Field(
        default_factory=dict
    )
    stage: Label | None = None
    occurred_at: PlannedTime | None = None
    lead_id: UUID | None = None
    """The new lead's id, if the caller chooses it (default: a random one)."""

    @field_validator("email", "phone", "wechat", "name", "company", "source", "campaign", "stage")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalise_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        region = (info.context or {}).get("region", "CN")
        return None if value is None else normalise_phone(value, region)

    @field_validator("wechat")
    @classmethod
    def _wechat(cls, value: str | None) -> str | None:
        return None if value is None else normalise_wechat(value)

    @field_validator("attributes")
    @classmethod
    def _attribute_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(_ATTRIBUTE_KEY, key):
                raise InvalidInput(
                    f"attributes.{key}",
                    "attribute names start with a letter and use letters, digits, _ . -",
                )
        return value

    def require_contact(self, fields: list[str]) -> None:
        if not any(getattr(self, name) for name in fields):
            raise InvalidInput("contact", "a lead needs at least one of: " + ", ".join(fields))


class MigrateLead(CaptureLead):
    """A lead from another CRM, with the state it had there (``leadflow import --migrate``).

    ``stage`` may be any stage of the pipeline and ``status`` any status it permits
    (:meth:`~leadflow.domain.pipeline.Pipeline.held_state`); ``owner`` must be a rep on the
    roster; ``occurred_at`` is when the other CRM captured it. A person who already has a
    lead is a touch on that lead, as for any capture: the migrated state is not applied.
    """

    NAME = "migrate"

    owner: Id | None = None
    status: Label | None = None
    score: Score | None = None

    @field_validator("owner", "status", "score", mode="before")
    @classmethod
    def _blank_means_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class UpdateProfile(LeadCommand):
    """Change profile or contact fields (``attributes.<key>`` for an attribute; ``None``
    clears a field). New contact values are normalised like a capture's."""

    NAME = "update_profile"
    RECORDS = "ProfileUpdated"
    changes: dict[str, str | None]

    @field_validator("changes")
    @classmethod
    def _contacts(cls, value: dict[str, str | None], info: ValidationInfo) -> dict[str, str | None]:
        region = (info.context or {}).get("region", "CN")
        if len(value) > ATTRIBUTES_MAX:
            raise InvalidInput("changes", f"{len(value)} changes; the limit is {ATTRIBUTES_MAX}")
        out: dict[str, str | None] = {}
        for key, given in value.items():
            _check_change(key, given)
            if given is not None and key == "email":
                given = normalise_email(given)
            elif given is not None and key == "phone":
                given = normalise_phone(given, region)
            elif given is not None and key == "wechat":
                given = normalise_wechat(given)
            out[key] = given
        return out

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.update_profile(dict(self.changes), pipeline, ctx)


class RecordActivity(LeadCommand):
    """Something the lead did (behaviour) or we did (follow-up)."""

    NAME = "record_activity"
    RECORDS = "ActivityRecorded"
    activity: ActivityKind
    detail: Text | None = None
    ref: Ref | None = None

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.record_activity(self.activity, pipeline, ctx, detail=self.detail, ref=self.ref)


class SetScore(LeadCommand):
    """Set the score by hand (rules change it on their own)."""

    NAME = "set_score"
    RECORDS = "LeadScored"
    score: Score
    reason: Text

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.set_score(self.score, self.reason, pipeline, ctx)


class ChangeStage(LeadCommand):
    NAME = "change_stage"
    RECORDS = "StageChanged"
    stage: Label
    reason: Text | None = None

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.change_stage(self.stage, pipeline, ctx, reason=self.reason)


class ChangeStatus(LeadCommand):
    NAME = "change_status"
    RECORDS = "StatusChanged"
    status: Label
    reason: Text | None = None

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.change_status(self.status, pipeline, ctx, reason=self.reason)


class AssignLead(LeadCommand):
    """A manager gives the lead to a rep (``assignment.require_manager``)."""

    NAME = "assign"
    RECORDS = "LeadAssigned"
    owner: Id
    reason: Text | None = None

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.assign(self.owner, pipeline, ctx, reason=self.reason, strategy="manual")


class ClaimLead(LeadCommand):
    """A rep takes a lead from the public pool, within the daily claim limit."""

    NAME = "claim"
    RECORDS = "LeadClaimed"
    owner: Id

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.claim(self.owner, pipeline, ctx)


class ReleaseLead(LeadCommand):
    """The owner gives the lead back to the public pool."""

    NAME = "release"
    RECORDS = "LeadReleased"
    reason: Text

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.release(self.reason, pipeline, ctx)


class HandOffLead(LeadCommand):
    """Marketing hands the lead to a sales rep, who must accept or reject it in time."""

    NAME = "hand_off"
    RECORDS = "LeadHandedOff"
    to_owner: Id
    note: Text | None = None

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.hand_off(self.to_owner, pipeline, ctx, note=self.note)


class AcceptHandOff(LeadCommand):
    NAME = "accept_handoff"
    RECORDS = "HandOffAccepted"

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.accept_handoff(pipeline, ctx)


class RejectHandOff(LeadCommand):
    NAME = "reject_handoff"
    RECORDS = "HandOffRejected"
    reason: Text

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.reject_handoff(self.reason, pipeline, ctx)


class ConvertLead(LeadCommand):
    NAME = "convert"
    RECORDS = "LeadConverted"
    target: Literal["opportunity", "customer"]
    account_ref: Id
    opportunity_ref: Id | None = None
    amount: Amount | None = None

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.convert(
            self.target,
            self.account_ref,
            pipeline,
            ctx,
            opportunity_ref=self.opportunity_ref,
            amount=self.amount,
        )


class WinDeal(LeadCommand):
    NAME = "win"
    RECORDS = "DealWon"
    amount: Amount | None = None
    currency: Currency | None = None

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.win(pipeline, ctx, amount=self.amount, currency=self.currency)


class LoseDeal(LeadCommand):
    NAME = "lose"
    RECORDS = "DealLost"
    reason: Text

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.lose(self.reason, pipeline, ctx)


class ChurnLead(LeadCommand):
    NAME = "churn"
    RECORDS = "LeadChurned"
    reason: Text

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.churn(self.reason, pipeline, ctx)


class DisqualifyLead(LeadCommand):
    NAME = "disqualify"
    RECORDS = "LeadDisqualified"
    reason: Text

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.disqualify(self.reason, pipeline, ctx)


class ErasePersonalData(LeadCommand):
    """Erase a person's personal data for good: the lead's and that of every lead merged
    into it (a merge said they are one person); each one's data key is destroyed."""

    NAME = "erase_personal_data"
    RECORDS = "PersonalDataErased"
    reason: Text


class RecordQualification(LeadCommand):
    """BANT answers; the pipeline's ``[scoring.bant]`` rule may qualify the lead."""

    NAME = "qualify"
    RECORDS = "QualificationRecorded"
    budget: bool | None = None
    authority: bool | None = None
    need: bool | None = None
    timeline: bool | None = None
    note: Text | None = None

    def decide(self, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
        lead.qualify(
            pipeline,
            ctx,
            budget=self.budget,
            authority=self.authority,
            need=self.need,
            timeline=self.timeline,
            note=self.note,
        )


class MergeLeads(Command):
    """Merge a duplicate (``lead_id``) into the lead that survives."""

    NAME = "merge"
    lead_id: UUID
    into_lead_id: UUID


class UnmergeLead(Command):
    """Undo a merge with compensating events; the keys the merge moved move back."""

    NAME = "unmerge"
    lead_id: UUID
    reason: Text


# ---- the roster ---------------------------------------------------------------------


class AddRep(Command):
    """Put a rep on the roster, or change the settings given (the others stay)."""

    NAME = "add_rep"
    rep: Id
    team: Label | None = None
    capacity: Capacity | None = None
    weight: Weight | None = None
    clear: tuple[Label, ...] = ()


class RecordAbsence(Command):
    NAME = "record_absence"
    rep: Id
    start: PlannedTime
    end: PlannedTime
    reason: Text | None = None


class DefineTeam(Command):
    NAME = "define_team"
    team: Annotated[Label, Field(min_length=1)]
    managers: Annotated[tuple[Id, ...], Field(max_length=100)] = ()


class Redistribute(Command):
    """Give a rep's leads to others by policy; with ``leave`` the rep leaves the roster."""

    NAME = "redistribute"
    rep: Id
    reason: Text
    leave: bool = False


COMMANDS: tuple[type[Command], ...] = (
    CaptureLead,
    MigrateLead,
    UpdateProfile,
    RecordActivity,
    SetScore,
    ChangeStage,
    ChangeStatus,
    AssignLead,
    ClaimLead,
    ReleaseLead,
    HandOffLead,
    AcceptHandOff,
    RejectHandOff,
    ConvertLead,
    WinDeal,
    LoseDeal,
    ChurnLead,
    DisqualifyLead,
    ErasePersonalData,
    RecordQualification,
    MergeLeads,
    UnmergeLead,
    AddRep,
    RecordAbsence,
    DefineTeam,
    Redistribute,
)
"""Every command, in the order the docs list them."""

_BY_EVENT: dict[str, type[LeadCommand]] = {
    cls.RECORDS: cls for cls in COMMANDS if issubclass(cls, LeadCommand) and cls.RECORDS is not None
}


_CHANGE_LIMITS = {"name": NAME_MAX, "company": NAME_MAX}


def _check_change(key: str, value: str | None) -> None:
    """A profile change's key and value within the same limits as a capture's."""
    if key.startswith("attributes."):
        name = key.removeprefix("attributes.")
        if not re.fullmatch(_ATTRIBUTE_KEY, name):
            raise InvalidInput(
                key, "attribute names start with a letter and use letters, digits, _ . -"
            )
    elif line_problem(key, ATTRIBUTE_KEY_MAX):
        raise InvalidInput("changes", f"{key[:80]!r} is not a profile field")
    if value is not None:
        problem = line_problem(value, _CHANGE_LIMITS.get(key, ATTRIBUTE_VALUE_MAX))
        if problem:
            raise InvalidInput(key, problem)


def command_for_event(event_type: str) -> type[LeadCommand] | None:
    """The lead command a person gives to record ``event_type`` (``None``: no such command)."""
    return _BY_EVENT.get(event_type)


def validate_capture(data: Mapping[str, Any], pipeline: Pipeline, now: datetime) -> CaptureLead:
    """Capture input validated and normalised under ``pipeline``; ``now`` bounds its time.

    Needs no store: a bulk import validates rows in worker processes with it."""
    command = validate_command(CaptureLead, dict(data), region=pipeline.capture.default_region)
    command.require_contact(list(pipeline.capture.contact_fields))
    # Checked here too, not only when the lead is built, so that a bulk import reports
    # the row instead of failing its batch.
    if command.stage is not None and command.stage not in pipeline.entry_stages:
        raise InvalidInput(
            "stage",
            f"{command.stage!r} is not an entry stage; leads are captured into: "
            + ", ".join(pipeline.entry_stages),
        )
    _check_capture_time(command, now)
    return command


def validate_migration(
    data: Mapping[str, Any], pipeline: Pipeline, roster: Roster, now: datetime
) -> MigrateLead:
    """A lead from another CRM (``import --migrate``) validated: any stage of the
    pipeline, a status that stage permits, an owner on ``roster``."""
    command = validate_command(MigrateLead, dict(data), region=pipeline.capture.default_region)
    command.require_contact(list(pipeline.capture.contact_fields))
    pipeline.held_state(command.stage, command.status)
    if command.owner is not None:
        require_rep_on_roster(command.owner, roster, "owner")
    _check_capture_time(command, now)
    return command


def _check_capture_time(command: CaptureLead, now: datetime) -> None:
    if command.occurred_at is not None:
        check_occurred_at("occurred_at", command.occurred_at, now)


def validate_command(model: type[M], data: dict[str, Any], **context: Any) -> M:
    """Validate ``data`` as ``model``; the first problem becomes an :class:`InvalidInput`."""
    try:
        return model.model_validate(data, context=context)
    except InvalidInput:
        raise
    except ValidationError as exc:
        error = exc.errors()[0]
        inner = error.get("ctx", {}).get("error")
        if isinstance(inner, InvalidInput):
            raise inner from None
        field = ".".join(str(part) for part in error["loc"]) or model.__name__
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "value_error" and inner is not None:
            message = str(inner)  # the bounds' own words, without pydantic's prefix
        else:
            message = error["msg"]
        raise InvalidInput(field, message) from None
