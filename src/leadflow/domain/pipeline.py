"""The pipeline: an organisation's stages, statuses, transitions and automation rules.

A pipeline is configuration, loaded from TOML and validated by pydantic. Every
validated pipeline has a content hash (:attr:`Pipeline.version`); events produced
under it record that hash, so any past decision can name the rules that were in force.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from leadflow.domain.automation_loops import automation_loops
from leadflow.domain.bounds import (
    ATTRIBUTE_KEY_MAX,
    CAPACITY_MAX,
    CLAIM_LIMIT_MAX,
    DIMENSIONS_MAX,
    DURATION_MAX,
    PIPELINE_NAME_MAX,
    POINTS_MAX,
    SCORE_MAX,
    Id,
    Label,
    dimension_problem,
)
from leadflow.domain.personal_data import DEFAULT_ATTRIBUTES as DEFAULT_PERSONAL_ATTRIBUTES
from leadflow.domain.personal_data import LEAD_FIELDS
from leadflow.errors import IllegalTransition, InvalidInput, PipelineInvalid

__all__ = [
    "BUILT_IN_GROUPINGS",
    "AssignmentRule",
    "AssignmentRules",
    "AutomationRule",
    "BantRule",
    "BehaviourRule",
    "CaptureRules",
    "DecayRule",
    "DedupeRules",
    "HandoffSlaRule",
    "MqlRule",
    "NoFollowUpRule",
    "Pipeline",
    "PoolRules",
    "ProfileRule",
    "RecyclingRules",
    "RejectionRecycleRule",
    "ReportingRules",
    "ScoringRules",
    "SlaRules",
    "StageConfig",
    "StageSlaRule",
    "StalledRule",
    "StatusConfig",
    "TransitionKind",
    "parse_pipeline",
    "parse_pipeline_toml",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_NAME = r"^[a-z][a-z0-9_]*$"


def _parse_duration(value: Any) -> Any:
    """Accept ``"2d"``, ``"36h"``, ``"90m"`` besides ISO 8601 (``"P2D"``) and seconds."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        try:
            return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        except OverflowError:
            limit = f"{DURATION_MAX.days}d"
            raise ValueError(f"{value!r} is longer than the limit of {limit}") from None
    return value


def _bounded(value: timedelta, zero: bool) -> timedelta:
    if value < timedelta(0) or (value == timedelta(0) and not zero):
        raise ValueError("must be more than 0" if not zero else "must not be negative")
    if value > DURATION_MAX:
        raise ValueError(f"is longer than the limit of {DURATION_MAX.days}d")
    return value


Duration = Annotated[
    timedelta, BeforeValidator(_parse_duration), AfterValidator(lambda v: _bounded(v, False))
]
"""More than 0, at most :data:`~leadflow.domain.bounds.DURATION_MAX`."""
DurationOrZero = Annotated[
    timedelta, BeforeValidator(_parse_duration), AfterValidator(lambda v: _bounded(v, True))
]
Name = Annotated[str, Field(pattern=_NAME, max_length=PIPELINE_NAME_MAX)]


class TransitionKind(StrEnum):
    """What a stage change means; recorded on every ``StageChanged``."""

    PROMOTION = "promotion"
    REGRESSION = "regression"
    RECYCLE = "recycle"
    EXIT = "exit"
    RE_ENTRY = "re_entry"
    UPSELL = "upsell"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Labelled(_Config):
    label: Label
    labels: dict[Label, Label] = Field(default_factory=dict)
    """Display labels in other languages, keyed by language tag (e.g. ``zh``)."""

    def label_in(self, lang: str) -> str:
        """The label in ``lang`` (``labels.<lang>``), else ``label``."""
        return self.labels.get(lang) or self.label


class StageConfig(_Labelled):
    team: Label | None = None
    """The team that owns leads in this stage (shown by ``pipeline show``; assignment does
    not read it: ``[assignment]`` names its teams itself)."""
    sla: Duration | None = None
    """How long a lead may sit in this stage before its owner has breached the SLA."""
    sla_remind_before: Duration | None = None
    """Record a reminder (``FollowUpDue``) this long before the stage SLA is breached."""
    transitions: dict[str, TransitionKind] = Field(default_factory=dict)
    """The stages a lead may move to from here, each with what the move means."""
    statuses: list[str] | None = None
    """Statuses allowed while in this stage; ``None`` allows every status."""


