"""Random but valid lead histories, made by the real ``Lead`` aggregate (no store).

A history is a sequence of commands on a few leads with a moving clock (merges of one
lead into another and their undoing included); some are
backdated (``occurred_at`` before ``recorded_at``, never before the lead's latest
event, which the aggregate enforces). Commands the aggregate refuses are dropped,
as a user's refused command records nothing. Events get log positions in the order
they were recorded, as the store gives them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from hypothesis import strategies as st

from leadflow.domain.context import Context
from leadflow.domain.events import ActivityKind, LeadEvent, payload_json
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.errors import LeadflowError
from leadflow.projections import POSITIONS, ProjectionRunner, all_projections
from leadflow.service.codec import EventRecord
from leadflow.service.pipeline_files import default_pipeline

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PIPELINE = default_pipeline()
REPS = ["rep:a", "rep:b", "rep:c"]
SOURCES = ["web", "partner", None]
REGIONS = ["north", "south"]
INDUSTRIES = ["software", "finance", None]
"""The shipped pipeline's reporting dimension; ``None``: absent (or cleared by an update)."""

Command = Callable[[Lead, Pipeline, Context, random.Random], None]

COMMANDS: dict[str, Command] = {
    "stage": lambda lead, p, c, r: lead.change_stage(
        r.choice(list(p.stages[lead.stage].transitions) or [lead.stage]), p, c
    ),
    "status": lambda lead, p, c, r: lead.change_status(r.choice(list(p.statuses)), p, c),
    "assign": lambda lead, p, c, r: lead.assign(r.choice(REPS), p, c),
    "claim": lambda lead, p, c, r: lead.claim(r.choice(REPS), p, c),
    "release": lambda lead, p, c, r: lead.release("idle", p, c),
    "hand_off": lambda lead, p, c, r: lead.hand_off(r.choice(REPS), p, c),
    "accept": lambda lead, p, c, r: lead.accept_handoff(p, c),
    "reject": lambda lead, p, c, r: lead.reject_handoff("not yet", p, c),
    "convert": lambda lead, p, c, r: lead.convert(
        r.choice(["opportunity", "customer"]), "a", p, c, amount=r.choice([None, 1000.0, 2500.5])
    ),
    "win": lambda lead, p, c, r: lead.win(
        p, c, amount=r.choice([None, 500.0, 1234.5]), currency=r.choice(["CNY", "USD", None])
    ),
    "lose": lambda lead, p, c, r: lead.lose("price", p, c),
    "churn": lambda lead, p, c, r: lead.churn("gone", p, c),
    "disqualify": lambda lead, p, c, r: lead.disqualify("no budget", p, c),
    "call": lambda lead, p, c, r: lead.record_activity(ActivityKind.CALL, p, c),
    "visit": lambda lead, p, c, r: lead.record_activity(ActivityKind.PAGE_VISIT, p, c),
    "webinar": lambda lead, p, c, r: lead.record_activity(ActivityKind.WEBINAR, p, c),
    "score": lambda lead, p, c, r: lead.set_score(r.uniform(0, 100), "test", p, c),
    "qualify": lambda lead, p, c, r: lead.qualify(
        p, c, budget=r.random() < 0.7, authority=r.random() < 0.7, need=True, timeline=True
    ),
    # A profile update: a reporting dimension (industry) changed or cleared, now and then
    # with a personal attribute (sealed under the lead's key).
    "update": lambda lead, p, c, r: lead.update_profile(
        {
            "attributes.industry": r.choice(INDUSTRIES),
            **({"attributes.linkedin": "in/someone"} if r.random() < 0.3 else {}),
        },
        p,
        c,
    ),
    # Time-driven rules (decay, no follow-up, hand-off SLA, stalled), as `leadflow sweep`.
    "sweep": lambda lead, p, c, r: lead.sweep(p, c.recorded_at, c.recorded_at),
}


def _attributes(rng: random.Random) -> dict[str, str]:
    attributes = {"region": rng.choice(REGIONS)}
    industry = rng.choice(INDUSTRIES)
    if industry is not None:
        attributes["industry"] = industry
    if rng.random() < 0.3:
        attributes["linkedin"] = "in/captured"
    return attributes


def to_record(event: LeadEvent[Any], position: int) -> EventRecord:
    return EventRecord(
        position=position,
        lead_id=event.originator_id,
        sequence=event.originator_version,
        type=event.TYPE,
        version=event.VERSION,
        occurred_at=event.occurred_at,
        recorded_at=event.timestamp,
        actor=event.actor,
        data=payload_json(event.data),
    )


def build_history(
    seed: int, leads: int, steps: int, pipeline: Pipeline = PIPELINE
) -> list[EventRecord]:
    """A history of ``steps`` commands over ``leads`` leads, in log order."""
    events = build_events(seed, leads, steps, pipeline)
    return [to_record(event, position) for position, event in enumerate(events, 1)]


