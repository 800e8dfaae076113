"""What-if replay: the recorded behaviour, decided again under other rules.

A *decider* is a pure function: one lead's recorded events and a pipeline in, that
lead's history as the pipeline would have decided it out (:data:`Decide`). The
built-in one, :func:`redecide`, re-issues every command a person (or a sweep) gave,
in order and at its original times, to a fresh :class:`~leadflow.lead.Lead` under
the other pipeline, so every rule the aggregate applies (stage and status
automation today; scoring when its rules run in the aggregate) decides afresh.
Events an automation rule recorded as a consequence of a command (same times, a
``rule``) are not re-issued: the other pipeline's rules decide them.

Both histories, actual and replayed, are fed to the ordinary read models in a
scratch in-memory SQLite database, and compared there. Nothing is written to the
store: the log is only read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import ValidationError

from leadflow.domain.commands import command_for_event
from leadflow.domain.context import Context
from leadflow.domain.events import (
    LeadEvent,
    LeadMerged,
    LeadUnmerged,
    MigratedData,
    TouchData,
    payload_json,
)
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.errors import IllegalTransition, InvalidInput, PipelineInvalid
from leadflow.projections._sql import as_utc, by_lead
from leadflow.projections.funnel import FunnelQuery, funnel
from leadflow.projections.leads import LEADS, Leads
from leadflow.projections.merges import MERGE_PERIODS, Merges
from leadflow.projections.passes import Passes
from leadflow.projections.reference import FunnelRow
from leadflow.projections.runner import Projection, ProjectionRunner
from leadflow.projections.stage_history import STAGE_REACHED, StageHistory
from leadflow.service.codec import EventRecord

__all__ = [
    "Decide",
    "ReplayResult",
    "ReplayedHistory",
    "redecide",
    "replay",
    "replay_json",
]


@dataclass(frozen=True)
class ReplayedHistory:
    """One lead's history as a pipeline decides it."""

    events: list[EventRecord]
    refused: list[str] = field(default_factory=list)
    """Recorded commands the pipeline refuses (e.g. a transition it does not allow)."""


Decide = Callable[[Sequence[EventRecord], Pipeline], ReplayedHistory]
"""One lead's recorded events (in order) + a pipeline → its history under that pipeline."""


_SAME_PERSON: dict[str, Any] = {"LeadMerged": LeadMerged, "LeadUnmerged": LeadUnmerged}


def _give(record: EventRecord, lead: Lead, pipeline: Pipeline, ctx: Context) -> bool:
    """Give a recorded person's command again, through the one list of commands
    (:func:`~leadflow.domain.commands.command_for_event`); False if there is none."""
    if record.type == "TouchRecorded":
        lead.record_touch(TouchData.model_validate(record.data), pipeline, ctx)
        return True
    if record.type in _SAME_PERSON:
        # Whether two leads are one person is a fact, not the pipeline's decision: the
        # duplicate's side is given as recorded (funnels leave merged duplicates out).
        event_class = _SAME_PERSON[record.type]
        lead.record(event_class, event_class.DATA.model_validate(record.data), ctx, pipeline)
        return True
    command = command_for_event(record.type)
    if command is None:
        return False  # the survivor's side of a merge needs the other lead: not replayed
    try:
        given = command.from_recorded(record.lead_id, record.data)
    except ValidationError as exc:
        raise InvalidInput(
            record.type, f"cannot be given again: {exc.errors()[0]['msg']}"
        ) from None
    given.decide(lead, pipeline, ctx)
    return True


def _as_recorded(record: EventRecord, lead: Lead, pipeline: Pipeline, ctx: Context) -> None:
    """A roster decision (assignment at capture, redistribution), given as recorded."""
    d = record.data
    if record.type == "LeadAssigned":
        lead.assign(
            d["owner"],
            pipeline,
            ctx,
            reason=d.get("reason"),
            rule=d.get("rule"),
            strategy=d.get("strategy"),
            team=d.get("team"),
        )
    else:
        lead.release(d["reason"], pipeline, ctx, rule=d.get("rule"))


