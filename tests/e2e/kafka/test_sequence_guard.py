"""Per-lead dedupe: redeliveries dropped, events ahead of a gap held back until re-sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Connection, Engine, create_engine

from leadflow.adapters.kafka import ConsumedEvent, ConsumerRaced, SequenceGuard, idempotent
from leadflow.domain.events import ReasonData
from leadflow.service.codec import EventRecord

AT = datetime(2026, 1, 5, tzinfo=UTC)


def event(lead: UUID, sequence: int) -> ConsumedEvent:
    record = EventRecord(
        position=sequence,
        lead_id=lead,
        sequence=sequence,
        type="LeadDisqualified",
        version=1,
        occurred_at=AT,
        recorded_at=AT,
        actor="user:test",
        data={"reason": "test"},
    )
    return ConsumedEvent(record, ReasonData(reason="test"), "leadflow://test", "t", 0, sequence)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return create_engine(f"sqlite:///{tmp_path / 'consumer.db'}")


def applied_by(engine: Engine, stream: Sequence[Sequence[ConsumedEvent]]) -> list[int]:
    applied: list[int] = []

    def handler(conn: Connection, events: Sequence[ConsumedEvent]) -> None:
        applied.extend(e.record.sequence for e in events)

    handle = idempotent(engine, "test", handler)
    for batch in stream:
        handle(batch)
    return applied


def test_a_redelivered_event_is_dropped(engine: Engine) -> None:
    lead = uuid4()

    applied = applied_by(engine, [[event(lead, 1), event(lead, 2)], [event(lead, 2)]])

    assert applied == [1, 2]


def test_an_event_ahead_of_a_missing_one_waits_for_the_re_sent_run(engine: Engine) -> None:
    lead = uuid4()
    # What a relay retry can produce: 2 lost, 3 delivered, then 2 and 3 re-sent.
    stream = [[event(lead, 1), event(lead, 3)], [event(lead, 2), event(lead, 3)]]

    assert applied_by(engine, stream) == [1, 2, 3]


def test_the_last_applied_sequence_survives_a_restart(engine: Engine) -> None:
    lead = uuid4()
    applied_by(engine, [[event(lead, 1), event(lead, 2)]])

    after_restart = applied_by(engine, [[event(lead, 1), event(lead, 2), event(lead, 3)]])

    assert after_restart == [3]


def test_leads_are_tracked_independently(engine: Engine) -> None:
    ada, bob = uuid4(), uuid4()

    applied = applied_by(engine, [[event(ada, 1), event(bob, 1), event(ada, 2), event(bob, 1)]])

    assert applied == [1, 1, 2]


def test_a_failing_handler_leaves_nothing_marked_as_applied(engine: Engine) -> None:
    lead = uuid4()

    def failing(conn: Connection, events: Sequence[ConsumedEvent]) -> None:
        raise RuntimeError("downstream failure")

    with pytest.raises(RuntimeError):
        idempotent(engine, "test", failing)([event(lead, 1)])

    with engine.connect() as conn:
        assert SequenceGuard(engine, "test").last_applied(conn, [lead]) == {}
    assert applied_by(engine, [[event(lead, 1)]]) == [1]


def _racing(engine: Engine, rival: Sequence[ConsumedEvent]) -> SequenceGuard:
    """A guard under which, once it has read the sequences, a second process running the
    same consumer name claims ``rival`` and commits."""
    guard = SequenceGuard(engine, "test")
    read = guard.last_applied

    def read_then_lose_the_race(conn: Connection, lead_ids: Iterable[UUID]) -> dict[UUID, int]:
        known = read(conn, lead_ids)
        with engine.begin() as other:
            SequenceGuard(engine, "test").claim(other, rival)
        return known

    guard.last_applied = read_then_lose_the_race  # type: ignore[method-assign]
    return guard


@pytest.mark.parametrize("applied_before", [0, 1], ids=["new lead", "known lead"])
def test_two_processes_under_one_consumer_name_never_both_apply_an_event(
    engine: Engine, applied_before: int
) -> None:
    lead = uuid4()
    if applied_before:
        assert applied_by(engine, [[event(lead, 1)]]) == [1]
    batch = [event(lead, applied_before + 1)]
    guard = _racing(engine, batch)

    with pytest.raises(ConsumerRaced), engine.begin() as conn:
        guard.claim(conn, batch)

    with engine.connect() as conn:  # the winner's claim stands; the loser wrote nothing
        assert SequenceGuard(engine, "test").last_applied(conn, [lead]) == {
            lead: applied_before + 1
        }
    assert applied_by(engine, [batch]) == []  # retried, it is a redelivery