def build_events(
    seed: int,
    leads: int,
    steps: int,
    pipeline: Pipeline = PIPELINE,
    *,
    erase: bool = False,
    salt: int = 0,
) -> list[LeadEvent[Any]]:
    """The domain events of :func:`build_history`, in log order; ``erase``: now and then a
    lead's personal data is erased (it takes no command after that); ``salt`` changes the
    lead ids (a store keeps an erased lead's id erased)."""
    rng = random.Random(seed)
    erased: set[int] = set()
    now = START
    aggregates: list[Lead] = []
    committed: dict[UUID, list[LeadEvent[Any]]] = {}
    records: list[LeadEvent[Any]] = []
    names = [*COMMANDS, "stage", "stage", "stage", "hand_off", "convert", "win", "sweep", "webinar"]
    names += ["merge", "merge", "unmerge", "unmerge", "update", "update"]
    if erase:
        names.append("erase")

    def restore(index: int) -> None:
        """A refused command records nothing: back to the lead as last saved."""
        restored: Lead | None = None
        for event in committed[aggregates[index].id]:
            restored = Lead.evolve(restored, event)
        assert restored is not None
        aggregates[index] = restored

    for _ in range(steps):
        now += timedelta(hours=rng.choice([0, 0.5, 3, 20, 70]))
        index = rng.randrange(leads + 1)
        touched: list[int] = []
        if index >= len(aggregates):
            occurred = now - timedelta(hours=rng.choice([0, 0, 5]))
            lead = Lead.capture(
                UUID(int=rng.getrandbits(128) ^ salt, version=4),
                pipeline,
                Context("user:test", occurred, now),
                stage=rng.choice(pipeline.entry_stages),
                email="x@example.com",
                source=rng.choice(SOURCES),
                campaign=rng.choice(["c1", "c2"]),
                attributes=_attributes(rng),
            )
            aggregates.append(lead)
            touched = [len(aggregates) - 1]
        else:
            lead = aggregates[index]
            assert lead.last_occurred_at is not None
            command = rng.choice(names)
            if index in erased:
                continue
            if lead.handoff is not None and rng.random() < 0.6:
                command = rng.choice(["accept", "accept", "reject"])
            # Backdated now and then, but never before the lead's latest event.
            backdate = timedelta(hours=rng.choice([0, 0, 0, 2, 30]))
            touched = [index]
            if command in ("merge", "unmerge"):
                if command == "merge":
                    other = rng.randrange(len(aggregates))
                else:
                    into = lead.merged_into
                    other = next((i for i, a in enumerate(aggregates) if a.id == into), index)
                touched = list(dict.fromkeys([index, other]))
                if erased.intersection(touched):
                    continue
                latest = max(aggregates[i].last_occurred_at or now for i in touched)
                occurred = max(now - backdate, latest)
                ctx = Context("user:test", occurred, now)
                survivor = aggregates[other]
                try:
                    if command == "merge":
                        lead.merge_into(survivor, pipeline, ctx)
                    else:
                        lead.unmerge_from(survivor, "not the same person", pipeline, ctx)
                except LeadflowError:
                    for i in touched:
                        restore(i)
                    continue
            else:
                occurred = max(now - backdate, lead.last_occurred_at)
                try:
                    ctx = Context("user:test", occurred, now)
                    if command == "erase":
                        lead.erase_personal_data("asked", pipeline, ctx)
                        erased.add(index)
                    else:
                        COMMANDS[command](lead, pipeline, ctx, rng)
                except LeadflowError:
                    restore(index)
                    continue
        for i in touched:
            for event in aggregates[i].collect_events():
                committed.setdefault(aggregates[i].id, []).append(event)
                records.append(event)
    return records


histories = st.builds(
    build_history,
    seed=st.integers(0, 2**32),
    leads=st.integers(1, 8),
    steps=st.integers(1, 80),
)


def capture_cohort(
    data: st.DataObject, history: Sequence[EventRecord]
) -> tuple[date | None, date | None]:
    """A capture window (``--cohort-from/--cohort-to``) over the days the history's leads were
    captured, each end now and then left open."""
    days = sorted(
        {r.occurred_at.astimezone(UTC).date() for r in history if r.type == "LeadCaptured"}
    )
    first = data.draw(st.none() | st.sampled_from(days))
    last = data.draw(st.none() | st.sampled_from([d for d in days if first is None or d >= first]))
    return first, last


def interleavings(records: Sequence[EventRecord], seed: int) -> list[EventRecord]:
    """The same events, each lead's in its order, leads interleaved at random."""
    rng = random.Random(seed)
    queues: dict[UUID, list[EventRecord]] = {}
    for record in records:
        queues.setdefault(record.lead_id, []).append(record)
    pending = [list(reversed(q)) for q in queues.values()]
    shuffled = []
    while pending:
        queue = rng.choice(pending)
        shuffled.append(queue.pop())
        if not queue:
            pending.remove(queue)
    return shuffled


def scratch_runner(batch_size: int = 1000) -> ProjectionRunner:
    engine = sa.create_engine("sqlite://", poolclass=sa.StaticPool)
    runner = ProjectionRunner(engine, batch_size=batch_size)
    runner.ensure_tables()
    return runner


def reader(records: Sequence[EventRecord]) -> Callable[[int], list[EventRecord]]:
    return lambda after: [r for r in records if r.position > after]


def dump(runner: ProjectionRunner, *, positions: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model table's rows in primary-key order."""
    tables = {}
    with runner.engine.connect() as conn:
        for table in [POSITIONS, *(t for p in all_projections() for t in p.tables)]:
            if table.name == "lf_projection_positions" and not positions:
                continue
            if table.name == "lf_projection_positions":
                query = sa.select(table.c.name, table.c.position)
            else:
                query = sa.select(table)
            query = query.order_by(*table.primary_key.columns)
            tables[table.name] = [tuple(row) for row in conn.execute(query)]
    return tables
