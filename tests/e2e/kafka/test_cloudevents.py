"""Lead events as CloudEvents: what the relay writes and what consumers accept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from leadflow.adapters.cloudevents import (
    REQUIRED_ATTRIBUTES,
    MalformedEvent,
    ce_type,
    decode_event,
    encode_event,
)
from leadflow.adapters.event_schemas import event_schemas, stale_schema_files
from leadflow.domain.events import EVENT_TYPES, ActivityRecorded
from leadflow.service.application import Leadflow
from leadflow.service.codec import EventRecord, event_id

from support.stores import on_roster

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "schemas"


def _records(app: Leadflow) -> list[EventRecord]:
    lead = app.capture(email="ada@example.com", source="web").lead_id
    app.record_activity(lead, "page_visit", detail="/pricing")
    on_roster(app, "rep:li")
    app.assign(lead, "rep:li")
    return list(app.read_events())


def _cloudevent(record: EventRecord) -> dict[str, Any]:
    _, value, _ = encode_event(record, "leadflow://test")
    event: dict[str, Any] = orjson.loads(value)
    return event


def test_every_event_type_has_a_versioned_dotted_cloudevents_type() -> None:
    assert ce_type("StageChanged", 1) == "leadflow.lead.stage_changed.v1"
    names = {ce_type(name, cls.VERSION) for name, cls in EVENT_TYPES.items()}
    assert len(names) == len(EVENT_TYPES)


def test_a_published_event_carries_the_record_as_cloudevent_attributes(
    sqlite_app: Leadflow,
) -> None:
    record = _records(sqlite_app)[0]

    key, value, headers = encode_event(record, "leadflow://test")
    event = orjson.loads(value)

    assert key == str(record.lead_id).encode()
    assert event["specversion"] == "1.0"
    assert event["id"] == str(record.id) == str(event_id(record.lead_id, 1))
    assert event["source"] == "leadflow://test"
    assert event["type"] == "leadflow.lead.lead_captured.v1"
    assert event["subject"] == str(record.lead_id)
    assert event["time"] == record.occurred_at.isoformat()
    assert event["recordedtime"] == record.recorded_at.isoformat()
    assert event["logposition"] == record.position
    assert event["leadsequence"] == 1
    assert event["data"] == record.data
    header_map = dict(headers)
    assert header_map["ce_id"] == str(record.id).encode()
    assert header_map["ce_type"] == b"leadflow.lead.lead_captured.v1"
    assert header_map["content-type"].startswith(b"application/cloudevents+json")


def test_decoding_a_published_event_gives_back_the_record_and_its_typed_payload(
    sqlite_app: Leadflow,
) -> None:
    for record in _records(sqlite_app):
        _, value, _ = encode_event(record, "leadflow://test")

        decoded = decode_event(value)

        assert decoded.record == record
        assert isinstance(decoded.payload, EVENT_TYPES[record.type].DATA)
        assert decoded.source == "leadflow://test"


def test_payload_times_are_published_and_decoded_with_a_numeric_offset(
    sqlite_app: Leadflow,
) -> None:
    lead = sqlite_app.capture(email="ada@example.com").lead_id
    sqlite_app.add_rep("rep:li")  # hand-offs go to reps on the roster
    sqlite_app.hand_off(lead, "rep:li")
    record = next(r for r in sqlite_app.read_events() if r.type == "LeadHandedOff")

    decoded = decode_event(encode_event(record, "leadflow://test")[1])

    assert _cloudevent(record)["data"]["sla_due"].endswith("+00:00")
    assert decoded.record == record


def test_an_older_payload_version_is_upcast_to_the_current_model(sqlite_app: Leadflow) -> None:
    record = next(r for r in _records(sqlite_app) if r.type == "ActivityRecorded")
    event = _cloudevent(record)
    event["type"] = "leadflow.lead.activity_recorded.v1"
    event["data"] = {"kind": "page_visit", "detail": "/pricing"}

    decoded = decode_event(orjson.dumps(event))

    assert decoded.record.version == ActivityRecorded.VERSION
    assert decoded.record.data["activity"] == "page_visit"
    assert decoded.record.data["category"] == "behaviour"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.pop("subject"), "missing_attribute"),
        (lambda e: e.update(specversion="0.3"), "unsupported_specversion"),
        (lambda e: e.update(type="leadflow.lead.lead_teleported.v1"), "unknown_type"),
        (lambda e: e.update(type="com.example.order_placed.v1"), "unknown_type"),
        (lambda e: e.update(type="leadflow.lead.lead_captured.v9"), "unsupported_version"),
        (lambda e: e.update(leadsequence=2), "invalid_attribute"),
        (lambda e: e.update(time="yesterday"), "invalid_attribute"),
        (lambda e: e["data"].update(stage=None), "invalid_payload"),
        (lambda e: e["data"].update(unexpected="x"), "invalid_payload"),
    ],
)
def test_a_message_that_is_not_a_valid_lead_event_is_refused_with_a_reason(
    sqlite_app: Leadflow, change: Any, reason: str
) -> None:
    event = _cloudevent(_records(sqlite_app)[0])
    change(event)

    with pytest.raises(MalformedEvent) as refused:
        decode_event(orjson.dumps(event))

    assert refused.value.reason == reason


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", None])
def test_a_value_that_is_not_a_json_object_is_refused(value: bytes | None) -> None:
    with pytest.raises(MalformedEvent) as refused:
        decode_event(value)

    assert refused.value.reason == "invalid_json"


def test_every_schema_requires_the_cloudevents_attributes_and_describes_the_payload() -> None:
    schemas = event_schemas()

    assert len(schemas) == len(EVENT_TYPES)
    for name, cls in EVENT_TYPES.items():
        schema = schemas[f"{ce_type(name, cls.VERSION)}.json"]
        assert set(REQUIRED_ATTRIBUTES) <= set(schema["required"])
        assert schema["properties"]["type"] == {"const": ce_type(name, cls.VERSION)}
        assert set(schema["properties"]["data"]["properties"]) == set(cls.DATA.model_fields)


def test_the_committed_schemas_match_the_payload_models() -> None:
    stale = stale_schema_files(SCHEMAS)

    assert not stale, (
        f"docs/schemas is stale ({', '.join(stale)}): "
        "run `leadflow event-schemas --out docs/schemas`"
    )