class StatusConfig(_Labelled):
    pass


class RuleCondition(_Config):
    event: str | None = None
    """Event type that triggers the rule (e.g. ``HandOffAccepted``); any event if unset."""
    stage: str | None = None
    """The lead's stage after the event."""
    status: str | None = None
    """The lead's status after the event."""
    data: dict[str, str | int | bool] = Field(default_factory=dict)
    """Equality conditions on the triggering event's payload."""


class RuleAction(_Config):
    stage: str | None = None
    status: str | None = None

    @model_validator(mode="after")
    def _sets_something(self) -> RuleAction:
        if self.stage is None and self.status is None:
            raise ValueError("set at least one of stage, status")
        return self


class AutomationRule(_Config):
    """When the condition holds after an event, change stage and/or status.

    Each change the rule makes is its own event, whose actor is ``system:<id>``.
    """

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=PIPELINE_NAME_MAX)]
    description: Annotated[str, Field(max_length=2000)] = ""
    when: RuleCondition
    then: RuleAction


ContactField = Literal["email", "phone", "wechat"]
CONTACT_FIELDS: tuple[ContactField, ...] = ("email", "phone", "wechat")


class CaptureRules(_Config):
    contact_fields: list[ContactField] = Field(default_factory=lambda: list(CONTACT_FIELDS))
    """A lead needs at least one of these to be captured."""
    default_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "CN"
    """Region used to read phone numbers written without a country code."""

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers

        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. CN, US, GB)")
        return value

    @field_validator("contact_fields")
    @classmethod
    def _some_contact(cls, value: list[ContactField]) -> list[ContactField]:
        if not value:
            raise ValueError("name at least one of: email, phone, wechat")
        if len(set(value)) != len(value):
            raise ValueError("a field appears twice")
        return value


# ---- dedupe, assignment and the public pool (issue 3, parts 2 and 4) ------------------------


class DedupeRules(_Config):
    """Which normalised contact details identify a person (see ``leadflow.dedupe``)."""

    keys: list[ContactField] = Field(default_factory=lambda: list(CONTACT_FIELDS))
    """Match on these, in priority order; empty turns dedupe off."""
    adopt_new_keys: bool = True
    """A touch that matched also brings contact details not yet known (e.g. a new email):
    reserve them for the matched lead, so the next capture under them matches too."""

    @field_validator("keys")
    @classmethod
    def _unique(cls, value: list[ContactField]) -> list[ContactField]:
        if len(set(value)) != len(value):
            raise ValueError("a key appears twice")
        return value


RuleKey = Annotated[str, Field(pattern=r"^(source|campaign|[A-Za-z][A-Za-z0-9_.-]{0,63})$")]


class AssignmentRule(_Config):
    """Leads whose fields all match ``when`` go to ``team`` (by the strategy) or to ``rep``.

    ``when`` keys are ``source``, ``campaign`` or attribute names (``industry``,
    ``region``, …); a value may be a list of accepted values.
    """

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=PIPELINE_NAME_MAX)]
    description: Annotated[str, Field(max_length=2000)] = ""
    when: dict[RuleKey, str | list[str]]
    team: Label | None = None
    rep: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AssignmentRule:
        if (self.team is None) == (self.rep is None):
            raise ValueError("set exactly one of team, rep")
        if not self.when:
            raise ValueError("when: name at least one field to match")
        return self


DEFAULT_CLOSED_STAGES = ("customer", "disqualified", "churned")


