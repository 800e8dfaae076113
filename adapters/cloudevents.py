"""Lead events as CloudEvents 1.0 (JSON, structured mode) and back.

A published event carries everything an :class:`~leadflow.codec.EventRecord` holds, so a
downstream service can rebuild the record (and any read model) from Kafka alone:

- ``id`` is the stable event id (:func:`leadflow.codec.event_id`): a redelivery or a
  re-publication after a relay crash carries the same id.
- ``type`` is ``<family>.<snake_case type>.v<payload version>``, e.g.
  ``leadflow.lead.stage_changed.v1``; consumers upcast older versions.
- ``subject`` is the lead id, ``time`` is business time (``occurred_at``).
- Extensions (lowercase alphanumerics, as the spec requires): ``recordedtime``,
  ``logposition``, ``leadsequence`` (the event's number in its lead's history; not the
  ``sequence`` extension, whose values are strings) and ``actor``.

The same attributes are also sent as ``ce_*`` Kafka headers so that routers can filter
without parsing the value. The value stays authoritative.

Personal data (docs/events.md): with ``stream.personal_data = "omit"`` (the default) the
personal fields are left out of ``data`` and the extension ``personalomitted`` lists their
paths (comma-separated); :func:`decode_event` puts ``"[personal]"`` in their place, so a
consumer validates every event as usual. With ``"clear"`` they are sent (``"[erased]"``
once the lead was erased).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

import orjson
from pydantic import ValidationError

from leadflow.domain.events import EVENT_TYPES, LeadEvent, Payload, payload_json
from leadflow.domain.personal_data import REDACTED, drop, mark
from leadflow.service.codec import EventRecord, event_id

__all__ = [
    "CONTENT_TYPE",
    "REQUIRED_ATTRIBUTES",
    "SPEC_VERSION",
    "LeadCloudEvent",
    "MalformedEvent",
    "ce_type",
    "decode_event",
    "encode_event",
    "headers_of",
    "to_cloudevent",
]

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
DATA_CONTENT_TYPE = "application/json"
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
"""Required by CloudEvents 1.0 itself; leadflow also always sets the ones below."""
LEADFLOW_ATTRIBUTES = (
    "subject",
    "time",
    "datacontenttype",
    "recordedtime",
    "logposition",
    "leadsequence",
    "actor",
)

_TYPE_PATTERN = re.compile(r"^(?P<family>[a-z0-9.]+)\.(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)$")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def ce_type(event_type: str, version: int) -> str:
    """The CloudEvents ``type`` of a lead event type at a payload version."""
    cls = EVENT_TYPES[event_type]
    return f"{cls.FAMILY}.{_snake(event_type)}.v{version}"


@cache
def _types_by_snake_name(registry_size: int) -> dict[tuple[str, str], type[LeadEvent[Any]]]:
    # Keyed by the registry size so that event types registered later are seen.
    del registry_size
    return {(cls.FAMILY, _snake(name)): cls for name, cls in EVENT_TYPES.items()}


def to_cloudevent(record: EventRecord, source: str, *, omit: bool = False) -> dict[str, Any]:
    """The CloudEvent (as a JSON-ready dict) of one recorded lead event; ``omit`` leaves
    its personal fields out."""
    event = {
        "specversion": SPEC_VERSION,
        "id": str(record.id),
        "source": source,
        "type": ce_type(record.type, record.version),
        "subject": str(record.lead_id),
        "time": record.occurred_at.isoformat(),
        "datacontenttype": DATA_CONTENT_TYPE,
        "recordedtime": record.recorded_at.isoformat(),
        "logposition": record.position,
        "leadsequence": record.sequence,
        "actor": record.actor,
        "data": record.data,
    }
    if omit and record.personal:
        event["data"] = drop(copy.deepcopy(record.data), record.personal)
        event["personalomitted"] = ",".join(record.personal)
    return event


def headers_of(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Kafka headers mirroring the event's attributes (``ce_<name>``)."""
    headers = [("content-type", CONTENT_TYPE.encode())]
    headers.extend(
        (f"ce_{name}", str(value).encode())
        for name, value in event.items()
        if name != "data" and value is not None
    )
    return headers


