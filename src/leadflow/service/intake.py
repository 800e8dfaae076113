"""Taking leads in: capture with dedupe and assignment, on a unit of work.

A capture (or each row of an imported batch) looks up the contact keys of the person.
A key already held by an open lead makes it a touch on that lead (``TouchRecorded``);
otherwise a new lead is created and its keys are reserved in the same atomic append, so
two concurrent captures of one person conflict in the store instead of making two leads.

Within a batch the unit of work is its own index: a second row for the same person finds
the key reserved by the first row (not yet saved) and becomes a touch on that lead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from leadflow.domain.commands import CaptureLead, MigrateLead
from leadflow.domain.context import Context
from leadflow.domain.dedupe import ContactKey, contact_keys
from leadflow.domain.events import MigratedData, TouchData
from leadflow.domain.lead import PROFILE_FIELDS, Lead, survivor_of
from leadflow.domain.permissions import require_rep_on_roster
from leadflow.domain.routing import RoutingDecision, decide
from leadflow.service.unit_of_work import UnitOfWork

__all__ = ["CaptureOutcome", "apply_routing", "capture", "open_holder", "prefetch_keys"]


@dataclass(frozen=True)
class CaptureOutcome:
    lead_id: UUID | None
    """The new lead, the matched lead, or ``None`` for a row already imported."""
    outcome: str
    """``created``, ``touched`` (matched an existing lead) or ``already_imported``."""
    matched_on: tuple[str, ...] = ()
    assigned_to: str | None = None


def prefetch_keys(uow: UnitOfWork, rows: Sequence[tuple[CaptureLead, str | None]]) -> None:
    """Ask once which of a batch's keys exist; the rest are known free, unread."""
    ids: list[UUID] = []
    for command, import_key in rows:
        if import_key:
            ids.append(uow.key_id("import", import_key))
        values = {"email": command.email, "phone": command.phone, "wechat": command.wechat}
        kinds = uow.pipeline.dedupe.keys
        ids += [kid for _, kid in contact_keys(values, kinds, uow.key_id)]
    uow.known_free(ids)


def open_holder(uow: UnitOfWork, key: ContactKey) -> Lead | None:
    """The lead a key leads to, following merges; ``None`` if its data was erased."""
    holder = uow.find_lead(key.lead_id) if key.lead_id else None
    lead = survivor_of(holder, uow.find_lead) if holder is not None else None
    # A chain cut short (a survivor missing, or a cycle) ends at a lead still merged away.
    if lead is None or lead.erased or lead.merged_into is not None:
        return None
    return lead