_CAPTURE_FIELDS = ("email", "phone", "wechat", "name", "company", "source", "campaign")


def redecide(events: Sequence[EventRecord], pipeline: Pipeline) -> ReplayedHistory:
    """The built-in decider: re-issue the recorded commands under ``pipeline``.

    A recorded event with a ``rule`` was decided by the pipeline, not given: if it was
    recorded together with a person's command (same recording time), the command's
    replay re-decides it; otherwise a sweep recorded it, and the lead is swept again
    at that moment, so the other pipeline's time-driven rules (decay, SLAs, recycling)
    fire as they would have.
    """
    lead: Lead | None = None
    refused: list[str] = []
    produced: list[LeadEvent[Any]] = []
    command_times = {r.recorded_at for r in events if r.data.get("rule") is None}
    swept_at: datetime | None = None
    migrated_at: datetime | None = None
    for index, record in enumerate(events):
        try:
            if record.recorded_at == migrated_at and record.type in _MIGRATION_EVENTS:
                continue  # the migrated state: given again with the capture
            if lead is not None and _roster_decision(record):
                # The roster decided it (assignment at capture, redistribution), not this
                # lead's rules: a lead alone cannot decide it again, so it is given as recorded.
                _as_recorded(record, lead, pipeline, _context(record))
            elif record.data.get("rule") is not None:
                if lead is None or record.recorded_at in command_times:
                    continue  # a rule's consequence of a command: decided afresh
                if swept_at == record.recorded_at:
                    continue  # this sweep was replayed already
                swept_at = record.recorded_at
                sweep_to = max(
                    r.occurred_at
                    for r in events[index:]
                    if r.recorded_at == swept_at and r.data.get("rule") is not None
                )
                lead.sweep(pipeline, sweep_to, swept_at)
            elif record.type == "LeadCaptured":
                lead = _capture(record, pipeline, _context(record))
                migrated_at = record.recorded_at if record.data.get("migrated") else None
            elif lead is None or not _give(record, lead, pipeline, _context(record)):
                continue
        except (InvalidInput, IllegalTransition, PipelineInvalid) as exc:
            refused.append(f"{record.type} at position {record.position}: {exc}")
            if lead is not None:
                lead = _restore(lead, produced)
            continue
        if lead is not None:
            produced.extend(lead.collect_events())
    return ReplayedHistory([_as_record(event) for event in produced], refused)


def _roster_decision(record: EventRecord) -> bool:
    """An automatic assignment, or a release by redistribution: decided over the roster."""
    rule = record.data.get("rule")
    if rule is None:
        return False
    if record.type == "LeadAssigned":
        return record.data.get("strategy") is not None
    return record.type == "LeadReleased" and str(rule).startswith("assignment.")


def _context(record: EventRecord) -> Context:
    return Context(
        actor=record.actor, occurred_at=record.occurred_at, recorded_at=record.recorded_at
    )


_MIGRATION_EVENTS = frozenset({"StageChanged", "StatusChanged", "LeadAssigned", "LeadScored"})
"""What :meth:`~leadflow.domain.lead.Lead.migrate` records after the capture."""


def _capture(record: EventRecord, pipeline: Pipeline, ctx: Context) -> Lead:
    """The capture given again; a migrated lead arrives in the state it was imported with
    (the other CRM's, not this pipeline's decision), if this pipeline has that state."""
    d = record.data
    if d.get("migrated"):
        migrated = MigratedData.model_validate(d["migrated"])
        now = replace(ctx, occurred_at=max(ctx.occurred_at, ctx.recorded_at))
        return Lead.migrate(record.lead_id, pipeline, ctx, now, migrated, d)
    return Lead.capture(
        record.lead_id,
        pipeline,
        ctx,
        stage=d["stage"],
        attributes=d.get("attributes") or {},
        **{name: d.get(name) for name in _CAPTURE_FIELDS},
    )


