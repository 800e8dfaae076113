"""A large, realistic lead log, fast: real events of the real aggregates, appended in bulk.

Driving a million leads through the application's commands (one load and one atomic
append per command) takes hours on a small machine. This generator skips only the
per-command round trips, not the domain: every event is produced by the real ``Lead``
aggregate's commands (with the pipeline's automation, validation and scoring) and the
real ``ContactKey`` aggregates of dedupe, encoded by the application's own mapper, so
the stored bytes are exactly what the engine writes; they are appended with the
recorder's own ``insert_events`` in chunks of ``CHUNK`` events.

The log is a discrete-event simulation in time order: leads arrive evenly over
``DAYS`` days; each lives through a script shaped like the demo's over the following
weeks: activities (each scored), assignment to a rep or a claim from the pool, follow-up
calls or a release back to the pool, hand-offs to sales that are accepted, rejected or left
unanswered (the lead's own sweep then records the SLA breach and escalation), stage
changes, recycles, disqualifications, and merges into an earlier lead that shares the
company. Some actions are recorded days after they happened (backdated, as a person
entering a call late does). A heap orders every lead's next action, so positions follow
recording time as in a live store, and only the leads still active are in memory (about
``size * LIFESPAN / DAYS``). About the demo's number of lead events per lead, plus the
contact keys' events. Deterministic for a given size and seed.

Not simulated: the roster aggregate (reps are owner names on lead events; nothing checks
their capacity) and the daily sweep across all leads (each lead is swept by its own
script, at its own steps).
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from leadflow.domain.context import Context
from leadflow.domain.dedupe import ContactKey
from leadflow.domain.events import ActivityKind
from leadflow.domain.lead import Lead
from leadflow.errors import LeadflowError
from leadflow.service.application import Leadflow

__all__ = ["CHUNK", "DAYS", "SHAPE", "START", "Generated", "generate"]

SHAPE = 3
"""The version of the stores' shape (a kept store of another shape is not reused)."""

CHUNK = 10_000
"""Stored events per ``insert_events`` call (one transaction)."""
KEY_BLOCK = 2_000
"""New leads whose data keys are made in one keystore write."""
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 730
"""Leads arrive over two years."""
LIFESPAN = 40
"""Days within which a lead's scripted actions happen."""

_ACTIVITIES = [
    ActivityKind(a)
    for a in ("page_visit", "email_open", "email_click", "download", "webinar", "form_submit")
]
_USERS = ["user:ana", "user:bo", "user:chen", "user:dee"]
_REPS = ["rep:li", "rep:mei", "rep:jun", "rep:raj", "rep:tom", "rep:zoe"]
_SALES = ["rep:kai", "rep:noor", "rep:sam"]


@dataclass
class Generated:
    leads: int
    lead_events: int
    all_events: int
    seconds: float
    refused: int = 0
    """Scripted actions the engine refused (e.g. a claim before ``pool.reclaim_after``)."""
    emails: list[str] = field(default_factory=list)
    """A sample of captured emails (for dedupe lookups of existing keys)."""


@dataclass(order=True)
class _Due:
    at: datetime
    n: int
    lead: Lead = field(compare=False)
    script: list[tuple[str, Any]] = field(compare=False)


def _script(rng: random.Random) -> list[tuple[str, Any]]:
    """What happens to a lead after its capture: (action, argument), in order."""
    steps: list[tuple[str, Any]] = [
        ("activity", rng.choice(_ACTIVITIES)) for _ in range(rng.randint(3, 9))
    ]
    roll = rng.random()
    if roll < 0.12:
        return [*steps, ("stage", "disqualified")]
    if roll < 0.6:
        steps.append(("assign", rng.choice(_REPS)))
    elif roll < 0.8:
        steps.append(("claim", rng.choice(_REPS)))
    else:
        return [*steps, ("activity", rng.choice(_ACTIVITIES)), ("sweep", None)]
    if rng.random() < 0.2:  # no follow-up: released back to the pool, claimed again later
        steps += [("sweep", None), ("claim", rng.choice(_REPS))]
    steps += [("follow_up", ActivityKind.CALL), ("activity", rng.choice(_ACTIVITIES))]
    if rng.random() < 0.45:
        steps += [("stage", "mql"), ("handoff", rng.choice(_SALES))]
        answer = rng.random()
        if answer < 0.65:
            steps += [("accept", None), ("follow_up", ActivityKind.MEETING), ("stage", "sql")]
            if rng.random() < 0.45:
                steps += [("stage", "opportunity"), ("follow_up", ActivityKind.EMAIL)]
                if rng.random() < 0.4:
                    steps.append(("stage", "customer"))
                elif rng.random() < 0.3:
                    steps.append(("stage", "lead"))  # recycled
        elif answer < 0.85:
            steps.append(("reject", None))
        else:
            steps.append(("sweep", None))  # unanswered: the SLA breach and escalation
    if rng.random() < 0.02:
        steps.append(("merge", None))
    steps += [("activity", rng.choice(_ACTIVITIES)), ("sweep", None)]
    return steps