def capture(
    uow: UnitOfWork,
    command: CaptureLead,
    ctx: Context,
    *,
    lead_id: UUID | None = None,
    import_key: str | None = None,
) -> CaptureOutcome:
    """Capture one person: a new lead, or a touch on the lead that holds their keys."""
    p = uow.pipeline
    import_kid = uow.key_id("import", import_key) if import_key else None
    if import_kid is not None and uow.key(import_kid) is not None:
        return CaptureOutcome(None, "already_imported")
    values = {"email": command.email, "phone": command.phone, "wechat": command.wechat}
    keys = contact_keys(values, p.dedupe.keys, uow.key_id)
    found = [(kind, kid, uow.key(kid)) for kind, kid in keys]
    holders: list[tuple[str, Lead]] = []
    for kind, _, key in found:
        holder = open_holder(uow, key) if key is not None else None
        if holder is not None:
            holders.append((kind, holder))
    if holders:
        lead = holders[0][1]
        matched = tuple(kind for kind, holder in holders if holder.id == lead.id)
        others = sorted({h.id for _, h in holders if h.id != lead.id}, key=str)
        touch = TouchData(
            matched_on=list(matched),
            touched_at=ctx.occurred_at,
            source=command.source,
            campaign=command.campaign,
            email=command.email,
            phone=command.phone,
            wechat=command.wechat,
            name=command.name,
            company=command.company,
            attributes=dict(command.attributes),
            notify=lead.owner,
            other_matches=others,
            import_key=import_key,
        )
        lead.record_touch(touch, p, ctx)
        _claim_keys(uow, found, lead, "touch", ctx, take_free=p.dedupe.adopt_new_keys)
        outcome = CaptureOutcome(lead.id, "touched", matched, lead.owner)
    elif isinstance(command, MigrateLead):
        lead = uow.add_lead(_migrated(uow, command, ctx, lead_id or uow.store.new_lead_id()))
        _claim_keys(uow, found, lead, "capture", ctx, take_free=True)
        outcome = CaptureOutcome(lead.id, "created", (), lead.owner)
    else:
        lead = uow.add_lead(
            Lead.capture(
                lead_id or uow.store.new_lead_id(),
                p,
                ctx,
                stage=command.stage,
                email=command.email,
                phone=command.phone,
                wechat=command.wechat,
                name=command.name,
                company=command.company,
                source=command.source,
                campaign=command.campaign,
                attributes=command.attributes,
            )
        )
        _claim_keys(uow, found, lead, "capture", ctx, take_free=True)
        owner = _assign_new(uow, lead, ctx) if p.assignment.on_capture else None
        outcome = CaptureOutcome(lead.id, "created", (), owner)
    if import_kid is not None:
        uow.add_key(ContactKey.reserve(import_kid, "import", lead.id, "import", ctx))
    return outcome


def _migrated(uow: UnitOfWork, command: MigrateLead, ctx: Context, lead_id: UUID) -> Lead:
    """A lead in the state another CRM gave it; its owner must be on the roster."""
    p, roster = uow.pipeline, uow.roster
    stage, status = p.held_state(command.stage, command.status)
    if command.owner is not None:
        require_rep_on_roster(command.owner, roster, "owner")
    state = MigratedData(
        stage=stage, status=status, owner=command.owner, score=command.score, by=ctx.actor
    )
    # Captured when the other CRM took the lead in; its state set now, when leadflow learns it.
    now = replace(ctx, occurred_at=max(ctx.occurred_at, ctx.recorded_at))  # clock skew
    return Lead.migrate(
        lead_id,
        p,
        ctx,
        now,
        state,
        command.model_dump(include={*PROFILE_FIELDS, "attributes"}),
        team=roster.reps[command.owner].team if command.owner is not None else None,
        roster_version=roster.version if command.owner is not None else None,
    )


def _claim_keys(
    uow: UnitOfWork,
    found: list[tuple[str, UUID, ContactKey | None]],
    lead: Lead,
    reason: str,
    ctx: Context,
    *,
    take_free: bool,
) -> None:
    for kind, kid, key in found:
        if key is None:
            if take_free:
                uow.add_key(ContactKey.reserve(kid, kind, lead.id, reason, ctx))
        elif open_holder(uow, key) is None:
            key.move(lead.id, "released", ctx)  # its holder's data was erased


def _assign_new(uow: UnitOfWork, lead: Lead, ctx: Context) -> str | None:
    roster = uow.roster
    if not roster.reps:
        return None
    fields: dict[str, str | None] = {"source": lead.source, "campaign": lead.campaign}
    fields.update(lead.attributes)
    decision = decide(roster, uow.pipeline, fields, ctx.occurred_at)
    if decision.owner is None:
        return None
    apply_routing(lead, decision, uow, ctx)
    return decision.owner


def apply_routing(lead: Lead, decision: RoutingDecision, uow: UnitOfWork, ctx: Context) -> None:
    """Record an automatic assignment decision on the lead (actor ``system:<rule>``)."""
    assert decision.owner is not None
    lead.assign(
        decision.owner,
        uow.pipeline,
        ctx.as_rule(decision.rule),
        reason=decision.reason,
        rule=decision.rule,
        strategy=decision.strategy,
        team=decision.team,
        candidates=decision.candidates,
        tie_break=decision.tie_break,
        roster_version=decision.roster_version,
    )
