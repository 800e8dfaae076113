"""The leadflow application service: every command, typed, over the event store.

Each command loads what it needs, asks the domain to decide, and saves the
resulting events in one atomic append. A stale read is detected by the store
(optimistic concurrency on each lead's version) and surfaces as
:class:`~leadflow.errors.ConcurrencyConflict`; :meth:`Leadflow.retrying` re-runs
a command on a fresh read.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable
from uuid import UUID
from zoneinfo import ZoneInfo

import structlog
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    EventStore,
    IntegrityError,
    Mapper,
    Notification,
    PersistenceError,
    Recording,
)

from leadflow.domain.commands import CaptureLead, RecordActivity, validate_command
from leadflow.domain.context import Context
from leadflow.domain.dedupe import ContactKey, key_id
from leadflow.domain.events import EVENT_TYPES, CandidateLoad, LeadEvent
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.pipeline_log import PIPELINE_LOG_ID, PipelineLog
from leadflow.domain.roster import ROSTER_ID, Roster, RosterEvent, RosterSnapshot
from leadflow.domain.routing import consider, counts_for, decide
from leadflow.errors import ConcurrencyConflict, InvalidInput, LeadNotFound
from leadflow.service.codec import LEAD_TOPICS, EventMapper, EventRecord
from leadflow.service.intake import CaptureOutcome, Intake, apply_decision, sync_load
from leadflow.service.pipeline_files import default_pipeline
from leadflow.service.sweep import LeadStates, Progress, SweepResult, run_sweep

__all__ = ["CommandResult", "Leadflow", "RecordedEventRef"]

log = structlog.get_logger("leadflow")

T = TypeVar("T")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RecordedEventRef:
    position: int
    type: str
    sequence: int
    actor: str


@dataclass(frozen=True)
class CommandResult:
    """What a command recorded: the lead, its new version, and each event's position."""

    lead_id: UUID
    version: int
    events: tuple[RecordedEventRef, ...]


@runtime_checkable
class LeadIndexedRecorder(Protocol):
    """A recorder that reads one lead's events with their positions by its key
    (both of leadflow's recorders do; see ``leadflow.adapters``)."""

    def select_lead_notifications(self, lead_id: UUID) -> Sequence[Notification]: ...


def _project_lead(lead: Lead | None, events: Iterable[Any]) -> Lead | None:
    """Fold events into a lead (the library's default also type-checks every event, slowly)."""
    for event in events:
        lead = Lead.evolve(lead, event)
    return lead


