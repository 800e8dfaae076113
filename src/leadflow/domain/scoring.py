"""Scoring rules: profile fit, behaviour, negative signals, decay, MQL promotion, BANT.

Pure functions over a lead's state and the pipeline's ``[scoring]`` section. They
decide; the lead records each decision as an event naming its rule (``LeadScored``
with rule id, delta and new score; ``StageChanged`` for an MQL promotion;
``StatusChanged`` for a BANT qualification). Scores are rounded to cents and kept
within ``[min_score, max_score]``; ``points`` on the event is what the rule granted
before that clamp, so a rule's own bookkeeping (fit held, cap used) never drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from leadflow.domain.durations import span
from leadflow.domain.events import ActivityKind, ScoreKind
from leadflow.domain.pipeline import BantRule, BehaviourRule, MqlRule, ProfileRule, ScoringRules

if TYPE_CHECKING:
    from leadflow.domain.lead import Lead

__all__ = [
    "BANT_CRITERIA",
    "ScoreChange",
    "bant_decision",
    "behaviour_changes",
    "bounded",
    "crosses_mql",
    "decay_due",
    "fit_holds",
    "profile_changes",
]

BANT_CRITERIA = ("budget", "authority", "need", "timeline")


@dataclass(frozen=True)
class ScoreChange:
    """A rule's decision to change the score by ``points`` (before clamping)."""

    rule: str
    kind: ScoreKind
    points: float
    reason: str
    due_at: datetime | None = None


def bounded(score: float, rules: ScoringRules) -> float:
    """``score`` rounded to cents and kept within the pipeline's bounds."""
    score = max(score, rules.min_score)
    if rules.max_score is not None:
        score = min(score, rules.max_score)
    return round(score, 2)


def _profile_value(lead: Lead, field: str) -> str | None:
    if field.startswith("attributes."):
        return lead.attributes.get(field.removeprefix("attributes."))
    value: str | None = getattr(lead, field)
    return value


def fit_holds(rule: ProfileRule, value: str | None) -> bool:
    """Does a profile value meet the rule's condition? Text compares case-insensitively."""
    if rule.present is not None:
        return (value is not None and value != "") is rule.present
    if value is None:
        return False
    if rule.equals is not None:
        return value.casefold() == rule.equals.casefold()
    assert rule.one_of is not None
    return value.casefold() in {choice.casefold() for choice in rule.one_of}


def profile_changes(lead: Lead, rules: ScoringRules) -> list[ScoreChange]:
    """Bring each profile rule's contribution in line with the lead's current profile."""
    changes = []
    for rule in rules.profile:
        value = _profile_value(lead, rule.field)
        wanted = rule.points if fit_holds(rule, value) else 0.0
        held = lead.fit.get(rule.id, 0.0)
        if wanted != held:
            verb = "matches" if wanted else "no longer matches"
            changes.append(
                ScoreChange(rule.id, ScoreKind.PROFILE, wanted - held, f"{rule.field} {verb}")
            )
    return changes


def _cap_used(lead: Lead, rule: BehaviourRule, at: datetime) -> float:
    assert rule.per is not None
    window_start = at - rule.per
    return sum(points for when, points in lead.awards.get(rule.id, ()) if when > window_start)


def behaviour_changes(
    lead: Lead, activity: ActivityKind, at: datetime, rules: ScoringRules
) -> list[ScoreChange]:
    """Points for an activity: every matching behaviour rule and negative signal.

    A capped rule grants at most ``cap`` points within any rolling ``per`` window
    ending at the activity; past the cap it grants the remainder, then nothing.
    """
    changes = []
    for kind, section in (
        (ScoreKind.BEHAVIOUR, rules.behaviour),
        (ScoreKind.NEGATIVE, rules.negative),
    ):
        for rule in section:
            if rule.activity != activity:
                continue
            points = rule.points
            reason = f"activity {activity.value}"
            if rule.cap is not None:
                room = round(rule.cap - _cap_used(lead, rule, at), 2)
                if room <= 0:
                    continue
                if points > room:
                    points = room
                    per = span(rule.per) if rule.per is not None else "-"
                    reason += f" (capped at {rule.cap:g} per {per})"
            changes.append(ScoreChange(rule.id, kind, points, reason))
    return changes


def decay_due(lead: Lead, rules: ScoringRules, now: datetime) -> ScoreChange | None:
    """The next decay step due at or before ``now``, or ``None``.

    A step is due at each full ``every`` after the lead's last engagement (capture,
    activity, or a score change other than decay). Steps are one event each, so the
    history does not depend on how often the sweep runs.
    """
    rule = rules.decay
    if rule is None or lead.decay_anchor is None:
        return None
    if rule.stages is not None and lead.stage not in rule.stages:
        return None
    start = lead.decay_anchor
    if lead.decayed_to is not None and lead.decayed_to > start:
        start = lead.decayed_to
    due = start + rule.every
    if due > now:
        return None
    if rule.points is not None:
        target = lead.score - rule.points
        how = f"-{rule.points:g}"
    else:
        assert rule.percent is not None
        target = lead.score * (1 - rule.percent / 100)
        how = f"-{rule.percent:g}%"
    points = round(bounded(target, rules) - lead.score, 2)
    if points >= 0:
        return None  # nothing left to decay: at the floor
    since = lead.decay_anchor.isoformat(timespec="seconds")
    return ScoreChange(
        rule.id,
        ScoreKind.DECAY,
        points,
        f"{how} per {span(rule.every)} without activity (since {since})",
        due_at=due,
    )


def crosses_mql(rule: MqlRule, stage: str, before: float, after: float) -> bool:
    """A score crossing the threshold upwards, in a stage that promotes, promotes.

    Only a crossing counts: a recycled lead that kept a high score is not promoted
    again until its score has fallen below the threshold and risen past it.
    """
    return stage in rule.from_stages and before < rule.threshold <= after


def bant_decision(rule: BantRule, stage: str, status: str, answers: dict[str, bool]) -> str | None:
    """The reason to set the qualified status, or ``None`` when the rule does not fire."""
    if stage not in rule.stages or status == rule.status:
        return None
    met = [name for name in BANT_CRITERIA if answers.get(name)]
    if len(met) < rule.required:
        return None
    return f"BANT {len(met)}/4 met ({', '.join(met)}); {rule.required} required"
