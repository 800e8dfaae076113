"""The use cases: one small handler per command. Each loads, asks the domain, and leaves
the saving to the unit of work.

:data:`HANDLERS` is the registry every way in goes through (the Python API, the CLI,
the demo, the HTTP service): a command class → its handler and how often a conflict on
the shared roster is retried on a fresh read. A plain lead command is not retried: a
conflict there means someone else changed the lead, and the caller decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from leadflow.domain.commands import (
    AcceptHandOff,
    AddRep,
    AssignLead,
    CaptureLead,
    ChangeStage,
    ChangeStatus,
    ChurnLead,
    ClaimLead,
    Command,
    ConvertLead,
    DefineTeam,
    DisqualifyLead,
    ErasePersonalData,
    HandOffLead,
    LeadCommand,
    LoseDeal,
    MergeLeads,
    MigrateLead,
    RecordAbsence,
    RecordActivity,
    RecordQualification,
    Redistribute,
    RejectHandOff,
    ReleaseLead,
    SetScore,
    UnmergeLead,
    UpdateProfile,
    WinDeal,
)
from leadflow.domain.dedupe import ContactKey
from leadflow.domain.lead import OWNER_FIELDS, Lead, merged_into_person
from leadflow.domain.ownership import is_open
from leadflow.domain.permissions import (
    check_active,
    check_may_answer_handoff,
    check_may_assign,
    check_may_claim,
    check_may_work,
    require_rep_on_roster,
)
from leadflow.domain.pool import check_claim_limit, claim_day
from leadflow.domain.roster import is_rep_id
from leadflow.domain.routing import consider, decide
from leadflow.errors import InvalidInput
from leadflow.service.intake import CaptureOutcome, apply_routing, capture, open_holder
from leadflow.service.unit_of_work import UnitOfWork

__all__ = ["HANDLERS", "Handler", "handler_for"]

CONTENDED = 20
"""Attempts for commands that write the roster, which every assigning writer shares."""


@dataclass(frozen=True)
class Handler:
    handle: Callable[[UnitOfWork, Any], Any]
    attempts: int = 1
    """How often a concurrency conflict is retried on a fresh read (1: never)."""


def _active(uow: UnitOfWork) -> None:
    """Every command: a rep acts only while on the roster."""
    if is_rep_id(uow.ctx.actor):
        check_active(uow.ctx.actor, uow.roster)


# -- lead commands ----------------------------------------------------------------------


def lead_command(uow: UnitOfWork, command: LeadCommand) -> None:
    """The lead decides; nothing else is involved (activity, stage, status, score …)."""
    lead = uow.lead(command.lead_id)
    _active(uow)
    check_may_work(uow.ctx.actor, lead)
    command.decide(lead, uow.pipeline, uow.ctx)


def capture_lead(uow: UnitOfWork, command: CaptureLead) -> CaptureOutcome:
    _active(uow)
    return capture(uow, command, uow.ctx, lead_id=command.lead_id)


def update_profile(uow: UnitOfWork, command: UpdateProfile) -> None:
    """A new phone, email or WeChat id joins the dedupe index; one another lead holds is
    refused: those are the same person, to be merged."""
    lead = uow.lead(command.lead_id)
    _active(uow)
    check_may_work(uow.ctx.actor, lead)
    command.decide(lead, uow.pipeline, uow.ctx)
    for kind in uow.pipeline.dedupe.keys:
        value = command.changes.get(kind)
        if not value:
            continue
        kid = uow.store.contact_key_id(kind, value)
        held = uow.key(kid)
        if held is None:
            uow.add_key(ContactKey.reserve(kid, kind, lead.id, "profile", uow.ctx))
            continue
        holder = open_holder(uow, held)
        if holder is not None and holder.id != lead.id:
            raise InvalidInput(
                kind, f"{value} belongs to lead {holder.id}; merge the two leads instead"
            )
        if holder is None:
            held.move(lead.id, "released", uow.ctx)


def assign(uow: UnitOfWork, command: AssignLead) -> None:
    """A person assigns; the event records the rep's load at that moment."""
    lead = uow.lead(command.lead_id)
    _active(uow)
    roster, pipeline = uow.roster, uow.pipeline
    check_may_assign(uow.ctx.actor, command.owner, roster, pipeline)
    require_rep_on_roster(command.owner, roster, "owner")
    lead.assign(
        command.owner,
        pipeline,
        uow.ctx,
        reason=command.reason,
        strategy="manual",
        team=roster.reps[command.owner].team,
        candidates=consider(roster, [command.owner], pipeline, uow.ctx.occurred_at),
        roster_version=roster.version,
    )


def claim(uow: UnitOfWork, command: ClaimLead) -> None:
    """A rep takes a pool lead, within ``pool.daily_claim_limit``; the claim is counted on
    the roster in the same append, so two claims racing past the limit conflict."""
    lead = uow.lead(command.lead_id)
    _active(uow)
    check_may_claim(uow.ctx.actor, command.owner)
    roster, pipeline = uow.roster, uow.pipeline
    require_rep_on_roster(command.owner, roster, "owner")
    today = check_claim_limit(roster, command.owner, uow.ctx.occurred_at, pipeline)
    lead.claim(
        command.owner,
        pipeline,
        uow.ctx,
        claims_today=today,
        daily_claim_limit=pipeline.pool.daily_claim_limit,
    )
    roster.count_claim(command.owner, claim_day(uow.ctx.occurred_at, pipeline), lead.id, uow.ctx)