def encode_event(
    record: EventRecord, source: str, *, omit: bool = False
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Kafka key, value and headers of one recorded lead event."""
    event = to_cloudevent(record, source, omit=omit)
    return str(record.lead_id).encode(), orjson.dumps(event), headers_of(event)


class MalformedEvent(Exception):
    """A message that is not a valid leadflow CloudEvent; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class LeadCloudEvent:
    """A decoded, validated lead event: the record plus its typed payload."""

    record: EventRecord
    payload: Payload
    source: str

    @property
    def event_class(self) -> type[LeadEvent[Any]]:
        return EVENT_TYPES[self.record.type]


def _attribute(event: dict[str, Any], name: str, kind: type) -> Any:
    if name not in event:
        raise MalformedEvent("missing_attribute", f"attribute {name!r} is missing")
    value = event[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedEvent("invalid_attribute", f"attribute {name!r} must be a {kind.__name__}")
    return value


def _time(event: dict[str, Any], name: str) -> datetime:
    text = _attribute(event, name, str)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedEvent(
            "invalid_attribute", f"{name!r} is not a timestamp: {text!r}"
        ) from None
    if value.tzinfo is None:
        raise MalformedEvent("invalid_attribute", f"{name!r} has no UTC offset: {text!r}")
    return value


def _uuid(event: dict[str, Any], name: str) -> UUID:
    text = _attribute(event, name, str)
    try:
        return UUID(text)
    except ValueError:
        raise MalformedEvent("invalid_attribute", f"{name!r} is not a UUID: {text!r}") from None


def decode_event(value: bytes | None) -> LeadCloudEvent:
    """Parse and validate one message value; raises :class:`MalformedEvent`.

    The payload is upcast to the current version of its event type and validated
    against the type's pydantic model.
    """
    if value is None:
        raise MalformedEvent("invalid_json", "the message has no value (tombstone)")
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent("invalid_json", str(exc)) from None
    if not isinstance(event, dict):
        raise MalformedEvent("invalid_json", "the value is not a JSON object")
    for name in REQUIRED_ATTRIBUTES + LEADFLOW_ATTRIBUTES:
        if name not in event:
            raise MalformedEvent("missing_attribute", f"attribute {name!r} is missing")
    if event["specversion"] != SPEC_VERSION:
        raise MalformedEvent(
            "unsupported_specversion", f"specversion {event['specversion']!r} is not 1.0"
        )
    type_text = _attribute(event, "type", str)
    match = _TYPE_PATTERN.match(type_text)
    cls = (
        _types_by_snake_name(len(EVENT_TYPES)).get((match["family"], match["name"]))
        if match
        else None
    )
    if match is None or cls is None:
        raise MalformedEvent("unknown_type", f"no lead event type {type_text!r}")
    version = int(match["version"])
    if version > cls.VERSION or version < 1:
        raise MalformedEvent(
            "unsupported_version",
            f"{type_text!r}: this consumer knows {cls.TYPE} up to v{cls.VERSION}",
        )
    if event["datacontenttype"] != DATA_CONTENT_TYPE:
        raise MalformedEvent("invalid_attribute", "datacontenttype must be application/json")
    lead_id = _uuid(event, "subject")
    sequence = _attribute(event, "leadsequence", int)
    position = _attribute(event, "logposition", int)
    identity = _uuid(event, "id")
    if identity != event_id(lead_id, sequence):
        raise MalformedEvent("invalid_attribute", "id is not the event id of subject/leadsequence")
    data = event.get("data")
    if not isinstance(data, dict):
        raise MalformedEvent("invalid_payload", "data must be a JSON object")
    omitted = event.get("personalomitted")
    personal: tuple[str, ...] = ()
    if omitted is not None:
        if not isinstance(omitted, str):
            raise MalformedEvent("invalid_attribute", "personalomitted must be a string")
        personal = tuple(p for p in omitted.split(",") if p)
        try:
            mark(data, personal, REDACTED)
        except (AttributeError, TypeError):
            raise MalformedEvent("invalid_attribute", f"personalomitted {omitted!r}") from None
    try:
        payload = cls.DATA.model_validate(cls.upcast(data, version))
    except (ValidationError, KeyError, ValueError, TypeError) as exc:
        raise MalformedEvent("invalid_payload", f"{cls.TYPE}: {exc}") from None
    record = EventRecord(
        position=position,
        lead_id=lead_id,
        sequence=sequence,
        type=cls.TYPE,
        version=cls.VERSION,
        occurred_at=_time(event, "time"),
        recorded_at=_time(event, "recordedtime"),
        actor=_attribute(event, "actor", str),
        data=payload_json(payload),
        personal=personal,
    )
    return LeadCloudEvent(record=record, payload=payload, source=_attribute(event, "source", str))