class Leadflow(Application[UUID]):
    """The application service. Persistence is chosen by ``env`` (see ``adapters.store``).

    Loaded leads are cached and fast-forwarded with any newer events from the store before
    each command (one indexed read), so several processes can write the same store.
    """

    name = "leadflow"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        clock: Clock = utc_now,
        actor: str = "user:unknown",
    ) -> None:
        super().__init__(dict(env or {}))
        self.clock = clock
        self.default_actor = actor
        self._pipeline_log: PipelineLog | None = None
        self._roster: Roster | None = None
        self._snapshot_store: EventStore[UUID] | None = None
        self.existing_ids: Callable[[list[UUID]], set[UUID]] | None = None
        """Optional bulk lookup set by an adapter: which of these aggregate ids exist.
        Imports use it to skip one read per free contact key."""
        self._lead_states: LeadStates | None = None

    def construct_mapper(self) -> Mapper[UUID]:
        return EventMapper(compressor=self.factory.compressor(), cipher=self.factory.cipher())

    # -- the pipeline -------------------------------------------------------------------

    def pipeline_log(self) -> PipelineLog:
        if self._pipeline_log is None:
            try:
                self._pipeline_log = self.repository.get(PIPELINE_LOG_ID)
            except AggregateNotFoundError:
                self._pipeline_log = PipelineLog()
        return self._pipeline_log

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline in force; the shipped default is activated on first use."""
        current = self.pipeline_log().current
        if current is None:
            self.activate_pipeline(default_pipeline(), actor="system:init")
            current = self.pipeline_log().current
            assert current is not None
        return current

    def pipeline_version(self, version: str) -> Pipeline:
        try:
            return self.pipeline_log().versions[version]
        except KeyError:
            raise InvalidInput(
                "pipeline_version", f"no pipeline {version!r} was activated"
            ) from None

    def activate_pipeline(self, pipeline: Pipeline, *, actor: str | None = None) -> bool:
        """Put ``pipeline`` in force; returns False if it already was."""
        self._pipeline_log = None  # re-read: another process may have activated one
        plog = self.pipeline_log()
        changed = plog.activate(pipeline, self._context(actor, None))
        if changed:
            try:
                self.save(plog)
            except IntegrityError as exc:
                self._pipeline_log = None
                raise ConcurrencyConflict(PIPELINE_LOG_ID, "pipeline log") from exc
            log.info("pipeline_activated", version=pipeline.version, name=pipeline.name)
        return changed

    # -- helpers ----------------------------------------------------------------------------

    def _context(self, actor: str | None, at: datetime | None) -> Context:
        now = self.clock()
        return Context(actor=actor or self.default_actor, occurred_at=at or now, recorded_at=now)

    def get_lead(self, lead_id: UUID) -> Lead:
        try:
            lead: Lead = self.repository.get(lead_id, projector_func=_project_lead)
        except AggregateNotFoundError:
            raise LeadNotFound(lead_id) from None
        if not isinstance(lead, Lead):
            raise LeadNotFound(lead_id)
        return lead

    def _commit(self, command: str, *leads: Lead, also: Sequence[Any] = ()) -> CommandResult:
        """Save ``leads`` (and ``also``: keys, roster) in one atomic append.

        Any owner change in these leads is mirrored on the roster's ledger of open
        leads first, so that loads are saved in the same append as the leads.
        """
        with self._roster_work():
            roster = self._sync_loads(leads)
            extra = list(also)
            if roster is not None and roster._pending and roster not in extra:
                extra.append(roster)
            saved_roster = next((a for a in extra if isinstance(a, Roster)), None)
            before = saved_roster.version - len(saved_roster._pending) if saved_roster else 0
            try:
                recordings = self._save_leads(leads, extra)
            except IntegrityError as exc:
                # a cached copy may be stale: the next read goes to the store
                self._forget(*leads, *extra)
                raise ConcurrencyConflict(leads[0].id if leads else ROSTER_ID) from exc
            if saved_roster is not None:
                self._snapshot_roster(before, saved_roster)
        refs = tuple(
            RecordedEventRef(
                position=r.notification.id,
                type=r.domain_event.TYPE,  # type: ignore[attr-defined]
                sequence=r.domain_event.originator_version,
                actor=r.domain_event.actor,  # type: ignore[attr-defined]
            )
            for r in recordings
        )
        for ref, r in zip(refs, recordings, strict=True):
            log.info(
                "event_recorded",
                command=command,
                lead_id=str(r.domain_event.originator_id),
                position=ref.position,
                type=ref.type,
                actor=ref.actor,
            )
        if not leads:
            owner = saved_roster or (extra[0] if extra else None)
            return CommandResult(
                lead_id=owner.id if owner is not None else ROSTER_ID,
                version=owner.version if owner is not None else 0,
                events=refs,
            )
        return CommandResult(lead_id=leads[0].id, version=leads[0].version, events=refs)

    def _save_leads(self, leads: Sequence[Lead], also: Sequence[Any] = ()) -> list[Recording[UUID]]:
        """``Application.save`` for leads, without its per-object runtime Protocol checks
        (a fifth of a command's time). The library still records, caches and notifies.
        ``also``: other aggregates saved in the same append (contact keys, the roster)."""
        processing = ProcessingEvent[UUID]()
        for lead in (*leads, *also):
            processing.events.extend(lead.collect_events())
            processing.aggregates[lead.id] = lead
        recordings = self._record(processing)
        self._notify(recordings)
        return recordings

    def _forget(self, *leads: Any) -> None:
        cache = self.repository.cache
        if cache is not None:
            for lead in leads:
                with contextlib.suppress(KeyError):
                    cache.get(lead.id, evict=True)

    def _change(
        self,
        command: str,
        lead_id: UUID,
        actor: str | None,
        at: datetime | None,
        decide: Callable[[Lead, Pipeline, Context], None],
    ) -> CommandResult:
        lead = self.get_lead(lead_id)
        pipeline = self.pipeline
        decide(lead, pipeline, self._context(actor, at))
        return self._commit(command, lead)

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

    # -- commands ---------------------------------------------------------------------------

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
            }
        )

        def attempt() -> CommandResult:
            with self._roster_work():  # a failure after an assignment drops the roster copy
                intake = self.intake()
                ctx = self._context(actor, command.occurred_at)
                intake.capture(command, ctx, lead_id=lead_id)
                leads = [lead for lead in intake.leads.values() if lead._pending]
                others = [a for a in intake.aggregates() if not isinstance(a, Lead)]
                return self._commit("capture", *leads, also=others)

        # A conflict here is the same person captured concurrently (the retry reads the key
        # the other writer reserved and records a touch instead), or another assignment
        # changing the roster's loads first.
        return self.retrying(attempt, attempts=CONTENDED_ATTEMPTS)

    def validate_capture(self, data: Mapping[str, Any]) -> CaptureLead:
        """Validate and normalise capture input under the pipeline in force."""
        pipeline = self.pipeline
        command = validate_command(CaptureLead, dict(data), region=pipeline.capture.default_region)
        command.require_contact(list(pipeline.capture.contact_fields))
        # Checked here too, not only when the lead is built, so that a bulk import reports
        # the row instead of failing its batch.
        if command.stage is not None and command.stage not in pipeline.entry_stages:
            raise InvalidInput(
                "stage",
                f"{command.stage!r} is not an entry stage; leads are captured into: "
                + ", ".join(pipeline.entry_stages),
            )
        when = command.occurred_at
        if when is not None:
            if when.tzinfo is None:
                raise InvalidInput("occurred_at", "must include a UTC offset")
            if when > self.clock():
                raise InvalidInput("occurred_at", f"{when.isoformat()} is in the future")
        return command

    def intake(self) -> Intake:
        """A unit of work for captures (see :mod:`leadflow.intake`)."""
        return Intake(
            self.pipeline,
            load_lead=self._find_lead,
            load_key=self._find_key,
            load_roster=self.roster,
        )

    def capture_batch(
        self, rows: Sequence[tuple[CaptureLead, str | None]], *, actor: str | None = None
    ) -> list[CaptureOutcome]:
        """Capture validated rows (each with its import key) in one atomic append.

        Rows already imported (same import key) are skipped; rows of the same person,
        in this batch or before it, become touches. On a conflict the whole batch is
        re-planned on a fresh read.
        """

        def attempt() -> list[CaptureOutcome]:
            with self._roster_work():  # a failure after an assignment drops the roster copy
                intake = self.intake()
                if self.existing_ids is not None:
                    intake.prefetch(rows, self.existing_ids)
                outcomes = [
                    intake.capture(
                        command, self._context(actor, command.occurred_at), import_key=ik
                    )
                    for command, ik in rows
                ]
                leads = [lead for lead in intake.leads.values() if lead._pending]
                others = [a for a in intake.aggregates() if not isinstance(a, Lead)]
                if leads or others:
                    self._commit("import", *leads, also=others)
                return outcomes

        return self.retrying(attempt, attempts=CONTENDED_ATTEMPTS)

    def update_profile(
        self,
        lead_id: UUID,
        changes: Mapping[str, str | None],
        *,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        region = self.pipeline.capture.default_region
        normalised: dict[str, str | None] = {}
        for key, value in changes.items():
            if value is not None and key in ("email", "phone", "wechat"):
                checked = validate_command(CaptureLead, {key: value}, region=region)
                value = getattr(checked, key)
            normalised[key] = value
        lead = self.get_lead(lead_id)
        pipeline = self.pipeline
        ctx = self._context(actor, at)
        lead.update_profile(normalised, pipeline, ctx)
        # A new phone, email or WeChat id joins the dedupe index; one another lead holds
        # is refused: those are the same person, to be merged.
        intake = self.intake()
        keys: list[ContactKey] = []
        for kind in pipeline.dedupe.keys:
            value = normalised.get(kind)
            if not value:
                continue
            kid = key_id(kind, value)
            held = intake.key(kid)
            if held is None:
                keys.append(ContactKey.reserve(kid, kind, lead.id, "profile", ctx))
                continue
            holder = intake.open_holder(held)
            if holder is not None and holder.id != lead.id:
                raise InvalidInput(
                    kind, f"{value} belongs to lead {holder.id}; merge the two leads instead"
                )
            if holder is None:
                held.move(lead.id, "released", ctx)
                keys.append(held)
        return self._commit("update_profile", lead, also=keys)

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
        command = validate_command(
            RecordActivity, {"activity": activity, "detail": detail, "ref": ref}
        )
        return self._change(
            "record_activity",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.record_activity(
                command.activity, p, ctx, detail=command.detail, ref=command.ref
            ),
        )

    def set_score(
        self,
        lead_id: UUID,
        score: float,
        reason: str,
        *,
        rule: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        return self._change(
            "set_score",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.set_score(score, reason, p, ctx, rule=rule),
        )

    def change_stage(
        self,
        lead_id: UUID,
        stage: str,
        *,
        reason: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        return self._change(
            "change_stage",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.change_stage(stage, p, ctx, reason=reason),
        )

    def change_status(
        self,
        lead_id: UUID,
        status: str,
        *,
        reason: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        return self._change(
            "change_status",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.change_status(status, p, ctx, reason=reason),
        )

    def assign(
        self,
        lead_id: UUID,
        owner: str,
        *,
        reason: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """A person assigns a lead; the event records the rep's load at that moment.

        With ``assignment.require_manager`` only a manager of the rep's team (or a
        ``system:`` actor) may do so.
        """

        def attempt() -> CommandResult:
            with self._roster_work():
                lead = self.get_lead(lead_id)
                pipeline = self.pipeline
                ctx = self._context(actor, at)
                roster = self.roster()
                if pipeline.assignment.require_manager and not ctx.actor.startswith("system:"):
                    managers = roster.managers_of(owner)
                    if ctx.actor not in managers:
                        raise InvalidInput(
                            "actor",
                            f"{ctx.actor} is not a manager of {owner}'s team (managers: "
                            f"{', '.join(managers) or 'none'}); assignment.require_manager is on",
                        )
                if owner in roster.reps:
                    candidates = consider(roster, [owner], pipeline, ctx.occurred_at)
                    team = roster.reps[owner].team
                else:
                    candidates = [CandidateLoad(rep=owner, open_leads=roster.load(owner))]
                    team = None
                lead.assign(
                    owner,
                    pipeline,
                    ctx,
                    reason=reason,
                    strategy="manual",
                    team=team,
                    candidates=candidates,
                    roster_version=roster.version,
                )
                return self._commit("assign", lead)

        return self.retrying(attempt, attempts=CONTENDED_ATTEMPTS)

    def claim(
        self, lead_id: UUID, owner: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        """A rep takes a lead from the pool, within ``pool.daily_claim_limit``.

        The claim count lives on the roster and is saved in the same append as the
        lead: two claims racing past the limit conflict, and the retry (on a fresh read)
        is refused.
        """

        def attempt() -> CommandResult:
            with self._roster_work():
                lead = self.get_lead(lead_id)
                pipeline = self.pipeline
                ctx = self._context(actor or owner, at)
                roster = self.roster()
                day = claim_day(ctx.occurred_at, pipeline)
                used = roster.claims_on(owner, day)
                limit = pipeline.pool.daily_claim_limit
                if limit is not None and used >= limit:
                    raise InvalidInput(
                        "owner",
                        f"{owner} has claimed {used} leads on {day}; "
                        f"pool.daily_claim_limit is {limit}",
                    )
                lead.claim(owner, pipeline, ctx, claims_today=used + 1, daily_claim_limit=limit)
                roster.track(lead.id, owner, "LeadClaimed", ctx, claim_day=day)
                sync_load(roster, lead, pipeline, ctx, "LeadClaimed")
                return self._commit("claim", lead)

        return self.retrying(attempt, attempts=CONTENDED_ATTEMPTS)

    def release(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self._change(
            "release", lead_id, actor, at, lambda lead, p, ctx: lead.release(reason, p, ctx)
        )

    def hand_off(
        self,
        lead_id: UUID,
        to_owner: str,
        *,
        note: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        return self._change(
            "hand_off",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.hand_off(to_owner, p, ctx, note=note),
        )

    def accept_handoff(
        self, lead_id: UUID, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self._change(
            "accept_handoff", lead_id, actor, at, lambda lead, p, ctx: lead.accept_handoff(p, ctx)
        )

    def reject_handoff(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self._change(
            "reject_handoff",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.reject_handoff(reason, p, ctx),
        )

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
        return self._change(
            "convert",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.convert(
                target, account_ref, p, ctx, opportunity_ref=opportunity_ref, amount=amount
            ),
        )

    def win(
        self,
        lead_id: UUID,
        *,
        amount: float | None = None,
        currency: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        return self._change(
            "win",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.win(p, ctx, amount=amount, currency=currency),
        )

    def lose(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self._change(
            "lose", lead_id, actor, at, lambda lead, p, ctx: lead.lose(reason, p, ctx)
        )

    def churn(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self._change(
            "churn", lead_id, actor, at, lambda lead, p, ctx: lead.churn(reason, p, ctx)
        )

    def disqualify(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self._change(
            "disqualify", lead_id, actor, at, lambda lead, p, ctx: lead.disqualify(reason, p, ctx)
        )

    def merge(
        self,
        duplicate_id: UUID,
        into_lead_id: UUID,
        *,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Merge a duplicate into a surviving lead; both record it, atomically."""
        duplicate = self.get_lead(duplicate_id)
        survivor = self.get_lead(into_lead_id)
        ctx = self._context(actor, at)
        duplicate.merge_into(survivor, self.pipeline, ctx)
        # The duplicate's contact keys now lead to the survivor (each move is an event).
        keys: list[ContactKey] = []
        for kind, value in duplicate.known_contacts:
            key = self._find_key(key_id(kind, value))
            if key is not None and key.lead_id == duplicate.id:
                key.move(survivor.id, "merge", ctx)
                keys.append(key)
        return self._commit("merge", duplicate, survivor, also=keys)

    def unmerge(
        self,
        duplicate_id: UUID,
        *,
        reason: str,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Undo a merge with compensating events; the keys the merge moved move back."""
        duplicate = self.get_lead(duplicate_id)
        if duplicate.merged_into is None:
            raise InvalidInput("lead_id", f"lead {duplicate_id} is not merged into another lead")
        survivor = self.get_lead(duplicate.merged_into)
        ctx = self._context(actor, at)
        duplicate.unmerge_from(survivor, reason, self.pipeline, ctx)
        keys: list[ContactKey] = []
        for kind, value in duplicate.known_contacts:
            key = self._find_key(key_id(kind, value))
            if key is not None and key.lead_id == survivor.id and key.previous == duplicate.id:
                key.move(duplicate.id, "unmerge", ctx)
                keys.append(key)
        return self._commit("unmerge", duplicate, survivor, also=keys)

    def erase_personal_data(
        self, lead_id: UUID, reason: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self._change(
            "erase_personal_data",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.erase_personal_data(reason, p, ctx),
        )

    # -- reps, teams and the roster (issue 3, part 4) ---------------------------------------

    def roster(self) -> Roster:
        """The roster as stored now (kept in memory; only newer events are read)."""
        # Kept here rather than in the library's aggregate cache, which would deep-copy
        # the whole ledger on every read. A fresh process starts from the latest snapshot.
        roster = self._roster
        if roster is None:
            latest = list(self._roster_snapshots().get(ROSTER_ID, desc=True, limit=1))
            roster = Roster()
            if latest:
                assert isinstance(latest[0], RosterSnapshot)
                roster = latest[0].mutate(None)
        if not roster._pending:  # mid-command, the working copy is the one to use
            for event in self.repository.event_store.get(ROSTER_ID, gt=roster.version):
                assert isinstance(event, RosterEvent)
                event.mutate(roster)
        self._roster = roster
        return roster

    roster_snapshot_every = 1000
    """Roster events between snapshots (a fresh process reads at most this many)."""

    def _roster_snapshots(self) -> EventStore[UUID]:
        """The snapshot table (created on first use), for the roster only: leads are small
        enough to replay, and their loads should not pay a snapshot lookup."""
        if self._snapshot_store is None:
            for attempt in range(3):
                try:
                    recorder = self.factory.aggregate_recorder("snapshots")
                    break
                except PersistenceError:
                    # Two processes creating the table at once: PostgreSQL refuses one of
                    # the concurrent CREATE TABLE IF NOT EXISTS; by now the table exists.
                    if attempt == 2:
                        raise
            self._snapshot_store = EventStore(mapper=self.mapper, recorder=recorder)
        return self._snapshot_store

    def _snapshot_roster(self, before: int, roster: Roster) -> None:
        every = self.roster_snapshot_every
        if roster.version // every == before // every:
            return
        # IntegrityError: another process wrote this version's snapshot first.
        with contextlib.suppress(IntegrityError):
            self._roster_snapshots().put([RosterSnapshot.take(roster, self.clock())])
        log.info("roster_snapshot_taken", version=roster.version)

    def roster_at(self, version: int) -> Roster:
        """The roster as it stood at ``version`` (``LeadAssigned.roster_version``)."""
        try:
            roster: Roster = self.repository.get(ROSTER_ID, version=version)
        except AggregateNotFoundError:
            return Roster()
        return roster

    @contextmanager
    def _roster_work(self) -> Iterator[None]:
        """A command that fails after changing the cached roster drops it."""
        try:
            yield
        except BaseException:
            self._roster = None
            raise

    def _roster_change(
        self,
        command: str,
        actor: str | None,
        at: datetime | None,
        change: Callable[[Roster, Context], None],
    ) -> CommandResult:
        def attempt() -> CommandResult:
            with self._roster_work():
                roster = self.roster()
                change(roster, self._context(actor, at))
                return self._commit(command, also=[roster])

        return self.retrying(attempt)

    def add_rep(
        self,
        rep: str,
        *,
        team: str | None = None,
        capacity: int | None = None,
        weight: float = 1.0,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Put a rep on the roster, or change their team, capacity or weight."""
        return self._roster_change(
            "add_rep",
            actor,
            at,
            lambda r, ctx: r.add_rep(rep, ctx, team=team, capacity=capacity, weight=weight),
        )

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
        return self._roster_change(
            "record_absence",
            actor,
            at,
            lambda r, ctx: r.record_absence(rep, start, end, ctx, reason=reason),
        )

    def define_team(
        self,
        team: str,
        managers: Sequence[str],
        *,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        return self._roster_change(
            "define_team", actor, at, lambda r, ctx: r.define_team(team, list(managers), ctx)
        )

    def redistribute(
        self,
        rep: str,
        reason: str,
        *,
        leave: bool = False,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> CommandResult:
        """Give all of ``rep``'s open leads to other reps by the assignment policy.

        With ``leave`` the rep also leaves the roster. One atomic append: every lead
        and the roster, or nothing. A lead no rep can take goes back to the pool.
        """
        if not reason or not reason.strip():
            raise InvalidInput("reason", "must not be empty")

        def attempt() -> CommandResult:
            with self._roster_work():
                pipeline = self.pipeline
                ctx = self._context(actor, at)
                roster = self.roster()
                if leave:
                    roster.remove_rep(rep, reason, ctx)
                elif rep not in roster.reps and not roster.open_leads.get(rep):
                    roster.require_rep(rep)
                leads: list[Lead] = []
                for lead_id in sorted(roster.open_leads.get(rep, set()), key=str):
                    lead = self.get_lead(lead_id)
                    fields: dict[str, str | None] = {
                        "source": lead.source,
                        "campaign": lead.campaign,
                    }
                    fields.update(lead.attributes)
                    decision = decide(roster, pipeline, fields, ctx.occurred_at, exclude={rep})
                    if decision.owner is not None:
                        apply_decision(lead, decision, pipeline, ctx)
                    else:
                        lead.release(
                            f"redistributed from {rep}: {decision.reason}",
                            pipeline,
                            ctx.as_rule("assignment.redistribute"),
                            rule="assignment.redistribute",
                        )
                    sync_load(roster, lead, pipeline, ctx, "redistribute")
                    leads.append(lead)
                return self._commit("redistribute", *leads, also=[roster])

        return self.retrying(attempt)

    # -- dedupe index maintenance ---------------------------------------------------------

    def reindex_contact_keys(
        self, *, batch_size: int = 500, progress: Callable[[int], None] | None = None
    ) -> dict[str, int]:
        """Reserve the contact keys of leads that have none (leads recorded before dedupe).

        Two passes over the log: the first collects merges and erasures (small), the second
        reserves, in log order, each key not yet in the store for the lead that holds it now
        (a merged duplicate's keys go to its survivor; erased leads get none). The first lead
        seen with a key keeps it. Idempotent: a second run reserves nothing.
        """
        merged_into: dict[UUID, UUID] = {}
        erased: set[UUID] = set()
        for record in self.read_events(types=["LeadMerged", "LeadUnmerged", "PersonalDataErased"]):
            if record.type == "LeadMerged":
                merged_into[record.lead_id] = UUID(str(record.data["into_lead_id"]))
            elif record.type == "LeadUnmerged":
                merged_into.pop(record.lead_id, None)
            else:
                erased.add(record.lead_id)

        def holder(lead_id: UUID) -> UUID | None:
            seen: set[UUID] = set()
            while lead_id in merged_into and lead_id not in seen:
                seen.add(lead_id)
                lead_id = merged_into[lead_id]
            return None if lead_id in erased else lead_id

        kinds = self.pipeline.dedupe.keys
        counts = {"seen": 0, "reserved": 0}
        pending: dict[UUID, tuple[str, UUID]] = {}

        def flush() -> None:
            if not pending:
                return
            ids = list(pending)
            existing = (
                self.existing_ids(ids)
                if self.existing_ids is not None
                else {kid for kid in ids if self._find_key(kid) is not None}
            )
            now = self._context("system:dedupe-reindex", None)
            keys = [
                ContactKey.reserve(kid, kind, lead_id, "reindex", now)
                for kid, (kind, lead_id) in pending.items()
                if kid not in existing
            ]
            if keys:
                self._commit("reindex_contact_keys", also=keys)
            counts["reserved"] += len(keys)
            pending.clear()
            if progress is not None:
                progress(counts["seen"])

        for record in self.read_events(types=["LeadCaptured", "TouchRecorded", "ProfileUpdated"]):
            counts["seen"] += 1
            values = record.data.get("changes", record.data)
            target = holder(record.lead_id)
            if target is None:
                continue
            for kind in kinds:
                value = values.get(kind)
                if value:
                    pending.setdefault(key_id(kind, value), (kind, target))
            if len(pending) >= batch_size:
                flush()
        flush()
        log.info("contact_keys_reindexed", **counts)
        return counts

    # -- loading by id, ``None`` when absent ----------------------------------------------

    def _find_lead(self, lead_id: UUID) -> Lead | None:
        try:
            return self.get_lead(lead_id)
        except LeadNotFound:
            return None

    def _find_key(self, kid: UUID) -> ContactKey | None:
        try:
            key: ContactKey = self.repository.get(kid)
        except AggregateNotFoundError:
            return None
        return key

    def _sync_loads(self, leads: Sequence[Lead]) -> Roster | None:
        """Mirror owner changes of ``leads`` on the roster's ledger (only if any may have)."""
        roster: Roster | None = None
        closed = self.pipeline.assignment.closed_stages
        for lead in leads:
            moved = [e for e in lead._pending if _may_move_load(e, closed)]
            if not moved:
                continue
            last = moved[-1]
            roster = roster or self.roster()
            ctx = Context(
                actor=last.actor, occurred_at=last.occurred_at, recorded_at=last.timestamp
            )
            roster.track(lead.id, counts_for(lead, self.pipeline), last.TYPE, ctx)
        return roster or self._roster

    # -- policies: qualification, the sweep ---------------------------------------------------

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
        return self._change(
            "qualify",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.qualify(
                p, ctx, budget=budget, authority=authority, need=need, timeline=timeline, note=note
            ),
        )

    def sweep(
        self, now: datetime | None = None, *, progress: Progress | None = None
    ) -> SweepResult:
        """Fire every time-driven rule due at or before ``now`` (default: the clock).

        Deterministic and idempotent: sweeping again at the same ``now`` records nothing.
        """
        if self._lead_states is None:
            self._lead_states = LeadStates()
        return run_sweep(self, self._lead_states, now or self.clock(), progress=progress)

    def lead_history(self, lead_id: UUID) -> list[LeadEvent[Any]]:
        """One lead's events, in order, read by the lead's id (no log scan)."""
        events = [e for e in self.events.get(lead_id) if isinstance(e, LeadEvent)]
        if not events:
            raise LeadNotFound(lead_id)
        return events

    # -- reading the log --------------------------------------------------------------------

    def read_events(
        self,
        *,
        after: int = 0,
        lead_id: UUID | None = None,
        types: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        include_org: bool = False,
        batch_size: int = 1000,
    ) -> Iterator[EventRecord]:
        """Events in log order, after position ``after``; filters combine with AND.

        ``since``/``until`` bound ``occurred_at`` (inclusive).
        """
        wanted = list(types)
        for name in wanted:
            if name not in EVENT_TYPES:
                raise InvalidInput("type", f"unknown event type {name!r}")
        topics: Sequence[str] = (
            [f"leadflow.lead:{name}" for name in wanted]
            if wanted
            else ([] if include_org else list(LEAD_TOPICS))
        )
        if lead_id is not None:
            yield from self._lead_events(lead_id, after, topics, since, until)
            return
        mapper = self.mapper
        assert isinstance(mapper, EventMapper)
        position = after
        while True:
            batch = self.recorder.select_notifications(
                start=position, limit=batch_size, topics=topics, inclusive_of_start=False
            )
            if not batch:
                return
            for notification in batch:
                record = mapper.to_record(notification.id, notification)
                if since is not None and record.occurred_at < since:
                    continue
                if until is not None and record.occurred_at > until:
                    continue
                yield record
            position = batch[-1].id

    def _lead_events(
        self,
        lead_id: UUID,
        after: int,
        topics: Sequence[str],
        since: datetime | None,
        until: datetime | None,
    ) -> Iterator[EventRecord]:
        if isinstance(self.recorder, LeadIndexedRecorder):
            mapper = self.mapper
            assert isinstance(mapper, EventMapper)
            records: Iterable[EventRecord] = (
                mapper.to_record(n.id, n)
                for n in self.recorder.select_lead_notifications(lead_id)
                if n.id > after and n.topic in LEAD_TOPICS
            )
        else:  # a recorder without a per-lead read: scan the log, keep this lead
            records = (
                r for r in self.read_events(after=after, include_org=False) if r.lead_id == lead_id
            )
        for record in records:
            if topics and f"leadflow.lead:{record.type}" not in topics:
                continue
            if since is not None and record.occurred_at < since:
                continue
            if until is not None and record.occurred_at > until:
                continue
            yield record

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0


CONTENDED_ATTEMPTS = 20
"""Attempts for commands that write the roster, which every assigning writer shares."""


def _may_move_load(event: Any, closed_stages: list[str]) -> bool:
    """Whether ``event`` may change whom its lead counts for (``assignment.counts_for``)."""
    if event.TYPE == "StageChanged":
        return (event.data.from_stage in closed_stages) != (event.data.stage in closed_stages)
    return event.TYPE in _LOAD_EVENTS


_LOAD_EVENTS = frozenset(
    {
        "LeadAssigned",
        "LeadClaimed",
        "LeadReleased",
        "HandOffAccepted",
        "LeadMerged",
        "LeadUnmerged",
        "PersonalDataErased",
    }
)
"""Lead events that may change whom the lead counts for; a capture never has an owner
(assignment at capture is a ``LeadAssigned`` of its own)."""


def claim_day(at: datetime, pipeline: Pipeline) -> str:
    """The claim day of instant ``at``: its date in ``pool.day_timezone``."""
    return at.astimezone(ZoneInfo(pipeline.pool.day_timezone)).date().isoformat()
