"""One lead driven through domain commands in memory, on a fake clock: no store."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from leadflow.domain.context import Context
from leadflow.domain.events import ActivityKind, LeadEvent
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline

from support.clock import START, FakeClock

T0 = START
LEAD_ID = UUID("00000000-0000-4000-8000-000000000001")


class Driver:
    """Drives one lead through domain commands on a hand-moved clock; keeps every event."""

    def __init__(self, pipeline: Pipeline, **capture: Any) -> None:
        self.pipeline = pipeline
        self.clock = FakeClock(T0)
        self.events: list[LeadEvent[Any]] = []
        self.lead = Lead.capture(LEAD_ID, pipeline, self.ctx(), **capture)
        self.flush()

    @property
    def now(self) -> datetime:
        return self.clock.now

    def ctx(self, actor: str = "user:test") -> Context:
        return Context(actor=actor, occurred_at=self.now, recorded_at=self.now)

    def at(self, **delta: float) -> Driver:
        self.clock.advance(**delta)
        return self

    def flush(self) -> list[LeadEvent[Any]]:
        new = self.lead.collect_events()
        self.events.extend(new)
        return new

    def activity(self, kind: str) -> list[LeadEvent[Any]]:
        self.lead.record_activity(ActivityKind(kind), self.pipeline, self.ctx())
        return self.flush()

    def do(self, command: str, *args: Any, **kwargs: Any) -> list[LeadEvent[Any]]:
        getattr(self.lead, command)(*args, self.pipeline, self.ctx(), **kwargs)
        return self.flush()

    def sweep(self, now: datetime | None = None) -> list[LeadEvent[Any]]:
        self.lead.sweep(self.pipeline, now or self.now, self.now)
        return self.flush()

    def replayed(self) -> Lead:
        lead: Lead | None = None
        for event in self.events:
            lead = Lead.evolve(lead, event)
        assert lead is not None
        return lead


def scored(events: list[LeadEvent[Any]]) -> list[tuple[str | None, float, float]]:
    """(rule, delta, score) of each LeadScored event."""
    return [(e.data.rule, e.data.delta, e.data.score) for e in events if e.TYPE == "LeadScored"]
