"""The codec writes payload times as the envelope does (``+00:00``), also for old events."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent

from leadflow.domain.events import LeadHandedOff, TouchRecorded, time_fields
from leadflow.service.codec import EventMapper, encode_event

LEAD = UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _stored(topic: str, data: dict[str, object]) -> StoredEvent:
    """An event as a version that wrote pydantic's ``Z`` times left it in the log."""
    state = {
        "v": 1,
        "occurred_at": "2026-01-05T09:00:00+00:00",
        "recorded_at": "2026-01-05T09:00:00+00:00",
        "actor": "user:ann",
        "data": data,
    }
    return StoredEvent(
        originator_id=LEAD, originator_version=2, topic=topic, state=orjson.dumps(state)
    )


def test_a_new_event_is_stored_with_offset_payload_times() -> None:
    event = LeadHandedOff(
        originator_id=LEAD,
        originator_version=2,
        timestamp=T0,
        occurred_at=T0,
        actor="user:ann",
        data=LeadHandedOff.DATA(from_owner=None, to_owner="rep:li", sla_due=T0),
    )

    stored = orjson.loads(encode_event(event))

    assert stored["data"]["sla_due"] == "2026-01-05T09:00:00+00:00"


def test_an_event_stored_with_z_times_reads_with_offset_times() -> None:
    stored = _stored(
        "leadflow.lead:LeadHandedOff",
        {"from_owner": None, "to_owner": "rep:li", "sla_due": "2026-01-07T09:00:00Z", "note": "Z"},
    )

    record = EventMapper().to_record(7, stored)

    assert record.data["sla_due"] == "2026-01-07T09:00:00+00:00"
    assert record.data["note"] == "Z"  # only time fields are rewritten
    assert record.to_json_dict()["data"]["sla_due"] == "2026-01-07T09:00:00+00:00"


def test_the_time_fields_come_from_the_payload_annotations() -> None:
    assert time_fields(LeadHandedOff.DATA) == ("sla_due",)  # datetime | None
    assert time_fields(TouchRecorded.DATA) == ("touched_at",)  # datetime