def _restore(lead: Lead, produced: list[LeadEvent[Any]]) -> Lead | None:
    """The lead as its kept events left it: a refused command records nothing."""
    lead.collect_events()
    restored: Lead | None = None
    for event in produced:
        restored = Lead.evolve(restored, event)
    return restored


def _as_record(event: LeadEvent[Any]) -> EventRecord:
    return EventRecord(
        position=0,  # numbered when fed to the scratch model
        lead_id=event.originator_id,
        sequence=event.originator_version,
        type=event.TYPE,
        version=event.VERSION,
        occurred_at=event.occurred_at,
        recorded_at=event.timestamp,
        actor=event.actor,
        data=payload_json(event.data),
    )


@dataclass(frozen=True)
class LeadChange:
    lead_id: UUID
    actual_at: datetime | None
    """When the lead actually first entered the compared stage (None: never)."""
    replayed_at: datetime | None
    """When it would have under the other pipeline (None: never)."""


@dataclass(frozen=True)
class ReplayResult:
    stage: str
    as_of: datetime
    leads: int
    refused: int
    changes: list[LeadChange]
    actual: list[FunnelRow]
    replayed: list[FunnelRow]
    scores: dict[UUID, tuple[float, float]] = field(default_factory=dict)
    """Leads whose score at ``as_of`` differs: (actual, replayed)."""


class _Scratch:
    """Read models in a private in-memory database."""

    def __init__(self, pipeline: Pipeline) -> None:
        engine = sa.create_engine("sqlite://", poolclass=sa.StaticPool)
        projections: list[Projection] = [
            Leads(),
            StageHistory(),
            Merges(),
            Passes(pipeline.main_path),
        ]
        self.runner = ProjectionRunner(engine, projections)
        self.runner.ensure_tables()
        self.position = 0

    def feed(self, records: Iterable[EventRecord]) -> None:
        numbered = []
        for record in records:
            self.position += 1
            numbered.append(_renumbered(record, self.position))
        if not numbered:
            return
        with self.runner.engine.begin() as conn:
            for projection in self.runner.projections:
                projection.handle(conn, numbered)

    def first_entries(self, stage: str) -> dict[str, datetime]:
        """Live leads' first entries into ``stage`` (merged duplicates are left out, as the
        funnel leaves them out: the delta and the list of changes agree)."""
        r, m = STAGE_REACHED, MERGE_PERIODS
        merged = (
            sa.select(sa.literal(1))
            .where(m.c.lead_id == r.c.lead_id, m.c.unmerged_sequence.is_(None))
            .exists()
        )
        with self.runner.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.c.lead_id, r.c.first_entered_at).where(r.c.stage == stage, ~merged)
            )
            return {lead_id: _aware(at) for lead_id, at in rows}

    def scores(self) -> dict[str, float]:
        with self.runner.engine.connect() as conn:
            rows = conn.execute(sa.select(LEADS.c.lead_id, LEADS.c.score))
            return {lead_id: float(score) for lead_id, score in rows}

    def funnel(self, pipeline: Pipeline, as_of: datetime) -> list[FunnelRow]:
        with self.runner.engine.connect() as conn:
            return funnel(conn, pipeline, FunnelQuery(as_of=as_of))


def _renumbered(record: EventRecord, position: int) -> EventRecord:
    return EventRecord(
        position=position,
        lead_id=record.lead_id,
        sequence=record.sequence,
        type=record.type,
        version=record.version,
        occurred_at=record.occurred_at,
        recorded_at=record.recorded_at,
        actor=record.actor,
        data=record.data,
    )