class AssignmentRules(_Config):
    """How leads are given to reps (see ``leadflow.assignment``)."""

    on_capture: bool = True
    """Assign each new lead at capture; otherwise it waits in the public pool."""
    strategy: Literal["round_robin", "weighted"] = "round_robin"
    """round_robin: the available rep with the fewest open leads; weighted: the fewest
    open leads per unit of the rep's weight (their capacity share)."""
    default_team: Label | None = None
    """Candidates when no rule matches; unset means every rep on the roster."""
    max_open_leads: Annotated[int, Field(ge=1, le=CAPACITY_MAX)] | None = None
    """Default per-rep cap on open leads; a rep's own capacity overrides it."""
    closed_stages: list[Name] = Field(default_factory=lambda: list(DEFAULT_CLOSED_STAGES))
    """A lead in one of these stages no longer counts toward its owner's open leads. Unset:
    those of ``customer``, ``disqualified``, ``churned`` that the pipeline has."""
    departure_to_manager: list[Name] = Field(default_factory=list)
    """When a rep leaves, their leads in these stages go to a manager of their team (deals
    and accounts need a person who knows them); every other lead they own is reassigned by
    the rules, or goes back to the pool (closed ones are released)."""
    require_manager: bool = False
    """Only a manager of the target rep's team (or a ``system:`` actor) may ``assign``."""
    rules: list[AssignmentRule] = Field(default_factory=list)
    """Attribute rules, first match wins."""


class PoolRules(_Config):
    """The public pool: unowned leads that reps claim."""

    daily_claim_limit: Annotated[int, Field(ge=0, le=CLAIM_LIMIT_MAX)] | None = None
    """How many leads one rep may claim per day; unset means no limit."""
    reclaim_after: DurationOrZero = timedelta(0)
    """A rep who lost a lead may not claim it back until this long after losing it."""
    day_timezone: str = "UTC"
    """The time zone whose midnight starts a new claim day."""

    @field_validator("day_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None
        return value


# ---- policies: scoring, recycling and SLAs (docs/pipeline.md) ------------------------------

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=PIPELINE_NAME_MAX)]
Points = Annotated[float, Field(allow_inf_nan=False, ge=-POINTS_MAX, le=POINTS_MAX)]
ScoreLevel = Annotated[float, Field(allow_inf_nan=False, ge=-SCORE_MAX, le=SCORE_MAX)]


