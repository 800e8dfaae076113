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

from leadflow.domain.events import LeadEvent, LeadScored, StageChanged
from leadflow.domain.pipeline import Pipeline

__all__ = ["Decision", "Explanation", "Promotion", "ScoreStep", "explain_lead"]


@dataclass(frozen=True)
class ScoreStep:
    sequence: int
    at: datetime
    rule: str | None
    kind: str
    delta: float
    score: float
    reason: str
    actor: str
    due_at: datetime | None
    cause: str | None
    """The triggering event, as ``#<sequence> <type>``."""


@dataclass(frozen=True)
class Promotion:
    sequence: int
    at: datetime
    rule: str
    from_stage: str
    stage: str
    score: float
    threshold: float | None
    """From the pipeline version the event records; ``None`` if that version is unknown."""
    pipeline_version: str


@dataclass(frozen=True)
class Decision:
    """Any other event an automatic rule recorded."""

    sequence: int
    at: datetime
    type: str
    rule: str
    due_at: datetime | None
    summary: str


@dataclass(frozen=True)
class Explanation:
    lead_id: UUID
    score: float
    steps: tuple[ScoreStep, ...]
    promotions: tuple[Promotion, ...]
    decisions: tuple[Decision, ...]

    @property
    def consistent(self) -> bool:
        """Each step's score is the previous score plus its delta."""
        score = 0.0
        for step in self.steps:
            if round(score + step.delta, 2) != round(step.score, 2):
                return False
            score = step.score
        return round(score, 2) == round(self.score, 2)

    def to_json_dict(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "lead_id": str(self.lead_id),
            "score": self.score,
            "consistent": self.consistent,
            "steps": [{**vars(s), "at": when(s.at), "due_at": when(s.due_at)} for s in self.steps],
            "promotions": [{**vars(p), "at": when(p.at)} for p in self.promotions],
            "decisions": [
                {**vars(d), "at": when(d.at), "due_at": when(d.due_at)} for d in self.decisions
            ],
        }


_SKIP_IN_SUMMARY = {"rule", "pipeline_version", "due_at"}


def explain_lead(
    lead_id: UUID,
    events: Iterable[LeadEvent[Any]],
    pipeline_of: Callable[[str], Pipeline | None],
) -> Explanation:
    """Read the lead's history; ``pipeline_of(version)`` returns an activated pipeline."""
    types: dict[int, str] = {}
    steps: list[ScoreStep] = []
    promotions: list[Promotion] = []
    decisions: list[Decision] = []
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
                    at=event.occurred_at,
                    rule=rule,
                    kind=data.kind.value,
                    delta=data.delta,
                    score=data.score,
                    reason=data.reason,
                    actor=event.actor,
                    due_at=due_at,
                    cause=f"#{cause} {types.get(cause, '?')}" if cause is not None else None,
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
                    at=event.occurred_at,
                    rule=rule,
                    from_stage=data.from_stage,
                    stage=data.stage,
                    score=score,
                    threshold=mql.threshold if mql is not None else None,
                    pipeline_version=data.pipeline_version,
                )
            )
            continue
        summary = ", ".join(
            f"{key}={value}"
            for key, value in data.model_dump(mode="json").items()
            if key not in _SKIP_IN_SUMMARY and value not in (None, "", [], {})
        )
        decisions.append(
            Decision(event.originator_version, event.occurred_at, event.TYPE, rule, due_at, summary)
        )
    return Explanation(lead_id, score, tuple(steps), tuple(promotions), tuple(decisions))


def _is_mql_rule(rule: str, version: str, pipeline_of: Callable[[str], Pipeline | None]) -> bool:
    pipeline = pipeline_of(version)
    return (
        pipeline is not None
        and pipeline.scoring.mql is not None
        and (pipeline.scoring.mql.id == rule)
    )