def _aware(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None
    return converted


def replay(
    records: Iterable[EventRecord],
    actual_pipeline: Pipeline,
    other: Pipeline,
    as_of: datetime,
    *,
    stage: str = "mql",
    decide: Decide = redecide,
    chunk: int = 2000,
) -> ReplayResult:
    """Decide every lead again under ``other``; compare entries into ``stage`` and funnels.

    ``records`` are the recorded lead events (occurred by ``as_of``) in log order.
    """
    actual, replayed = _Scratch(actual_pipeline), _Scratch(other)
    leads = refused = 0
    pending: list[EventRecord] = []

    def flush() -> None:
        nonlocal leads, refused
        grouped = by_lead(pending)
        actual.feed(pending)
        for events in grouped.values():
            decision = decide(events, other)
            replayed.feed(r for r in decision.events if r.occurred_at <= as_of)
            refused += len(decision.refused)
            leads += 1
        pending.clear()

    # Leads are decided one by one; keep each lead's events together across chunks.
    by_id: dict[UUID, list[EventRecord]] = {}
    for record in records:
        if record.occurred_at <= as_of:
            by_id.setdefault(record.lead_id, []).append(record)
    for events in by_id.values():
        pending.extend(events)
        if len(pending) >= chunk:
            flush()
    flush()
    before, after = actual.first_entries(stage), replayed.first_entries(stage)
    changes = [
        LeadChange(UUID(lead_id), before.get(lead_id), after.get(lead_id))
        for lead_id in sorted(set(before) | set(after))
        if before.get(lead_id) != after.get(lead_id)
    ]
    scored_before, scored_after = actual.scores(), replayed.scores()
    scores = {
        UUID(lead_id): (score, scored_after[lead_id])
        for lead_id, score in scored_before.items()
        if lead_id in scored_after and scored_after[lead_id] != score
    }
    return ReplayResult(
        scores=scores,
        stage=stage,
        as_of=as_of,
        leads=leads,
        refused=refused,
        changes=changes,
        actual=actual.funnel(actual_pipeline, as_of),
        replayed=replayed.funnel(other, as_of),
    )


def replay_json(result: ReplayResult) -> dict[str, Any]:
    """The documented ``leadflow replay --json`` shape."""
    only_replayed = [c for c in result.changes if c.actual_at is None]
    only_actual = [c for c in result.changes if c.replayed_at is None]
    both = [c for c in result.changes if c.actual_at and c.replayed_at]
    actual = {row.stage: row for row in result.actual}
    replayed = {row.stage: row for row in result.replayed}
    stages = list(dict.fromkeys([*actual, *replayed]))
    return {
        "stage": result.stage,
        "as_of": result.as_of.isoformat(),
        "leads": result.leads,
        "refused_commands": result.refused,
        "summary": {
            "scores_changed": len(result.scores),
            "mean_score_delta": (
                sum(after - before for before, after in result.scores.values()) / len(result.scores)
                if result.scores
                else 0.0
            ),
            "only_replayed": len(only_replayed),
            "only_actual": len(only_actual),
            "earlier": sum(
                1 for c in both if c.replayed_at and c.actual_at and c.replayed_at < c.actual_at
            ),
            "later": sum(
                1 for c in both if c.replayed_at and c.actual_at and c.replayed_at > c.actual_at
            ),
        },
        "changes": [
            {
                "lead_id": str(c.lead_id),
                "actual_at": c.actual_at.isoformat() if c.actual_at else None,
                "replayed_at": c.replayed_at.isoformat() if c.replayed_at else None,
            }
            for c in result.changes
        ],
        "funnel_delta": [
            {
                "stage": stage,
                "actual_in_stage": actual[stage].in_stage if stage in actual else 0,
                "replayed_in_stage": replayed[stage].in_stage if stage in replayed else 0,
                "actual_reached": actual[stage].reached if stage in actual else 0,
                "replayed_reached": replayed[stage].reached if stage in replayed else 0,
                "in_stage_delta": (replayed[stage].in_stage if stage in replayed else 0)
                - (actual[stage].in_stage if stage in actual else 0),
                "reached_delta": (replayed[stage].reached if stage in replayed else 0)
                - (actual[stage].reached if stage in actual else 0),
            }
            for stage in stages
        ],
    }
