"""Who may do what: the identity rules every command is checked against.

Actors are ``rep:<name>`` (a rep on the roster), ``manager:<name>`` or ``user:<name>``
(people), and ``system:<rule>`` (an automatic decision). A refused actor gets
:class:`~leadflow.errors.NotPermitted` naming the actor and who may; nothing is written.
"""

from __future__ import annotations

from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import Roster, is_rep_id
from leadflow.errors import InvalidInput, NotPermitted

__all__ = [
    "check_active",
    "check_may_answer_handoff",
    "check_may_assign",
    "check_may_claim",
    "require_rep_on_roster",
]


def is_rule(actor: str) -> bool:
    return actor.startswith("system:")


def check_active(actor: str, roster: Roster) -> None:
    """A rep acts only while on the roster: one who left (or was never added) may not."""
    if not is_rep_id(actor) or actor in roster.reps:
        return
    left = roster.departed.get(actor)
    why = (
        f"{actor} left the roster at {left.isoformat()}"
        if left is not None
        else f"{actor} is not on the roster"
    )
    raise NotPermitted(actor, "act on leads", sorted(roster.reps), why)


def require_rep_on_roster(rep: str, roster: Roster, field: str) -> None:
    """A lead can be given only to a rep on the roster."""
    if rep in roster.reps:
        return
    if rep in roster.departed:
        raise InvalidInput(field, f"{rep} left the roster at {roster.departed[rep].isoformat()}")
    roster.require_rep(rep, field)


def check_may_answer_handoff(actor: str, lead: Lead, roster: Roster, action: str) -> None:
    """Only the rep a hand-off is addressed to accepts or rejects it, or their manager."""
    handoff = lead.handoff
    if handoff is None or is_rule(actor):
        return  # no hand-off: the lead refuses with the reason
    allowed = [handoff.to_owner, *roster.managers_of(handoff.to_owner)]
    if actor not in allowed:
        raise NotPermitted(
            actor,
            f"{action} the hand-off of lead {lead.id}",
            allowed,
            f"it is addressed to {handoff.to_owner}",
        )


def check_may_claim(actor: str, owner: str) -> None:
    """A rep claims leads for themselves only."""
    if is_rep_id(actor) and actor != owner:
        raise NotPermitted(
            actor, f"claim a lead for {owner}", [owner], "a rep claims for themselves"
        )


def check_may_assign(actor: str, owner: str, roster: Roster, pipeline: Pipeline) -> None:
    """With ``assignment.require_manager``, only a manager of the rep's team assigns."""
    if not pipeline.assignment.require_manager or is_rule(actor):
        return
    managers = roster.managers_of(owner)
    if actor not in managers:
        raise NotPermitted(
            actor,
            f"assign leads to {owner}",
            managers,
            f"only a manager of {owner}'s team may (assignment.require_manager is on)",
        )
