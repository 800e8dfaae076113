"""The pool oracle folds records into leads with ``Lead.evolve`` and asks ``ownership``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from uuid import uuid4

from leadflow.domain.context import Context
from leadflow.domain.lead import Lead
from leadflow.projections.reference import leads_from_events, pool_from_events
from leadflow.service.codec import EventRecord, lead_event
from leadflow.service.pipeline_files import default_pipeline

PIPELINE = default_pipeline()
CLOSED = PIPELINE.assignment.closed_stages
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
positions = count(1)


def ctx(days: float) -> Context:
    at = T0 + timedelta(days=days)
    return Context(actor="user:ann", occurred_at=at, recorded_at=T0 + timedelta(days=30))


def records(lead: Lead) -> list[EventRecord]:
    """The lead's pending events as the log hands them to readers."""
    return [
        EventRecord(
            position=next(positions),
            lead_id=event.originator_id,
            sequence=event.originator_version,
            type=event.TYPE,
            version=type(event).VERSION,
            occurred_at=event.occurred_at,
            recorded_at=event.timestamp,
            actor=event.actor,
            data=event.data.model_dump(mode="json"),
        )
        for event in lead.collect_events()
    ]


def captured(days: float, email: str) -> Lead:
    return Lead.capture(uuid4(), PIPELINE, ctx(days), email=email)


def test_the_oracle_lists_open_unowned_leads_oldest_capture_first() -> None:
    late, early, owned, disqualified = (
        captured(days, f"{n}@example.com") for n, days in (("l", 3), ("e", 1), ("o", 0), ("d", 2))
    )
    log = records(late) + records(early) + records(owned) + records(disqualified)
    owned.claim("rep:mei", PIPELINE, ctx(4))
    disqualified.disqualify("student", PIPELINE, ctx(4))
    log += records(owned) + records(disqualified)

    assert pool_from_events(log, CLOSED) == [early.id, late.id]


def test_a_record_folds_back_into_the_lead_that_recorded_it() -> None:
    lead = captured(0, "ann@example.com")
    lead.claim("rep:mei", PIPELINE, ctx(1))
    lead.release("no time", PIPELINE, ctx(2))
    log = records(lead)

    folded = leads_from_events(log)

    assert folded == {lead.id: lead}
    assert [lead_event(r).TYPE for r in log] == [r.type for r in log]


def test_a_history_without_its_capture_is_no_lead() -> None:
    lead = captured(0, "ann@example.com")
    records(lead)
    lead.claim("rep:mei", PIPELINE, ctx(1))

    assert leads_from_events(records(lead)) == {}