def hand_off(uow: UnitOfWork, command: HandOffLead) -> None:
    lead = uow.lead(command.lead_id)
    _active(uow)
    check_may_work(uow.ctx.actor, lead)
    require_rep_on_roster(command.to_owner, uow.roster, "to_owner")
    command.decide(lead, uow.pipeline, uow.ctx)


def answer_handoff(uow: UnitOfWork, command: AcceptHandOff | RejectHandOff) -> None:
    """Only the rep the hand-off is addressed to answers it, or their manager."""
    lead = uow.lead(command.lead_id)
    _active(uow)
    action = "accept" if isinstance(command, AcceptHandOff) else "reject"
    check_may_answer_handoff(uow.ctx.actor, lead, uow.roster, action)
    command.decide(lead, uow.pipeline, uow.ctx)


def erase_personal_data(uow: UnitOfWork, command: ErasePersonalData) -> None:
    """Crypto-shredding of one person: the lead and every lead merged into it each record
    ``PersonalDataErased``, the contact keys any of them holds are released, all in one
    append; then, once that is stored, each of their data keys is destroyed. An erasure
    interrupted before every key was destroyed is finished by erasing again."""
    lead = uow.lead(command.lead_id)
    _active(uow)
    merged = merged_into_person(lead, uow.find_lead)
    person = [lead, *merged]
    keys = uow.store.keys
    if keys is not None and all(one.erased for one in person):
        left = [one.id for one in person if not keys.destroyed(one.id)]
        if left:
            uow.after_commit(lambda: [keys.destroy(lead_id) for lead_id in left])
            return
    contacts = [contact for one in person for contact in one.known_contacts]
    lead.erase_personal_data(command.reason, uow.pipeline, uow.ctx, merged)
    ids = {one.id for one in person}
    for kind, value in dict.fromkeys(contacts):
        key = uow.key(uow.store.contact_key_id(kind, value))
        if key is not None and key.lead_id in ids:
            key.release(uow.ctx)
    if keys is not None:
        uow.after_commit(lambda: [keys.destroy(lead_id) for lead_id in ids])


def merge(uow: UnitOfWork, command: MergeLeads) -> None:
    """Both leads record the merge; the duplicate's contact keys lead to the survivor."""
    duplicate = uow.lead(command.lead_id)
    survivor = uow.lead(command.into_lead_id)
    _active(uow)
    duplicate.merge_into(survivor, uow.pipeline, uow.ctx)
    for kind, value in duplicate.known_contacts:
        key = uow.key(uow.store.contact_key_id(kind, value))
        if key is not None and key.lead_id == duplicate.id:
            key.move(survivor.id, "merge", uow.ctx)


def unmerge(uow: UnitOfWork, command: UnmergeLead) -> None:
    """Compensating events on both leads; the keys the merge moved move back."""
    duplicate = uow.lead(command.lead_id)
    if duplicate.merged_into is None:
        raise InvalidInput("lead_id", f"lead {duplicate.id} is not merged into another lead")
    survivor = uow.lead(duplicate.merged_into)
    _active(uow)
    returning = []
    for kind, value in duplicate.known_contacts:
        key = uow.key(uow.store.contact_key_id(kind, value))
        if key is None or key.lead_id in (None, duplicate.id):
            continue
        if key.lead_id == survivor.id:
            if getattr(survivor, kind, None) == value:
                raise InvalidInput(
                    "lead_id",
                    f"cannot unmerge: its {kind} is now on lead {survivor.id}'s own profile; "
                    "one person stays one lead",
                )
            if key.previous == duplicate.id:
                returning.append(key)
            continue
        # Since the merge, the key went to another lead (the survivor's data was erased,
        # and the person was captured again). One person stays one lead: while that lead
        # is open, the duplicate may not come back with the same contact.
        holder = open_holder(uow, key)
        if holder is not None:
            raise InvalidInput(
                "lead_id",
                f"cannot unmerge: its {kind} now belongs to open lead {holder.id} (the "
                "same person, captured again); one person stays one lead",
            )
        returning.append(key)
    duplicate.unmerge_from(survivor, command.reason, uow.pipeline, uow.ctx)
    for key in returning:
        key.move(duplicate.id, "unmerge", uow.ctx)
    owner = duplicate.owner
    if owner is not None and is_rep_id(owner) and owner not in uow.roster.reps:
        # Its owner left while it was merged away: it comes back to be worked by someone.
        _give_away(uow, duplicate, owner, f"{owner} left the roster")


# -- the roster -------------------------------------------------------------------------


def add_rep(uow: UnitOfWork, command: AddRep) -> None:
    uow.roster.add_rep(
        command.rep,
        uow.ctx,
        team=command.team,
        capacity=command.capacity,
        weight=command.weight,
        clear=command.clear,
    )


