"""How a lead's score and automatic decisions came to be, from its events alone.

``leadflow explain LEAD`` prints this. Nothing is recomputed from today's pipeline:
each step is read from a recorded event (rule, delta, new score, deadline), and an
MQL promotion's threshold is read from the pipeline version the event names, which
was itself recorded when it was activated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from leadflow.domain.events import LeadEvent, LeadScored, StageChanged, payload_json
from leadflow.domain.personal_data import mark
from leadflow.domain.pipeline import Pipeline

__all__ = ["Cause", "ExplainedDecision", "Explanation", "Promotion", "ScoreStep", "explain_lead"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Cause:
    """The lead's event that triggered a rule."""

    sequence: int
    type: str
    """Its event type (``?`` if the history read does not hold it)."""

    def to_json_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "type": self.type}


@dataclass(frozen=True)
class ScoreStep:
    """One score change (``LeadScored``)."""

    sequence: int
    """The event's number in the lead's history."""
    occurred_at: datetime
    actor: str
    rule: str | None
    """``None`` when a person set the score."""
    pipeline_version: str
    kind: str
    delta: float
    score: float
    """The score after this step."""
    points: float | None
    """What the rule granted before the score was kept within its bounds."""
    reason: str
    due_at: datetime | None
    """For decay: the deadline the step fired for."""
    cause: Cause | None
    personal: tuple[str, ...] = ()
    """The paths of its JSON that hold personal values (``reason``, a free text)."""

    def to_json_dict(self, hide: str | None = None) -> dict[str, Any]:
        """``hide``: the marker put in place of each personal value (``None``: shown)."""
        item = {
            "sequence": self.sequence,
            "type": LeadScored.TYPE,
            "occurred_at": _iso(self.occurred_at),
            "actor": self.actor,
            "rule": self.rule,
            "pipeline_version": self.pipeline_version,
            "kind": self.kind,
            "delta": self.delta,
            "score": self.score,
            "points": self.points,
            "reason": self.reason,
            "due_at": _iso(self.due_at),
            "cause": self.cause.to_json_dict() if self.cause is not None else None,
        }
        return _hidden(self.personal, hide, item)


@dataclass(frozen=True)
class Promotion:
    """A move into the MQL stage by the MQL threshold rule (``StageChanged``)."""

    sequence: int
    occurred_at: datetime
    actor: str
    rule: str
    pipeline_version: str
    from_stage: str
    stage: str
    score: float
    """The score when the rule promoted the lead."""
    threshold: float | None
    """From the pipeline version the event records; ``None`` if that version is unknown."""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "type": StageChanged.TYPE,
            "occurred_at": _iso(self.occurred_at),
            "actor": self.actor,
            "rule": self.rule,
            "pipeline_version": self.pipeline_version,
            "from_stage": self.from_stage,
            "stage": self.stage,
            "score": self.score,
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class ExplainedDecision:
    """Any other event a rule recorded (releases, breaches, escalations, recycles, moves)."""

    sequence: int
    occurred_at: datetime
    type: str
    actor: str
    rule: str
    pipeline_version: str | None
    due_at: datetime | None
    """For a time-driven rule: the deadline it fired for."""
    details: dict[str, Any]
    """The rest of the event's payload, as JSON values (times ISO 8601)."""
    personal: tuple[str, ...] = ()
    """The paths of its JSON that hold personal values (``details.reason``, …)."""

    def to_json_dict(self, hide: str | None = None) -> dict[str, Any]:
        """``hide``: the marker put in place of each personal value (``None``: shown)."""
        item = {
            "sequence": self.sequence,
            "type": self.type,
            "occurred_at": _iso(self.occurred_at),
            "actor": self.actor,
            "rule": self.rule,
            "pipeline_version": self.pipeline_version,
            "due_at": _iso(self.due_at),
            "details": self.details,
        }
        return _hidden(self.personal, hide, item)


