"""Taking leads in: capture with dedupe and assignment, as one unit of work.

An :class:`Intake` gathers every aggregate a capture (or a batch of imported rows)
changes: the leads, their contact-key and import-key reservations, and the roster
when an owner changes. :meth:`Intake.aggregates` hands them to one ``app.save(...)``,
a single atomic append: either all of a batch is recorded or none of it.

Within a batch the intake is its own index: a second row for the same person finds the
key reserved by the first row (not yet saved) and becomes a touch on that lead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from leadflow.domain.commands import CaptureLead
from leadflow.domain.context import Context
from leadflow.domain.dedupe import ContactKey, contact_keys, key_id
from leadflow.domain.events import TouchData
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import Roster
from leadflow.domain.routing import Decision, counts_for, decide

__all__ = ["CaptureOutcome", "Intake", "sync_load"]


@dataclass(frozen=True)
class CaptureOutcome:
    lead_id: UUID | None
    """The new lead, the matched lead, or ``None`` for a row already imported."""
    outcome: str
    """``created``, ``touched`` (matched an existing lead) or ``already_imported``."""
    matched_on: tuple[str, ...] = ()
    assigned_to: str | None = None


def sync_load(roster: Roster, lead: Lead, pipeline: Pipeline, ctx: Context, cause: str) -> None:
    """Make the roster's ledger agree with the lead: it counts for its owner while open."""
    roster.track(lead.id, counts_for(lead, pipeline), cause, ctx)


@dataclass
class Intake:
    pipeline: Pipeline
    load_lead: Callable[[UUID], Lead | None]
    load_key: Callable[[UUID], ContactKey | None]
    load_roster: Callable[[], Roster]
    leads: dict[UUID, Lead] = field(default_factory=dict)
    keys: dict[UUID, ContactKey | None] = field(default_factory=dict)
    roster: Roster | None = None

    # -- lookups, cached for the batch ----------------------------------------------------

    def prefetch(
        self,
        rows: Sequence[tuple[CaptureLead, str | None]],
        existing: Callable[[list[UUID]], set[UUID]],
    ) -> None:
        """Ask once which of the batch's keys exist; the rest are known free, unread."""
        ids: list[UUID] = []
        for command, import_key in rows:
            if import_key:
                ids.append(key_id("import", import_key))
            values = {"email": command.email, "phone": command.phone, "wechat": command.wechat}
            ids += [kid for _, kid in contact_keys(values, self.pipeline.dedupe.keys)]
        found = existing([kid for kid in ids if kid not in self.keys])
        for kid in ids:
            if kid not in found:
                self.keys.setdefault(kid, None)

    def key(self, kid: UUID) -> ContactKey | None:
        if kid not in self.keys:
            self.keys[kid] = self.load_key(kid)
        return self.keys[kid]

    def lead(self, lead_id: UUID) -> Lead | None:
        if lead_id not in self.leads:
            found = self.load_lead(lead_id)
            if found is None:
                return None
            self.leads[lead_id] = found
        return self.leads[lead_id]

    def the_roster(self) -> Roster:
        if self.roster is None:
            self.roster = self.load_roster()
        return self.roster

    def open_holder(self, key: ContactKey) -> Lead | None:
        """The lead a key leads to: following merges; ``None`` if its data was erased."""
        lead = self.lead(key.lead_id) if key.lead_id else None
        seen: set[UUID] = set()
        while lead is not None and lead.merged_into is not None and lead.id not in seen:
            seen.add(lead.id)
            lead = self.lead(lead.merged_into)
        if lead is None or lead.erased or lead.merged_into is not None:
            return None
        return lead

    # -- capture --------------------------------------------------------------------------

    def capture(
        self,
        command: CaptureLead,
        ctx: Context,
        *,
        lead_id: UUID | None = None,
        import_key: str | None = None,
    ) -> CaptureOutcome:
        p = self.pipeline
        import_kid = key_id("import", import_key) if import_key else None
        if import_kid is not None and self.key(import_kid) is not None:
            return CaptureOutcome(None, "already_imported")
        values = {"email": command.email, "phone": command.phone, "wechat": command.wechat}
        found = [(kind, kid, self.key(kid)) for kind, kid in contact_keys(values, p.dedupe.keys)]
        holders: list[tuple[str, Lead]] = []
        for kind, _, key in found:
            holder = self.open_holder(key) if key is not None else None
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
            adopt = p.dedupe.adopt_new_keys
            self._claim_keys(found, lead, "touch", ctx, take_free=adopt)
            outcome = CaptureOutcome(lead.id, "touched", matched, lead.owner)
        else:
            lead = Lead.capture(
                lead_id or uuid4(),
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
            self.leads[lead.id] = lead
            self._claim_keys(found, lead, "capture", ctx, take_free=True)
            owner = self._assign_new(lead, ctx) if p.assignment.on_capture else None
            outcome = CaptureOutcome(lead.id, "created", (), owner)
        if import_kid is not None:
            self.keys[import_kid] = ContactKey.reserve(import_kid, "import", lead.id, "import", ctx)
        return outcome

    def _claim_keys(
        self,
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
                    self.keys[kid] = ContactKey.reserve(kid, kind, lead.id, reason, ctx)
            elif self.open_holder(key) is None:
                key.move(lead.id, "released", ctx)  # its holder's data was erased

    def _assign_new(self, lead: Lead, ctx: Context) -> str | None:
        roster = self.the_roster()
        if not roster.reps:
            return None
        fields: dict[str, str | None] = {"source": lead.source, "campaign": lead.campaign}
        fields.update(lead.attributes)
        decision = decide(roster, self.pipeline, fields, ctx.occurred_at)
        if decision.owner is None:
            return None
        apply_decision(lead, decision, self.pipeline, ctx)
        sync_load(roster, lead, self.pipeline, ctx, "LeadAssigned")
        return decision.owner

    # -- saving ---------------------------------------------------------------------------

    def aggregates(self) -> list[Any]:
        """Everything changed, leads first; the roster only if its ledger changed."""
        changed: list[Any] = [lead for lead in self.leads.values() if lead._pending]
        changed += [k for k in self.keys.values() if k is not None and k._pending]
        if self.roster is not None and self.roster._pending:
            changed.append(self.roster)
        return changed


def apply_decision(lead: Lead, decision: Decision, pipeline: Pipeline, ctx: Context) -> None:
    """Record an automatic assignment decision on the lead (actor ``system:<rule>``)."""
    assert decision.owner is not None
    lead.assign(
        decision.owner,
        pipeline,
        ctx.as_rule(decision.rule),
        reason=decision.reason,
        rule=decision.rule,
        strategy=decision.strategy,
        team=decision.team,
        candidates=decision.candidates,
        tie_break=decision.tie_break,
        roster_version=decision.roster_version,
    )
