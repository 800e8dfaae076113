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
    "SCOPES",
    "ScopeNotGranted",
    "check_active",
    "check_may_answer_handoff",
    "check_may_assign",
    "check_may_claim",
    "check_may_work",
    "check_scope",
    "grants",
    "may_read_personal_data",
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


def check_may_work(actor: str, lead: Lead) -> None:
    """A rep works only the leads they own (a pool lead is claimed first)."""
    if not is_rep_id(actor) or lead.owner == actor:
        return
    owned = f"it is owned by {lead.owner}" if lead.owner else "it is in the pool: claim it first"
    raise NotPermitted(actor, f"work lead {lead.id}", [lead.owner] if lead.owner else [], owned)


_READ = frozenset({"read"})
_INTAKE = frozenset({"capture"})
_REP = (
    _READ
    | {"capture"}
    | {
        "record_activity",
        "set_score",
        "change_stage",
        "change_status",
        "claim",
        "release",
        "hand_off",
        "accept_handoff",
        "reject_handoff",
        "convert",
        "win",
        "lose",
        "churn",
        "disqualify",
        "qualify",
        "update_profile",
    }
)
_MANAGER = _REP | {
    "assign",
    "migrate",  # a lead from another CRM arrives with its owner (``import --migrate``)
    "merge",
    "unmerge",
    "add_rep",
    "record_absence",
    "define_team",
    "redistribute",
    "read_personal_data",
}
_ADMIN = _MANAGER | _INTAKE | {"erase_personal_data", "pipeline", "tokens", "forms", "webhooks"}

SCOPES: dict[str, frozenset[str]] = {
    "intake": _INTAKE,
    "read": _READ,
    "rep": _REP,
    "manager": _MANAGER,
    "admin": _ADMIN,
}
"""What an API token of each scope may do: command names (``Command.NAME``), ``read``
(every query; personal fields only with ``read_personal_data``, see
:func:`may_read_personal_data`), and the administration of ``pipeline``,
``tokens``, ``forms`` and ``webhooks``. A ``rep`` token acts as its rep, so the rules
on reps above apply to it as well."""


class ScopeNotGranted(NotPermitted):
    """The token's scope does not grant the action (whoever the token acts as)."""


def grants(scope: str, action: str) -> bool:
    """May a token of ``scope`` do ``action``? (The console shows a button only then.)"""
    return action in SCOPES.get(scope, frozenset())


def may_read_personal_data(scope: str, actor: str, owner: str | None) -> bool:
    """Personal fields (name, email, phone, WeChat) are shown to a scope that grants
    ``read_personal_data`` (manager, admin), and to a rep for the leads they own; a
    ``read`` token sees everything else."""
    return grants(scope, "read_personal_data") or (
        scope == "rep" and owner is not None and owner == actor
    )


def check_scope(identity: str, scope: str, action: str) -> None:
    """A token of ``scope`` may do ``action`` only if the scope grants it."""
    if not grants(scope, action):
        who = sorted(name for name, actions in SCOPES.items() if action in actions)
        raise ScopeNotGranted(identity, action, who, f"a {scope!r} token may not")
