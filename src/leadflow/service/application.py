"""The Python API: every command as a typed method, all of them run the same way.

:meth:`Leadflow.run` is the one path a command takes: the context (who acts, and when)
is checked once, the command's handler (:data:`leadflow.service.handlers.HANDLERS`) runs
in a :class:`~leadflow.service.unit_of_work.UnitOfWork`, and the unit of work saves what
changed in one atomic append. The typed methods below only build the command.

A stale read is detected by the store (optimistic concurrency on every aggregate's
version) and surfaces as :class:`~leadflow.errors.ConcurrencyConflict`; commands on the
shared roster retry on a fresh read, others leave the decision to the caller
(:meth:`Leadflow.retrying`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import structlog

from leadflow.domain.aggregate import Aggregate
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
    validate_capture,
    validate_command,
    validate_migration,
)
from leadflow.domain.context import Context
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import Roster
from leadflow.errors import ConcurrencyConflict
from leadflow.service import activation, handlers
from leadflow.service.codec import EventMapper
from leadflow.service.data_keys import DataKeys
from leadflow.service.deadlines import DeadlineIndex, DeadlineTable
from leadflow.service.intake import CaptureOutcome, capture, prefetch_keys
from leadflow.service.reindex import reindex_contact_keys
from leadflow.service.store import Clock, LeadStore
from leadflow.service.sweep import Progress, SweepResult, sweep
from leadflow.service.unit_of_work import (
    CommandResult,
    RecordedEventRef,
    UnitOfWork,
    unit_of_work,
)

__all__ = ["CommandResult", "Leadflow", "RecordedEventRef", "utc_now"]

log = structlog.get_logger("leadflow")

T = TypeVar("T")
C = TypeVar("C", bound=Command)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Leadflow(LeadStore):
    """The application. Open one with ``leadflow.adapters.store.open_store(url)``."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        clock: Clock = utc_now,
        actor: str = "user:unknown",
        keys: DataKeys | None = None,
    ) -> None:
        super().__init__(env, clock=clock, keys=keys)
        self.default_actor = actor
        if not isinstance(self.recorder, DeadlineTable):
            raise TypeError(f"{type(self.recorder).__name__} keeps no deadline index")
        assert isinstance(self.mapper, EventMapper)
        self.deadlines = DeadlineIndex(self.recorder, self.mapper)
        """Each lead's next deadline, what a sweep reads (``service/deadlines.py``)."""

    def saved(self, aggregates: Sequence[Aggregate[Any]]) -> None:
        """The deadline index need not reload from the log the leads this process saved."""
        for aggregate in aggregates:
            if isinstance(aggregate, Lead):
                self.deadlines.saw(aggregate)

    # -- running commands ---------------------------------------------------------------

    def context(self, actor: str | None = None, at: datetime | None = None) -> Context:
        """Who acts (default: the application's actor) and when (default: now)."""
        now = self.clock()
        return Context(actor=actor or self.default_actor, occurred_at=at or now, recorded_at=now)

    def run(
        self,
        command: Command,
        *,
        actor: str | None = None,
        at: datetime | None = None,
        pipeline: Pipeline | None = None,
    ) -> CommandResult:
        """Run a validated command through its handler in one unit of work (under
        ``pipeline`` if the caller already read the one in force, else it is read)."""
        handler = handlers.handler_for(command)
        ctx = self.context(actor, at)

        def attempt() -> CommandResult:
            return self.decide(command, ctx, pipeline).commit()

        if handler.attempts == 1:
            return attempt()
        return self.retrying(attempt, attempts=handler.attempts)

    def decide(
        self, command: Command, ctx: Context, pipeline: Pipeline | None = None
    ) -> UnitOfWork:
        """The command run up to its commit: loaded and decided, nothing saved yet (the
        caller commits it, alone or with others: ``unit_of_work.commit_each``)."""
        with unit_of_work(self, command.NAME, ctx, pipeline) as uow:
            handlers.handler_for(command).handle(uow, command)
        return uow

    def execute(
        self,
        command: type[Command],
        data: Mapping[str, Any],
        *,
        actor: str | None = None,
        at: datetime | None = None,
    ) -> CommandResult:
        """Validate ``data`` as ``command`` (errors name the field), then :meth:`run` it."""
        pipeline = self.pipeline
        validated = self.validate(command, data, pipeline)
        return self.run(validated, actor=actor, at=at, pipeline=pipeline)

    def validate(
        self, command: type[C], data: Mapping[str, Any], pipeline: Pipeline | None = None
    ) -> C:
        """``data`` as a ``command``, normalised under the pipeline in force."""
        region = (pipeline or self.pipeline).capture.default_region
        return validate_command(command, dict(data), region=region)

    def retrying(self, command: Callable[[], T], attempts: int = 5) -> T:
        """Run ``command``; on a concurrency conflict, run it again on a fresh read.

        Between attempts it waits a short random time (growing, at most 50 ms), so that
        writers contending for one aggregate (the roster) do not collide in step again.
        """
        for attempt in range(1, attempts + 1):
            try:
                return command()
            except ConcurrencyConflict as conflict:
                if attempt == attempts:
                    raise
                log.info("conflict_retried", lead_id=str(conflict.lead_id), attempt=attempt)
                time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
        raise AssertionError("unreachable")

    # -- reading ------------------------------------------------------------------------

    def get_lead(self, lead_id: UUID) -> Lead:
        """The lead's current state, derived from its events."""
        return self.lead(lead_id)

    def activate_pipeline(
        self, pipeline: Pipeline, *, actor: str | None = None, mapping: Sequence[str] = ()
    ) -> bool:
        """Put ``pipeline`` in force; returns False if it already was. A change of
        ``assignment.closed_stages`` recounts the reps' loads in the same append; a stage
        the new version drops must be mapped (``mapping``: ``OLD=NEW`` items) when leads
        are in it, and those leads are moved in the same append."""
        return activation.activate(self, pipeline, self.context(actor), mapping)

    # -- capture ------------------------------------------------------------------------

    def capture(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        wechat: str | None = None,
        name: str | None = None,
        company: str | None = None,
        source: str | None = None,
        campaign: str | None = None,
        attributes: Mapping[str, str] | None = None,
        stage: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
        lead_id: UUID | None = None,
    ) -> CommandResult:
        """Capture a lead. Contact details are validated and normalised.

        If a contact key (``dedupe.keys``) is already held, no lead is created: the touch
        is recorded on the lead that holds it (``TouchRecorded``) and the result names
        that lead. A new lead is assigned at once when ``assignment.on_capture`` is on.
        """
        pipeline = self.pipeline
        command = self.validate_capture(
            {
                "email": email,
                "phone": phone,
                "wechat": wechat,
                "name": name,
                "company": company,
                "source": source,
                "campaign": campaign,
                "attributes": dict(attributes or {}),
                "stage": stage,
                "occurred_at": at,
                "lead_id": lead_id,
            },
            pipeline,
        )
        return self.run(command, actor=actor, at=command.occurred_at, pipeline=pipeline)

    def validate_capture(
        self, data: Mapping[str, Any], pipeline: Pipeline | None = None
    ) -> CaptureLead:
        """Validate and normalise capture input under the pipeline in force."""
        return validate_capture(data, pipeline or self.pipeline, self.clock())

    def validate_migration(
        self,
        data: Mapping[str, Any],
        pipeline: Pipeline | None = None,
        roster: Roster | None = None,
    ) -> MigrateLead:
        """Validate a lead from another CRM (``import --migrate``): any stage of the
        pipeline, a status that stage permits, an owner on the roster (under ``pipeline``
        and ``roster`` if the caller read them once for a file)."""
        pipeline = pipeline or self.pipeline
        return validate_migration(data, pipeline, roster or self.roster(), self.clock())

    def capture_batch(
        self,
        rows: Sequence[tuple[CaptureLead, str | None]],
        *,
        actor: str | None = None,
        pipeline: Pipeline | None = None,
    ) -> list[CaptureOutcome]:
        """Capture validated rows (each with its import key) in one atomic append.

        Rows already imported (same import key) are skipped; rows of the same person,
        in this batch or before it, become touches. On a conflict the whole batch is
        re-planned on a fresh read.
        """

        def attempt() -> list[CaptureOutcome]:
            with unit_of_work(self, "import", self.context(actor), pipeline) as uow:
                prefetch_keys(uow, rows)
                outcomes = [
                    capture(uow, command, self.context(actor, command.occurred_at), import_key=ik)
                    for command, ik in rows
                ]
                uow.commit()
                return outcomes

        return self.retrying(attempt, attempts=handlers.CONTENDED)

    # -- lead commands ------------------------------------------------------------------

    def update_profile(
        self,
        lead_id: UUID,
        changes: Mapping[str, str | None],
        *,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Change profile fields (``attributes.<key>`` for attributes; ``None`` clears)."""
        data = {"lead_id": lead_id, "changes": dict(changes)}
        return self.execute(UpdateProfile, data, actor=actor, at=at)

    def record_activity(
        self,
        lead_id: UUID,
        activity: str,
        *,
        detail: str | None = None,
        ref: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        data = {"lead_id": lead_id, "activity": activity, "detail": detail, "ref": ref}
        return self.execute(RecordActivity, data, actor=actor, at=at)

    def set_score(
        self,
        lead_id: UUID,
        score: float,
        reason: str,
        *,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        data = {"lead_id": lead_id, "score": score, "reason": reason}
        return self.execute(SetScore, data, actor=actor, at=at)

    def change_stage(
        self,
        lead_id: UUID,
        stage: str,
        *,
        reason: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        data = {"lead_id": lead_id, "stage": stage, "reason": reason}
        return self.execute(ChangeStage, data, actor=actor, at=at)

    def change_status(
        self,
        lead_id: UUID,
        status: str,
        *,
        reason: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        data = {"lead_id": lead_id, "status": status, "reason": reason}
        return self.execute(ChangeStatus, data, actor=actor, at=at)

    def assign(
        self,
        lead_id: UUID,
        owner: str,
        *,
        reason: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """A person assigns a lead to a rep on the roster (``assignment.require_manager``:
        only a manager of the rep's team may)."""
        data = {"lead_id": lead_id, "owner": owner, "reason": reason}
        return self.execute(AssignLead, data, actor=actor, at=at)

    def claim(
        self, lead_id: UUID, owner: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        """A rep takes a lead from the pool, within ``pool.daily_claim_limit``."""
        return self.execute(
            ClaimLead, {"lead_id": lead_id, "owner": owner}, actor=actor or owner, at=at
        )

    def release(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self.execute(ReleaseLead, {"lead_id": lead_id, "reason": reason}, actor=actor, at=at)

    def hand_off(
        self,
        lead_id: UUID,
        to_owner: str,
        *,
        note: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        data = {"lead_id": lead_id, "to_owner": to_owner, "note": note}
        return self.execute(HandOffLead, data, actor=actor, at=at)

    def accept_handoff(
        self, lead_id: UUID, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        """Only the rep the hand-off is addressed to (or their manager) accepts it."""
        return self.execute(AcceptHandOff, {"lead_id": lead_id}, actor=actor, at=at)

    def reject_handoff(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        data = {"lead_id": lead_id, "reason": reason}
        return self.execute(RejectHandOff, data, actor=actor, at=at)

    def convert(
        self,
        lead_id: UUID,
        target: str,
        account_ref: str,
        *,
        opportunity_ref: str | None = None,
        amount: float | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        data = {
            "lead_id": lead_id,
            "target": target,
            "account_ref": account_ref,
            "opportunity_ref": opportunity_ref,
            "amount": amount,
        }
        return self.execute(ConvertLead, data, actor=actor, at=at)

    def win(
        self,
        lead_id: UUID,
        *,
        amount: float | None = None,
        currency: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        data = {"lead_id": lead_id, "amount": amount, "currency": currency}
        return self.execute(WinDeal, data, actor=actor, at=at)

    def lose(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self.execute(LoseDeal, {"lead_id": lead_id, "reason": reason}, actor=actor, at=at)

    def churn(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self.execute(ChurnLead, {"lead_id": lead_id, "reason": reason}, actor=actor, at=at)

    def disqualify(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        data = {"lead_id": lead_id, "reason": reason}
        return self.execute(DisqualifyLead, data, actor=actor, at=at)

    def erase_personal_data(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        data = {"lead_id": lead_id, "reason": reason}
        return self.execute(ErasePersonalData, data, actor=actor, at=at)

    def qualify(
        self,
        lead_id: UUID,
        *,
        budget: bool | None = None,
        authority: bool | None = None,
        need: bool | None = None,
        timeline: bool | None = None,
        note: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Record BANT answers; the pipeline's ``[scoring.bant]`` rule may qualify the lead."""
        data = {
            "lead_id": lead_id,
            "budget": budget,
            "authority": authority,
            "need": need,
            "timeline": timeline,
            "note": note,
        }
        return self.execute(RecordQualification, data, actor=actor, at=at)

    def merge(
        self,
        duplicate_id: UUID,
        into_lead_id: UUID,
        *,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Merge a duplicate into a surviving lead; both record it, atomically."""
        data = {"lead_id": duplicate_id, "into_lead_id": into_lead_id}
        return self.execute(MergeLeads, data, actor=actor, at=at)

    def unmerge(
        self,
        duplicate_id: UUID,
        *,
        reason: str,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Undo a merge with compensating events; the keys the merge moved move back."""
        data = {"lead_id": duplicate_id, "reason": reason}
        return self.execute(UnmergeLead, data, actor=actor, at=at)

    # -- the roster ---------------------------------------------------------------------

    def add_rep(
        self,
        rep: str,
        *,
        team: str | None = None,
        capacity: int | None = None,
        weight: float | None = None,
        clear: Sequence[str] = (),
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Put a rep on the roster, or change only the settings given (``clear`` resets)."""
        data = {
            "rep": rep,
            "team": team,
            "capacity": capacity,
            "weight": weight,
            "clear": tuple(clear),
        }
        return self.execute(AddRep, data, actor=actor, at=at)

    def record_absence(
        self,
        rep: str,
        start: datetime,
        end: datetime,
        *,
        reason: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """The rep is away from ``start`` until ``end``: skipped, keeping their credit."""
        data = {"rep": rep, "start": start, "end": end, "reason": reason}
        return self.execute(RecordAbsence, data, actor=actor, at=at)

    def define_team(
        self,
        team: str,
        managers: Sequence[str],
        *,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        data = {"team": team, "managers": tuple(managers)}
        return self.execute(DefineTeam, data, actor=actor, at=at)

    def redistribute(
        self,
        rep: str,
        reason: str,
        *,
        leave: bool = False,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Give ``rep``'s leads to others by policy; with ``leave`` the rep leaves too."""
        data = {"rep": rep, "reason": reason, "leave": leave}
        return self.execute(Redistribute, data, actor=actor, at=at)

    # -- time-driven rules and maintenance ----------------------------------------------

    def sweep(
        self, now: datetime | None = None, *, progress: Progress | None = None
    ) -> SweepResult:
        """Fire every time-driven rule due at or before ``now`` (default: the clock).

        Deterministic and idempotent: sweeping again at the same ``now`` records nothing.
        """
        return sweep(self, self.deadlines, now or self.clock(), progress=progress)

    def reindex_contact_keys(
        self, *, batch_size: int = 500, progress: Callable[[int], None] | None = None
    ) -> dict[str, int]:
        """Reserve the contact keys of leads recorded before dedupe (idempotent)."""
        return reindex_contact_keys(self, self.clock(), batch_size=batch_size, progress=progress)
