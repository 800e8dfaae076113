"""A large, realistic lead log, fast: real events of the real aggregates, appended in bulk.

Driving a million leads through the application's commands (one load and one atomic
append per command) takes hours on a small machine. This generator skips only the
per-command round trips, not the domain: every event is produced by the real ``Lead``
aggregate's commands (with the pipeline's automation, validation and scoring) and the
real ``ContactKey`` aggregates of dedupe, encoded by the application's own mapper, so
the stored bytes are exactly what the engine writes; they are appended with the
recorder's own ``insert_events`` in chunks of ``CHUNK`` events.

The log is a discrete-event simulation in time order: leads arrive evenly over
``DAYS`` days; each lives through a few activities and stage changes over the
following weeks (some recorded days after they happened: backdated, as a person
entering a call late does); a heap orders every lead's next action, so positions
follow recording time as in a live store, and only the leads still active are in
memory (about ``size * LIFESPAN / DAYS``). About five lead events per lead, plus the
contact keys' events. Deterministic for a given size and seed.
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
from leadflow.domain.dedupe import ContactKey, key_id
from leadflow.domain.events import ActivityKind
from leadflow.domain.lead import Lead
from leadflow.service.application import Leadflow

__all__ = ["CHUNK", "DAYS", "START", "Generated", "generate"]

CHUNK = 10_000
"""Stored events per ``insert_events`` call (one transaction)."""
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 730
"""Leads arrive over two years."""
LIFESPAN = 40
"""Days within which a lead's scripted actions happen."""

_ACTIVITIES = [ActivityKind(a) for a in ("page_visit", "email_open", "email_click", "download")]
_REPS = ["user:ana", "user:bo", "user:chen", "user:dee"]


@dataclass
class Generated:
    leads: int
    lead_events: int
    all_events: int
    seconds: float
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
    steps: list[tuple[str, Any]] = [("activity", rng.choice(_ACTIVITIES))]
    roll = rng.random()
    if roll < 0.55:
        steps += [("activity", rng.choice(_ACTIVITIES)), ("stage", "mql")]
        if rng.random() < 0.5:
            steps.append(("stage", "sql"))
            if rng.random() < 0.4:
                steps.append(("stage", "opportunity"))
        elif rng.random() < 0.2:
            steps.append(("stage", "lead"))  # recycled
    elif roll < 0.7:
        steps.append(("stage", "disqualified"))
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
    counts = {"lead": 0, "all": 0}
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

    def act(due: _Due) -> None:
        action, arg = due.script.pop(0)
        lead = due.lead
        # One action in eight is recorded late (up to 3 days), never before the lead's
        # latest event: the engine refuses such backdating, and so does this script.
        recorded = due.at
        occurred = recorded
        if rng.random() < 0.125:
            latest = lead.last_occurred_at or recorded
            occurred = max(latest, recorded - timedelta(hours=rng.uniform(1, 72)))
        ctx = Context(rng.choice(_REPS), occurred, recorded)
        if action == "activity":
            lead.record_activity(arg, pipeline, ctx)
        elif arg != lead.stage and lead.stage not in ("disqualified", "customer", "churned"):
            lead.change_stage(arg, pipeline, ctx, reason="bench")
        emit(lead)

    for i in range(size):
        at = START + step * i
        while heap and heap[0].at <= at:
            due = heapq.heappop(heap)
            act(due)
            if due.script:
                due.at += timedelta(hours=rng.uniform(2, 24 * LIFESPAN / 4))
                heapq.heappush(heap, due)
        ctx = Context("user:web", at, at)
        values = {
            "email": f"person{i}@example{i % 997}.com",
            "phone": f"+86139{i:08d}",
            "wechat": None,
        }
        lead = Lead.capture(
            UUID(int=rng.getrandbits(128) | (4 << 76) | (1 << 63)),
            pipeline,
            ctx,
            email=values["email"],
            phone=values["phone"],
            name=f"Person {i}",
            source=("web_form", "partner", "event", "ads")[i % 4],
            campaign=f"c{i % 31}",
            attributes={"region": ("north", "south", "east", "west")[i % 4]},
        )
        reserved = [
            ContactKey.reserve(key_id(kind, value), kind, lead.id, "capture", ctx)
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
        if due.script:
            due.at += timedelta(hours=rng.uniform(2, 24 * LIFESPAN / 4))
            heapq.heappush(heap, due)
    flush()
    return Generated(
        leads=size,
        lead_events=counts["lead"],
        all_events=counts["all"],
        seconds=time.perf_counter() - started,
        emails=emails,
    )