@dataclass(frozen=True)
class Explanation:
    lead_id: UUID
    score: float
    steps: tuple[ScoreStep, ...]
    promotions: tuple[Promotion, ...]
    decisions: tuple[ExplainedDecision, ...]

    @property
    def consistent(self) -> bool:
        """Each step's score is the previous score plus its delta."""
        score = 0.0
        for step in self.steps:
            if round(score + step.delta, 2) != round(step.score, 2):
                return False
            score = step.score
        return round(score, 2) == round(self.score, 2)

    def to_json_dict(self, hide: str | None = None) -> dict[str, Any]:
        """The documented ``explain --json`` shape (docs/cli.md): objects all the way down.
        ``hide``: the marker put in place of each personal value, for a reader who may not
        read them (``None``: every value is shown)."""
        return {
            "lead_id": str(self.lead_id),
            "score": self.score,
            "consistent": self.consistent,
            "steps": [step.to_json_dict(hide) for step in self.steps],
            "promotions": [promotion.to_json_dict() for promotion in self.promotions],
            "decisions": [decision.to_json_dict(hide) for decision in self.decisions],
        }


def _hidden(paths: tuple[str, ...], hide: str | None, item: dict[str, Any]) -> dict[str, Any]:
    return mark(item, paths, hide) if hide is not None else item


def _personal(event: LeadEvent[Any], shown: dict[str, Any], prefix: str = "") -> tuple[str, ...]:
    """The paths of ``shown`` (an item's JSON) that hold one of the event's personal fields
    (its class's ``PERSONAL``); a dict field such as ``attributes.*`` is hidden whole."""
    fields = {spec.partition(".")[0] for spec in type(event).PERSONAL}
    return tuple(
        f"{prefix}{name}" for name in sorted(fields) if shown.get(name) not in (None, "", {})
    )


_NOT_DETAILS = {"rule", "pipeline_version", "due_at"}
"""Payload keys every decision shows as fields of its own."""


def explain_lead(
    lead_id: UUID,
    events: Iterable[LeadEvent[Any]],
    pipeline_of: Callable[[str], Pipeline | None],
) -> Explanation:
    """Read the lead's history; ``pipeline_of(version)`` returns an activated pipeline."""
    types: dict[int, str] = {}
    steps: list[ScoreStep] = []
    promotions: list[Promotion] = []
    decisions: list[ExplainedDecision] = []
    score = 0.0
    for event in events:
        types[event.originator_version] = event.TYPE
        data = event.data
        rule: str | None = getattr(data, "rule", None)
        due_at: datetime | None = getattr(data, "due_at", None)
        if isinstance(event, LeadScored):
            score = data.score
            cause = data.cause
            steps.append(
                ScoreStep(
                    sequence=event.originator_version,
                    occurred_at=event.occurred_at,
                    actor=event.actor,
                    rule=rule,
                    pipeline_version=data.pipeline_version,
                    kind=data.kind.value,
                    delta=data.delta,
                    score=data.score,
                    points=data.points,
                    reason=data.reason,
                    due_at=due_at,
                    cause=Cause(cause, types.get(cause, "?")) if cause is not None else None,
                    personal=_personal(event, {"reason": data.reason}),
                )
            )
            continue
        if rule is None:
            continue
        if isinstance(event, StageChanged) and _is_mql_rule(
            rule, data.pipeline_version, pipeline_of
        ):
            pipeline = pipeline_of(data.pipeline_version)
            mql = pipeline.scoring.mql if pipeline is not None else None
            promotions.append(
                Promotion(
                    sequence=event.originator_version,
                    occurred_at=event.occurred_at,
                    actor=event.actor,
                    rule=rule,
                    pipeline_version=data.pipeline_version,
                    from_stage=data.from_stage,
                    stage=data.stage,
                    score=score,
                    threshold=mql.threshold if mql is not None else None,
                )
            )
            continue
        details = {
            key: value
            for key, value in payload_json(data).items()
            if key not in _NOT_DETAILS and value not in (None, "", [], {})
        }
        decisions.append(
            ExplainedDecision(
                sequence=event.originator_version,
                occurred_at=event.occurred_at,
                type=event.TYPE,
                actor=event.actor,
                rule=rule,
                pipeline_version=getattr(data, "pipeline_version", None),
                due_at=due_at,
                details=details,
                personal=_personal(event, details, "details."),
            )
        )
    return Explanation(lead_id, score, tuple(steps), tuple(promotions), tuple(decisions))


def _is_mql_rule(rule: str, version: str, pipeline_of: Callable[[str], Pipeline | None]) -> bool:
    pipeline = pipeline_of(version)
    return (
        pipeline is not None
        and pipeline.scoring.mql is not None
        and (pipeline.scoring.mql.id == rule)
    )