class ProfileRule(_Config):
    """Profile fit: while ``field`` meets the condition, the lead holds ``points``.

    Exactly one condition: ``equals``, ``one_of`` or ``present``.
    """

    id: RuleId
    field: Annotated[
        str,
        Field(
            pattern=r"^(email|phone|wechat|name|company|source|campaign"
            r"|attributes\.[A-Za-z][A-Za-z0-9_.-]*)$"
        ),
    ]
    equals: str | None = None
    one_of: list[str] | None = None
    present: bool | None = None
    points: Points

    @model_validator(mode="after")
    def _one_condition(self) -> ProfileRule:
        given = [k for k in ("equals", "one_of", "present") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of equals, one_of, present")
        return self


class BehaviourRule(_Config):
    """An activity of the lead is worth ``points``, at most ``cap`` per rolling ``per``."""

    id: RuleId
    activity: str
    points: Points
    cap: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    per: Duration | None = None

    @model_validator(mode="after")
    def _cap_has_period(self) -> BehaviourRule:
        if (self.cap is None) != (self.per is None):
            raise ValueError("cap and per go together")
        return self


class DecayRule(_Config):
    """Per full ``every`` without activity, lose ``points`` or ``percent`` of the score."""

    id: RuleId = "decay"
    every: Duration
    points: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    percent: Annotated[float, Field(gt=0, le=100)] | None = None
    stages: list[Name] | None = None
    """Stages in which scores decay; every stage if unset."""

    @model_validator(mode="after")
    def _points_or_percent(self) -> DecayRule:
        if (self.points is None) == (self.percent is None):
            raise ValueError("set exactly one of points, percent")
        if self.every <= timedelta(0):
            raise ValueError("every must be a positive duration")
        return self


class MqlRule(_Config):
    """A score crossing ``threshold`` upwards promotes the lead to ``stage``."""

    id: RuleId = "mql-threshold"
    threshold: ScoreLevel
    stage: Name = "mql"
    from_stages: list[Name]


class BantRule(_Config):
    """At least ``required`` of budget, authority, need, timeline → ``status``."""

    id: RuleId = "bant"
    required: Annotated[int, Field(ge=1, le=4)] = 3
    stages: list[Name]
    """Stages in which a qualification is decided."""
    status: Name = "qualified"


class ScoringRules(_Config):
    min_score: ScoreLevel = 0
    max_score: ScoreLevel | None = None
    profile: list[ProfileRule] = Field(default_factory=list)
    behaviour: list[BehaviourRule] = Field(default_factory=list)
    negative: list[BehaviourRule] = Field(default_factory=list)
    """Negative signals (unsubscribe, email bounce): points below zero."""
    decay: DecayRule | None = None
    mql: MqlRule | None = None
    bant: BantRule | None = None


class NoFollowUpRule(_Config):
    """An owned lead with no follow-up within ``after`` of assignment returns to the pool."""

    id: RuleId = "no-follow-up"
    after: Duration
    stages: list[Name] | None = None
    """Stages the rule watches; every stage if unset."""
    remind_before: Duration | None = None
    """Record a reminder (``FollowUpDue``) this long before the lead would be released."""


class StalledRule(_Config):
    """A lead in ``stage`` with no activity for ``after`` is recycled to ``to_stage``."""

    id: RuleId
    stage: Name
    after: Duration
    to_stage: Name
    to_status: Name | None = None


class RejectionRecycleRule(_Config):
    """A rejected hand-off is recycled; the event records the rejection's reason.

    Without ``to_stage``/``to_status`` the move is left to automation rules.
    """

    id: RuleId = "handoff-rejected"
    to_stage: Name | None = None
    to_status: Name | None = None


class RecyclingRules(_Config):
    no_follow_up: NoFollowUpRule | None = None
    stalled: list[StalledRule] = Field(default_factory=list)
    on_rejection: RejectionRecycleRule | None = None


class HandoffSlaRule(_Config):
    """A hand-off neither accepted nor rejected by its ``sla_due`` is breached."""

    id: RuleId = "handoff-sla"
    escalate_to: Id
    """Who is told (a manager id)."""
    reassign_to: Id | None = None
    """If set, the pending hand-off moves to this person with a fresh SLA."""
    remind_before: Duration | None = None
    """Record a reminder (``FollowUpDue``) this long before the hand-off SLA is breached."""


class StageSlaRule(_Config):
    """A lead still in a stage past that stage's ``sla`` is breached (``stages.<name>.sla``)."""

    id: RuleId = "stage-sla"
    stages: list[Name] | None = None
    """Stages watched; every stage with an ``sla`` if unset."""


class SlaRules(_Config):
    handoff: HandoffSlaRule | None = None
    stage: StageSlaRule | None = None


class PersonalDataRules(_Config):
    """What the pipeline adds to the personal data the events declare (see
    ``leadflow.domain.personal_data``)."""

    attributes: list[Annotated[str, Field(min_length=1, max_length=ATTRIBUTE_KEY_MAX)]] = Field(
        default_factory=lambda: list(DEFAULT_PERSONAL_ATTRIBUTES)
    )
    """Attributes whose values are personal: encrypted per lead, erased with it."""


class StreamRules(_Config):
    """What ``leadflow publish`` sends (see docs/kafka.md)."""

    personal_data: Literal["omit", "clear"] = "omit"
    """``omit``: published events leave personal fields out; ``clear``: they carry them
    (``[erased]`` once erased). ``PersonalDataErased`` is published either way."""


BUILT_IN_GROUPINGS: tuple[str, ...] = ("source", "campaign", "owner", "region", "cohort")
"""What every report and ``funnel --by`` may group by, whatever the pipeline lists:
``source``, ``campaign`` and ``region`` as captured, ``owner`` at the instant, ``cohort``
the capture month. :meth:`Pipeline.groupings` adds the pipeline's reporting dimensions."""


class ReportingRules(_Config):
    """What reports may group by besides :data:`BUILT_IN_GROUPINGS`."""

    dimensions: list[Any] = Field(default_factory=list)
    """Attribute names (``industry``): each lead's value of each, as of any instant, is
    kept in a read model. Checked by :meth:`Pipeline._dimensions_allowed`: never a personal
    attribute, a contact field, a built-in grouping, a duplicate or a bad name."""


_NEW_SECTIONS = ("personal_data", "stream", "reporting")
"""Sections added after stores were written: left out of the content hash while at their
defaults, so a pipeline activated before keeps its version."""


class Pipeline(_Config):
    name: str
    main_path: list[Name]
    """The stages of the funnel, in order; conversion is measured along this path."""
    entry_stages: list[Name]
    """Stages a lead may be captured into; the first is the default."""
    initial_status: Name
    stages: dict[Name, StageConfig]
    statuses: dict[Name, StatusConfig]
    automation: list[AutomationRule] = Field(default_factory=list)
    capture: CaptureRules = Field(default_factory=CaptureRules)
    dedupe: DedupeRules = Field(default_factory=DedupeRules)
    assignment: AssignmentRules = Field(default_factory=AssignmentRules)
    pool: PoolRules = Field(default_factory=PoolRules)
    handoff_sla: Duration = timedelta(days=2)
    """How long sales has to accept or reject a hand-off."""
    scoring: ScoringRules = Field(default_factory=ScoringRules)
    recycling: RecyclingRules = Field(default_factory=RecyclingRules)
    sla: SlaRules = Field(default_factory=SlaRules)
    personal_data: PersonalDataRules = Field(default_factory=PersonalDataRules)
    stream: StreamRules = Field(default_factory=StreamRules)
    reporting: ReportingRules = Field(default_factory=ReportingRules)

    @model_validator(mode="before")
    @classmethod
    def _default_closed_stages(cls, data: Any) -> Any:
        """Unset closed stages are the default ones this pipeline has (a pipeline without a
        ``churned`` stage, or without ``[assignment]``, is valid)."""
        if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
            return data
        assignment = data.get("assignment", {})
        if not isinstance(assignment, dict) or "closed_stages" in assignment:
            return data
        closed = [s for s in DEFAULT_CLOSED_STAGES if s in data["stages"]]
        return {**data, "assignment": {**assignment, "closed_stages": closed}}

    @model_validator(mode="after")
    def _references_resolve(self) -> Pipeline:
        problems: list[tuple[str, str]] = []
        stages, statuses = self.stages, self.statuses

        def check_stage(key: str, name: str | None) -> None:
            if name is not None and name not in stages:
                problems.append((key, f"unknown stage {name!r}"))

        def check_status(key: str, name: str | None) -> None:
            if name is not None and name not in statuses:
                problems.append((key, f"unknown status {name!r}"))

        for i, name in enumerate(self.main_path):
            check_stage(f"main_path[{i}]", name)
        if len(set(self.main_path)) != len(self.main_path):
            problems.append(("main_path", "a stage appears twice"))
        if not self.entry_stages:
            problems.append(("entry_stages", "at least one entry stage is required"))
        for i, name in enumerate(self.entry_stages):
            check_stage(f"entry_stages[{i}]", name)
        check_status("initial_status", self.initial_status)
        for stage_name, stage in stages.items():
            for target in stage.transitions:
                check_stage(f"stages.{stage_name}.transitions.{target}", target)
                if target == stage_name:
                    problems.append(
                        (
                            f"stages.{stage_name}.transitions.{target}",
                            "a stage cannot move to itself",
                        )
                    )
            for i, status in enumerate(stage.statuses or []):
                check_status(f"stages.{stage_name}.statuses[{i}]", status)
        seen: set[str] = set()
        for i, rule in enumerate(self.automation):
            key = f"automation[{i}]"
            if rule.id in seen:
                problems.append((f"{key}.id", f"duplicate rule id {rule.id!r}"))
            seen.add(rule.id)
            check_stage(f"{key}.when.stage", rule.when.stage)
            check_status(f"{key}.when.status", rule.when.status)
            check_stage(f"{key}.then.stage", rule.then.stage)
            check_status(f"{key}.then.status", rule.then.status)
            if rule.when.event is not None:
                from leadflow.domain.events import EVENT_TYPES  # events import pipeline types

                if rule.when.event not in EVENT_TYPES:
                    problems.append(
                        (f"{key}.when.event", f"unknown event type {rule.when.event!r}")
                    )
        for i, name in enumerate(self.assignment.closed_stages):
            check_stage(f"assignment.closed_stages[{i}]", name)
        for i, name in enumerate(self.assignment.departure_to_manager):
            check_stage(f"assignment.departure_to_manager[{i}]", name)
        rule_ids: set[str] = set()
        for i, arule in enumerate(self.assignment.rules):
            if arule.id in rule_ids:
                problems.append((f"assignment.rules[{i}].id", f"duplicate rule id {arule.id!r}"))
            rule_ids.add(arule.id)
        if problems:
            raise PipelineInvalid(problems)
        return self

    @model_validator(mode="after")
    def _policies_resolve(self) -> Pipeline:
        from leadflow.domain.events import ActivityKind  # events import pipeline types

        problems: list[tuple[str, str]] = []
        stages, statuses = self.stages, self.statuses
        rule_ids: dict[str, str] = {r.id: f"automation[{i}]" for i, r in enumerate(self.automation)}

        def rule_id(key: str, value: str) -> None:
            if value in rule_ids:
                problems.append(
                    (f"{key}.id", f"rule id {value!r} is also used by {rule_ids[value]}")
                )
            rule_ids.setdefault(value, key)

        def stage(key: str, name: str | None) -> None:
            if name is not None and name not in stages:
                problems.append((key, f"unknown stage {name!r}"))

        def status(key: str, name: str | None) -> None:
            if name is not None and name not in statuses:
                problems.append((key, f"unknown status {name!r}"))

        def move(key: str, from_stage: str, to_stage: str) -> None:
            if (
                from_stage in stages
                and to_stage in stages
                and from_stage != to_stage
                and to_stage not in stages[from_stage].transitions
            ):
                problems.append((key, f"stage {from_stage!r} has no transition to {to_stage!r}"))

        def allowed_in(key: str, stage_name: str | None, status_name: str | None) -> None:
            permitted = stages[stage_name].statuses if stage_name in stages else None
            if status_name is not None and permitted is not None and status_name not in permitted:
                problems.append(
                    (key, f"stage {stage_name!r} does not allow status {status_name!r}")
                )

        scoring = self.scoring
        if scoring.max_score is not None and scoring.max_score <= scoring.min_score:
            problems.append(("scoring.max_score", "must be above scoring.min_score"))
        if scoring.mql is not None and scoring.mql.threshold <= scoring.min_score:
            # A threshold at or below the lowest score is crossed by no lead.
            problems.append(("scoring.mql.threshold", "must be above scoring.min_score"))
        for loop in automation_loops(self.automation):
            problems.append(
                ("automation", "rules trigger each other in a loop: " + " -> ".join(loop))
            )
        for i, fit in enumerate(scoring.profile):
            rule_id(f"scoring.profile[{i}]", fit.id)
        for section in ("behaviour", "negative"):
            for i, rule in enumerate(getattr(scoring, section)):
                key = f"scoring.{section}[{i}]"
                rule_id(key, rule.id)
                if rule.activity not in ActivityKind.__members__.values():
                    problems.append((f"{key}.activity", f"unknown activity {rule.activity!r}"))
                if section == "behaviour" and rule.points <= 0:
                    problems.append((f"{key}.points", "must be above 0 (use scoring.negative)"))
                if section == "negative" and rule.points >= 0:
                    problems.append((f"{key}.points", "a negative signal must be below 0"))
                if section == "negative" and rule.cap is not None:
                    problems.append((f"{key}.cap", "negative signals are not capped"))
        if scoring.decay is not None:
            rule_id("scoring.decay", scoring.decay.id)
            for i, name in enumerate(scoring.decay.stages or []):
                stage(f"scoring.decay.stages[{i}]", name)
        if scoring.mql is not None:
            rule_id("scoring.mql", scoring.mql.id)
            stage("scoring.mql.stage", scoring.mql.stage)
            for i, name in enumerate(scoring.mql.from_stages):
                stage(f"scoring.mql.from_stages[{i}]", name)
                move(f"scoring.mql.from_stages[{i}]", name, scoring.mql.stage)
        if scoring.bant is not None:
            rule_id("scoring.bant", scoring.bant.id)
            status("scoring.bant.status", scoring.bant.status)
            for i, name in enumerate(scoring.bant.stages):
                stage(f"scoring.bant.stages[{i}]", name)
                allowed_in(f"scoring.bant.stages[{i}]", name, scoring.bant.status)
        recycling = self.recycling

        def remind(key: str, before: timedelta | None, limit: timedelta | None) -> None:
            if before is not None and not timedelta(0) < before < (limit or timedelta.max):
                problems.append((key, "must be more than 0 and less than the time it warns of"))

        for name, config in stages.items():
            if config.sla_remind_before is not None and config.sla is None:
                problems.append((f"stages.{name}.sla_remind_before", "the stage has no sla"))
            remind(f"stages.{name}.sla_remind_before", config.sla_remind_before, config.sla)
        if self.sla.handoff is not None:
            remind("sla.handoff.remind_before", self.sla.handoff.remind_before, self.handoff_sla)
        if recycling.no_follow_up is not None:
            remind(
                "recycling.no_follow_up.remind_before",
                recycling.no_follow_up.remind_before,
                recycling.no_follow_up.after,
            )
            rule_id("recycling.no_follow_up", recycling.no_follow_up.id)
            for i, name in enumerate(recycling.no_follow_up.stages or []):
                stage(f"recycling.no_follow_up.stages[{i}]", name)
        for i, stalled in enumerate(recycling.stalled):
            key = f"recycling.stalled[{i}]"
            rule_id(key, stalled.id)
            stage(f"{key}.stage", stalled.stage)
            stage(f"{key}.to_stage", stalled.to_stage)
            status(f"{key}.to_status", stalled.to_status)
            if stalled.stage == stalled.to_stage:
                problems.append((f"{key}.to_stage", "must differ from stage"))
            move(f"{key}.to_stage", stalled.stage, stalled.to_stage)
            allowed_in(f"{key}.to_status", stalled.to_stage, stalled.to_status)
        if recycling.on_rejection is not None:
            rule_id("recycling.on_rejection", recycling.on_rejection.id)
            stage("recycling.on_rejection.to_stage", recycling.on_rejection.to_stage)
            status("recycling.on_rejection.to_status", recycling.on_rejection.to_status)
            allowed_in(
                "recycling.on_rejection.to_status",
                recycling.on_rejection.to_stage,
                recycling.on_rejection.to_status,
            )
        if self.sla.handoff is not None:
            rule_id("sla.handoff", self.sla.handoff.id)
        if self.sla.stage is not None:
            rule_id("sla.stage", self.sla.stage.id)
            for i, name in enumerate(self.sla.stage.stages or []):
                stage(f"sla.stage.stages[{i}]", name)
                if name in stages and stages[name].sla is None:
                    problems.append((f"sla.stage.stages[{i}]", f"stage {name!r} has no sla"))
        if problems:
            raise PipelineInvalid(problems)
        return self

    @model_validator(mode="after")
    def _dimensions_allowed(self) -> Pipeline:
        """A reporting dimension is kept per lead in a read model and printed in reports:
        it may never be personal (``[personal_data] attributes``, a contact field)."""
        problems: list[tuple[str, str]] = []
        dimensions = self.reporting.dimensions
        if len(dimensions) > DIMENSIONS_MAX:
            problems.append(
                (
                    "reporting.dimensions",
                    f"lists {len(dimensions)}; the limit is {DIMENSIONS_MAX}",
                )
            )
        personal = set(self.personal_data.attributes)
        seen: set[str] = set()
        for i, name in enumerate(dimensions):
            key = f"reporting.dimensions[{i}]"
            problem = dimension_problem(name)
            if problem is None and name in seen:
                problem = f"{name!r} appears twice"
            elif problem is None and name in LEAD_FIELDS:
                problem = f"{name!r} is a contact field: personal data, never a dimension"
            elif problem is None and name in personal:
                problem = f"{name!r} is personal ([personal_data] attributes): never a dimension"
            elif problem is None and name in BUILT_IN_GROUPINGS:
                problem = f"{name!r} is built in: every report already groups by it"
            if problem is not None:
                problems.append((key, problem))
            if isinstance(name, str):
                seen.add(name)
        if problems:
            raise PipelineInvalid(problems)
        return self

    def groupings(self) -> tuple[str, ...]:
        """What ``funnel --by`` and the reports accept under this pipeline: the built-in
        groupings, then the reporting dimensions (the one home of the accepted list)."""
        return (*BUILT_IN_GROUPINGS, *self.reporting.dimensions)

    def check_grouping(self, by: str | None, field: str = "by") -> str | None:
        """``by`` if this pipeline's reports may group by it (``None`` stays ``None``);
        otherwise :class:`InvalidInput` naming ``field`` and the accepted groupings."""
        if by is not None and by not in self.groupings():
            raise InvalidInput(field, f"{by!r} is not one of: {', '.join(self.groupings())}")
        return by

    # -- identity ---------------------------------------------------------------

    def canonical_json(self) -> bytes:
        # Not key-sorted: the order of stages and statuses is meaningful (display order).
        document = self.model_dump(mode="json")
        # Settings added later count only when set, so that the versions of the pipelines
        # written before them (and recorded in every decision) stay what they were.
        for stage in document["stages"].values():
            if stage.get("sla_remind_before") is None:
                stage.pop("sla_remind_before", None)
        for section in (document["recycling"].get("no_follow_up"), document["sla"].get("handoff")):
            if section is not None and section.get("remind_before") is None:
                section.pop("remind_before", None)
        for name in _NEW_SECTIONS:
            if getattr(self, name) == type(getattr(self, name))():
                del document[name]
        return orjson.dumps(document)

    @property
    def version(self) -> str:
        """Content hash of the validated pipeline: comments and formatting do not count."""
        cached: str | None = self.__dict__.get("_version")
        if cached is None:
            cached = hashlib.sha256(self.canonical_json()).hexdigest()[:16]
            self.__dict__["_version"] = cached
        return cached

    # -- rules ------------------------------------------------------------------

    def stage_order(self, stage: str) -> int:
        return list(self.stages).index(stage)

    def transition_kind(self, from_stage: str, to_stage: str, rule: str | None = None) -> str:
        """The kind of an allowed move; raises :class:`IllegalTransition` otherwise."""
        allowed = self.stages[from_stage].transitions
        if to_stage not in allowed:
            raise IllegalTransition("stage", from_stage, to_stage, list(allowed), rule)
        return allowed[to_stage].value

    def check_status(
        self, stage: str, from_status: str, to_status: str, rule: str | None = None
    ) -> None:
        permitted = self.stages[stage].statuses
        if to_status not in self.statuses or (permitted is not None and to_status not in permitted):
            choices = permitted if permitted is not None else list(self.statuses)
            raise IllegalTransition(
                "status", from_status, to_status, [s for s in choices if s != from_status], rule
            )

    def held_state(self, stage: str | None, status: str | None) -> tuple[str, str]:
        """A stage and status a lead may be put in from outside (``import --migrate``):
        a stage of this pipeline (default: the first entry stage) and a status it permits
        (default: the initial status). No transition is asked for: the lead arrives there."""
        stage = stage or self.entry_stages[0]
        if stage not in self.stages:
            raise InvalidInput(
                "stage", f"unknown stage {stage!r}; stages: {', '.join(self.stages)}"
            )
        permitted = self.stages[stage].statuses
        choices = permitted if permitted is not None else list(self.statuses)
        if status is None:
            if self.initial_status not in choices:
                raise InvalidInput(
                    "status",
                    f"stage {stage!r} does not permit the initial status "
                    f"{self.initial_status!r}; give one of: {', '.join(choices)}",
                )
            return stage, self.initial_status
        if status not in self.statuses:
            raise InvalidInput(
                "status", f"unknown status {status!r}; statuses: {', '.join(self.statuses)}"
            )
        if status not in choices:
            raise InvalidInput(
                "status",
                f"stage {stage!r} does not permit {status!r}; it permits: " + ", ".join(choices),
            )
        return stage, status

    def next_on_main_path(self, stage: str) -> str | None:
        if stage not in self.main_path:
            return None
        i = self.main_path.index(stage)
        return self.main_path[i + 1] if i + 1 < len(self.main_path) else None


def parse_pipeline(data: dict[str, Any], source: str = "pipeline") -> Pipeline:
    """Validate a pipeline document; errors name each offending key."""
    try:
        return Pipeline.model_validate(data)
    except PipelineInvalid as exc:
        raise PipelineInvalid(exc.problems, source) from None
    except ValidationError as exc:
        problems: list[tuple[str, str]] = []
        for error in exc.errors():
            inner = error.get("ctx", {}).get("error")
            if isinstance(inner, PipelineInvalid):
                problems.extend(inner.problems)
                continue
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append((key, message))
        raise PipelineInvalid(problems, source) from None


def parse_pipeline_toml(text: str, source: str = "pipeline") -> Pipeline:
    """Validate a pipeline given as TOML text; a syntax error names its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineInvalid([("(syntax)", str(exc))], source) from None
    return parse_pipeline(data, source)