def generate(
    app: Leadflow,
    size: int,
    *,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
    sample: int = 2000,
) -> Generated:
    """Append ``size`` leads' histories to ``app``'s store (which should be empty of leads)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    pipeline = app.pipeline
    mapper = app.mapper
    recorder = app.recorder
    keys = pipeline.dedupe.keys
    step = timedelta(days=DAYS) / max(size, 1)
    buffer: list[Any] = []
    counts = {"lead": 0, "all": 0, "refused": 0}
    emails: list[str] = []
    every = max(1, size // sample)

    def flush() -> None:
        if buffer:
            recorder.insert_events(buffer)
            counts["all"] += len(buffer)
            buffer.clear()

    def emit(*aggregates: Any) -> None:
        for aggregate in aggregates:
            for event in aggregate.collect_events():
                buffer.append(mapper.to_stored_event(event))
                if isinstance(aggregate, Lead):
                    counts["lead"] += 1
        if len(buffer) >= CHUNK:
            flush()

    heap: list[_Due] = []

    companies: dict[int, Lead] = {}
    """An earlier live lead per company, for merges."""

    def act(due: _Due) -> None:
        action, arg = due.script.pop(0)
        lead = due.lead
        if lead.merged_into is not None:
            return
        # One action in eight is recorded late (up to 3 days), never before the lead's
        # latest event: the engine refuses such backdating, and so does this script.
        recorded = due.at
        occurred = recorded
        if action != "sweep" and rng.random() < 0.125:
            latest = lead.last_occurred_at or recorded
            occurred = max(latest, recorded - timedelta(hours=rng.uniform(1, 72)))
        actor = lead.owner if action == "follow_up" and lead.owner else rng.choice(_USERS)
        if action in ("accept", "reject") and lead.handoff is not None:
            actor = lead.handoff.to_owner
        ctx = Context(actor, occurred, recorded)
        others: list[Lead] = []
        try:
            if action in ("activity", "follow_up"):
                lead.record_activity(arg, pipeline, ctx)
            elif action == "stage":
                if arg != lead.stage:
                    lead.change_stage(arg, pipeline, ctx, reason="bench")
            elif action == "assign":
                lead.assign(arg, pipeline, ctx, reason="bench")
            elif action == "claim":
                if lead.owner is None:
                    lead.claim(arg, pipeline, Context(arg, occurred, recorded))
            elif action == "handoff":
                lead.hand_off(arg, pipeline, ctx, note="ready for sales")
            elif action == "accept":
                lead.accept_handoff(pipeline, ctx)
            elif action == "reject":
                lead.reject_handoff(pipeline=pipeline, ctx=ctx, reason="not ready")
            elif action == "sweep":
                lead.sweep(pipeline, recorded, recorded)
            elif action == "merge":
                survivor = companies.get(due.n % 997)
                if survivor is not None and survivor is not lead and survivor.merged_into is None:
                    lead.merge_into(survivor, pipeline, ctx)
                    others.append(survivor)
        except LeadflowError:
            counts["refused"] += 1  # as in the demo: the engine refuses what it must
        emit(lead, *others)

    def reschedule(due: _Due) -> None:
        """The lead's next action: hours later, or six days for a sweep (deadlines pass)."""
        if due.script:
            wait = 24 * 6 if due.script[0][0] == "sweep" else rng.uniform(2, 72)
            due.at += timedelta(hours=wait)
            heapq.heappush(heap, due)

    # Data keys are made a block of leads at a time (one keystore read and one write per
    # block, as an import's batch does), and every live lead's key stays cached.
    if app.keys is not None:
        app.keys.cache_max = max(app.keys.cache_max, 400_000)
    ids = random.Random(seed + 1)
    block: list[UUID] = []
    for i in range(size):
        if not block:
            block = [
                UUID(int=ids.getrandbits(128) | (4 << 76) | (1 << 63))
                for _ in range(min(KEY_BLOCK, size - i))
            ]
            if app.keys is not None:
                app.keys.ensure(block)
            block.reverse()
        at = START + step * i
        while heap and heap[0].at <= at:
            due = heapq.heappop(heap)
            act(due)
            reschedule(due)
        ctx = Context("user:web", at, at)
        company = i % 997
        values = {
            "email": f"person{i}@example{i % 997}.com",
            "phone": f"+86139{i:08d}",
            "wechat": None,
        }
        lead = Lead.capture(
            block.pop(),
            pipeline,
            ctx,
            email=values["email"],
            phone=values["phone"],
            name=f"Person {i}",
            source=("web_form", "partner", "event", "ads")[i % 4],
            campaign=f"c{i % 31}",
            company=f"Company {company}",
            attributes={"region": ("north", "south", "east", "west")[i % 4]},
        )
        companies.setdefault(company, lead)
        if rng.random() < 0.01:
            companies[company] = lead
        reserved = [
            ContactKey.reserve(app.contact_key_id(kind, value), kind, lead.id, "capture", ctx)
            for kind in keys
            if (value := values.get(kind))
        ]
        emit(lead, *reserved)
        if i % every == 0:
            emails.append(values["email"])
        heapq.heappush(heap, _Due(at + timedelta(hours=rng.uniform(1, 48)), i, lead, _script(rng)))
        if progress is not None and i % 10_000 == 0:
            progress(i)
    while heap:
        due = heapq.heappop(heap)
        act(due)
        reschedule(due)
    flush()
    return Generated(
        leads=size,
        refused=counts["refused"],
        lead_events=counts["lead"],
        all_events=counts["all"],
        seconds=time.perf_counter() - started,
        emails=emails,
    )
