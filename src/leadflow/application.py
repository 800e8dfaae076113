"""The leadflow application service: every command, typed, over the event store.

Each command loads what it needs, asks the domain to decide, and saves the
resulting events in one atomic append. A stale read is detected by the store
(optimistic concurrency on each lead's version) and surfaces as
:class:`~leadflow.errors.ConcurrencyConflict`; :meth:`Leadflow.retrying` re-runs
a command on a fresh read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import structlog
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Mapper, Recording

from leadflow.codec import LEAD_TOPICS, EventMapper, EventRecord
from leadflow.commands import CaptureLead, RecordActivity, validate_command
from leadflow.errors import ConcurrencyConflict, InvalidInput, LeadNotFound
from leadflow.events import EVENT_TYPES
from leadflow.lead import Context, Lead
from leadflow.pipeline import Pipeline, default_pipeline
from leadflow.pipeline_log import PIPELINE_LOG_ID, PipelineLog

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

    def _commit(self, command: str, *leads: Lead) -> CommandResult:
        try:
            recordings = self._save_leads(leads)
        except IntegrityError as exc:
            self._forget(*leads)  # a cached copy may be stale: the next read goes to the store
            raise ConcurrencyConflict(leads[0].id) from exc
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
        return CommandResult(lead_id=leads[0].id, version=leads[0].version, events=refs)

    def _save_leads(self, leads: Sequence[Lead]) -> list[Recording[UUID]]:
        """``Application.save`` for leads, without its per-object runtime Protocol checks
        (a fifth of a command's time). The library still records, caches and notifies."""
        processing = ProcessingEvent[UUID]()
        for lead in leads:
            processing.events.extend(lead.collect_events())
            processing.aggregates[lead.id] = lead
        recordings = self._record(processing)
        self._notify(recordings)
        return recordings

    def _forget(self, *leads: Lead) -> None:
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
        """Run ``command``; on a concurrency conflict, run it again on a fresh read."""
        for attempt in range(1, attempts + 1):
            try:
                return command()
            except ConcurrencyConflict as conflict:
                if attempt == attempts:
                    raise
                log.info("conflict_retried", lead_id=str(conflict.lead_id), attempt=attempt)
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
        """Capture a new lead. Contact details are validated and normalised."""
        pipeline = self.pipeline
        command = validate_command(
            CaptureLead,
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
            },
            region=pipeline.capture.default_region,
        )
        command.require_contact(list(pipeline.capture.contact_fields))
        lead = Lead.capture(
            lead_id or uuid4(),
            pipeline,
            self._context(actor, command.occurred_at),
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
        return self._commit("capture", lead)

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
        return self._change(
            "update_profile",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.update_profile(normalised, p, ctx),
        )

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
        return self._change(
            "assign",
            lead_id,
            actor,
            at,
            lambda lead, p, ctx: lead.assign(owner, p, ctx, reason=reason),
        )

    def claim(
        self, lead_id: UUID, owner: str, *, at: datetime | None = None, actor: str | None = None
    ) -> CommandResult:
        return self._change(
            "claim", lead_id, actor or owner, at, lambda lead, p, ctx: lead.claim(owner, p, ctx)
        )

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
        duplicate.merge_into(survivor, self.pipeline, self._context(actor, at))
        return self._commit("merge", duplicate, survivor)

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
        # Positions of one lead come from the application sequence, so scan it by topic
        # filter but keep only this lead: simple, and correct on every recorder.
        for record in self.read_events(after=after, types=(), include_org=False):
            if record.lead_id != lead_id:
                continue
            if topics and f"leadflow.lead:{record.type}" not in topics:
                continue
            if since is not None and record.occurred_at < since:
                continue
            if until is not None and record.occurred_at > until:
                continue
            yield record

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0