def record_absence(uow: UnitOfWork, command: RecordAbsence) -> None:
    uow.roster.record_absence(
        command.rep, command.start, command.end, uow.ctx, reason=command.reason
    )


def define_team(uow: UnitOfWork, command: DefineTeam) -> None:
    uow.roster.define_team(command.team, list(command.managers), uow.ctx)


def redistribute(uow: UnitOfWork, command: Redistribute) -> None:
    """Give the rep's leads to others by policy, in one append (all or nothing).

    Open leads go by the assignment rules, or back to the pool when no rep can take them.
    With ``leave`` the rep also leaves the roster and every lead they own goes: leads in
    ``assignment.departure_to_manager`` stages (deals, accounts) to a manager of their
    team, other closed leads are released.
    """
    roster, pipeline, ctx = uow.roster, uow.pipeline, uow.ctx
    rep = command.rep
    roster.require_rep(rep)
    managers = roster.managers_of(rep)
    owned = set(roster.open_leads.get(rep, set()))
    if command.leave:
        owned |= _leads_owned_by(uow, rep)
        roster.remove_rep(rep, command.reason, ctx)
    for lead_id in sorted(owned, key=str):
        lead = uow.lead(lead_id)
        if lead.owner != rep or lead.merged_into is not None or lead.erased:
            continue  # a merged duplicate is given away if it is ever unmerged
        if command.leave and lead.stage in pipeline.assignment.departure_to_manager and managers:
            lead.assign(
                managers[0],
                pipeline,
                ctx.as_rule("assignment.departure"),
                reason=f"{rep} left ({command.reason}): their {lead.stage} goes to their manager",
                rule="assignment.departure",
                strategy="manager",
            )
            continue
        _give_away(uow, lead, rep, f"{rep} left ({command.reason})" if command.leave else None)


def _give_away(uow: UnitOfWork, lead: Lead, rep: str, left: str | None) -> None:
    """An open lead goes to another rep by the assignment rules, or to the pool; a closed
    one (its owner left) keeps no owner."""
    pipeline, ctx = uow.pipeline, uow.ctx
    rule_ctx = ctx.as_rule("assignment.redistribute")
    if not is_open(lead, pipeline.assignment.closed_stages):
        reason = f"{left or rep}: a closed lead keeps no owner"
        lead.release(reason, pipeline, rule_ctx, rule="assignment.redistribute")
        return
    fields: dict[str, str | None] = {"source": lead.source, "campaign": lead.campaign}
    fields.update(lead.attributes)
    decision = decide(uow.roster, pipeline, fields, ctx.occurred_at, exclude={rep})
    if decision.owner is not None:
        apply_routing(lead, decision, uow, ctx)
    else:
        reason = f"redistributed from {rep}: {decision.reason}"
        lead.release(reason, pipeline, rule_ctx, rule="assignment.redistribute")


def _leads_owned_by(uow: UnitOfWork, rep: str) -> set[UUID]:
    """Every lead whose events ever named ``rep`` as its owner (closed ones included).

    A scan of the owner-setting events (:data:`~leadflow.domain.lead.OWNER_FIELDS`); the
    handler then keeps those the rep owns now. A rep leaves rarely; the scan reads only
    those event types.
    """
    found: set[UUID] = set()
    for record in uow.store.read_events(types=list(OWNER_FIELDS)):
        if record.data.get(OWNER_FIELDS[record.type]) == rep:
            found.add(record.lead_id)
    return found


# -- the registry -----------------------------------------------------------------------

HANDLERS: dict[type[Command], Handler] = {
    CaptureLead: Handler(capture_lead, CONTENDED),
    MigrateLead: Handler(capture_lead, CONTENDED),
    UpdateProfile: Handler(update_profile),
    RecordActivity: Handler(lead_command),
    SetScore: Handler(lead_command),
    ChangeStage: Handler(lead_command),
    ChangeStatus: Handler(lead_command),
    AssignLead: Handler(assign, CONTENDED),
    ClaimLead: Handler(claim, CONTENDED),
    ReleaseLead: Handler(lead_command),
    HandOffLead: Handler(hand_off),
    AcceptHandOff: Handler(answer_handoff),
    RejectHandOff: Handler(answer_handoff),
    ConvertLead: Handler(lead_command),
    WinDeal: Handler(lead_command),
    LoseDeal: Handler(lead_command),
    ChurnLead: Handler(lead_command),
    DisqualifyLead: Handler(lead_command),
    ErasePersonalData: Handler(erase_personal_data),
    RecordQualification: Handler(lead_command),
    MergeLeads: Handler(merge),
    UnmergeLead: Handler(unmerge),
    AddRep: Handler(add_rep, 5),
    RecordAbsence: Handler(record_absence, 5),
    DefineTeam: Handler(define_team, 5),
    Redistribute: Handler(redistribute, 5),
}
"""Every command's handler: the one registry the CLI, the Python API and the demo use."""


def handler_for(command: Command) -> Handler:
    try:
        return HANDLERS[type(command)]
    except KeyError:
        raise TypeError(f"no handler for {type(command).__name__}") from None
