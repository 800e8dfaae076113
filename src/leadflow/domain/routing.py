"""Assignment policies: which rep gets a lead. Pure functions of the roster and the pipeline.

* **Attribute rules** (``[[assignment.rules]]``, first match wins) send a lead to a team
  or straight to a rep, by ``source``, ``campaign`` or attributes (industry, region …).
* Within the candidates, the **strategy** picks the rep:

  - ``round_robin``: the eligible rep with the fewest open leads. Ties go to the rep who
    has waited longest since their last lead, then to the smallest rep id; the tie and
    how it was broken are recorded. Because it counts open leads rather than turns, a
    rep who was absent keeps their credit (they get the next leads until level), and
    adding or removing a rep resets nobody.
  - ``weighted``: the fewest open leads per unit of weight (capacity share).

* A rep who is absent at the decision time, or at their cap of open leads (their own
  ``capacity``, else ``assignment.max_open_leads``), is skipped; the reason is recorded.
  No eligible rep: the lead stays in the public pool.

Every decision carries the candidates and their loads at that moment, so the
``LeadAssigned`` event alone explains it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from leadflow.domain.events import CandidateLoad
from leadflow.domain.pipeline import AssignmentRule, Pipeline
from leadflow.domain.roster import Roster

__all__ = ["RoutingDecision", "consider", "decide", "matching_rule", "pick"]


@dataclass(frozen=True)
class RoutingDecision:
    """Who gets a lead, and everything the decision was made on."""

    owner: str | None
    """The chosen rep; ``None`` leaves the lead in the pool."""
    strategy: str
    team: str | None
    rule: str
    """The attribute rule's id, or ``assignment.<strategy>`` when none matched."""
    candidates: list[CandidateLoad]
    tie_break: str | None
    roster_version: int

    @property
    def reason(self) -> str:
        if self.owner is None:
            return "no eligible rep: the lead stays in the public pool"
        return f"assigned by {self.rule}" + (f" within team {self.team}" if self.team else "")


def matching_rule(
    rules: list[AssignmentRule], fields: Mapping[str, str | None]
) -> AssignmentRule | None:
    """The first rule whose every condition holds for the lead's ``fields``."""
    for rule in rules:
        if all(_holds(fields.get(key), wanted) for key, wanted in rule.when.items()):
            return rule
    return None


def _holds(value: str | None, wanted: str | list[str]) -> bool:
    if value is None:
        return False
    return value in wanted if isinstance(wanted, list) else value == wanted


def consider(
    roster: Roster, reps: list[str], pipeline: Pipeline, at: datetime
) -> list[CandidateLoad]:
    """Each rep with their load, cap and weight now, and why they are skipped (if so)."""
    default_cap = pipeline.assignment.max_open_leads
    result: list[CandidateLoad] = []
    for rep in reps:
        info = roster.reps[rep]
        cap = info.capacity if info.capacity is not None else default_cap
        load = roster.load(rep)
        skipped = None
        if info.absent_at(at):
            skipped = "absent"
        elif cap is not None and load >= cap:
            skipped = "at_cap"
        result.append(
            CandidateLoad(rep=rep, open_leads=load, cap=cap, weight=info.weight, skipped=skipped)
        )
    return result


def pick(
    candidates: list[CandidateLoad], strategy: str, last_given: Mapping[str, int]
) -> tuple[str | None, str | None]:
    """The chosen rep and, when several were equally loaded, how the tie was broken."""
    eligible = [c for c in candidates if c.skipped is None]
    if not eligible:
        return None, None

    def load(c: CandidateLoad) -> float:
        return c.open_leads / c.weight if strategy == "weighted" else float(c.open_leads)

    lowest = min(load(c) for c in eligible)
    tied = [c for c in eligible if load(c) == lowest]
    if len(tied) == 1:
        return tied[0].rep, None
    tied.sort(key=lambda c: (last_given.get(c.rep, 0), c.rep))
    chosen = tied[0].rep
    names = ", ".join(c.rep for c in tied)
    return chosen, f"tied at {lowest:g} open leads: {names}; longest waiting, then rep id"


def decide(
    roster: Roster,
    pipeline: Pipeline,
    fields: Mapping[str, str | None],
    at: datetime,
    *,
    exclude: Collection[str] = (),
) -> RoutingDecision:
    """Who gets a lead with these ``fields`` (source, campaign, attributes) at ``at``."""
    config = pipeline.assignment
    rule = matching_rule(config.rules, fields)
    if rule is not None and rule.rep is not None:
        reps = [rule.rep] if rule.rep in roster.reps and rule.rep not in exclude else []
        candidates = consider(roster, reps, pipeline, at)
        owner, tie = pick(candidates, "rule", roster.last_given)
        return RoutingDecision(owner, "rule", None, rule.id, candidates, tie, roster.version)
    team = rule.team if rule is not None else config.default_team
    reps = [r for r in roster.members(team) if r not in exclude]
    candidates = consider(roster, reps, pipeline, at)
    owner, tie = pick(candidates, config.strategy, roster.last_given)
    return RoutingDecision(
        owner,
        config.strategy,
        team,
        rule.id if rule else f"assignment.{config.strategy}",
        candidates,
        tie,
        roster.version,
    )
