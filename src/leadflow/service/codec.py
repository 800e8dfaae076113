"""How events are written to and read from the log, and how readers see them.

The stored state of an event is one JSON object::

    {"v": 2, "occurred_at": "...", "recorded_at": "...", "actor": "...", "data": {...}}

``v`` is the payload's schema version; older versions are upcast on read. When the
payload holds personal data (the event class's ``PERSONAL``) and the store seals it
(:class:`~leadflow.service.sealing.PersonalSeal`), those values are taken out of ``data``
and stored sealed under the lead's data key: ``"pf"`` lists their paths, ``"pd"`` holds
the ciphertext. Everything else stays plain JSON. The topic column holds
``<family>:<EventType>`` (e.g. ``leadflow.lead:StageChanged``),
never a Python module path, so code can be reorganised without touching the log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from leadflow.domain.aggregate import UnreadableEvent
from leadflow.domain.events import (
    EVENT_TYPES,
    TOPICS,
    LeadEvent,
    RecordedEvent,
    payload_json,
    with_offset_times,
)
from leadflow.errors import KeyUnavailable

if TYPE_CHECKING:
    from leadflow.service.sealing import PersonalSeal

__all__ = [
    "LEAD_TOPICS",
    "EventMapper",
    "EventRecord",
    "decode_state",
    "event_id",
    "lead_event",
]

_EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://leadflow.dev/events")

LEAD_TOPICS: tuple[str, ...] = tuple(
    topic for topic, cls in TOPICS.items() if issubclass(cls, LeadEvent)
)


def event_id(aggregate_id: UUID, sequence: int) -> UUID:
    """The stable id of an aggregate's ``sequence``-th event, the same on every read."""
    return uuid5(_EVENT_ID_NAMESPACE, f"{aggregate_id}/{sequence}")


def encode_event(event: RecordedEvent[Any], seal: PersonalSeal | None = None) -> bytes:
    return encode_events([event], seal)[0]


def encode_events(
    events: Sequence[RecordedEvent[Any]], seal: PersonalSeal | None = None
) -> list[bytes]:
    """The stored state of each event; personal values sealed, with the data keys of all
    their leads read (or made) together (:meth:`PersonalSeal.seal_all`)."""
    envelopes: list[dict[str, Any]] = [
        {
            "v": type(event).VERSION,
            "occurred_at": event.occurred_at.isoformat(),
            "recorded_at": event.timestamp.isoformat(),
            "actor": event.actor,
            "data": payload_json(event.data),
        }
        for event in events
    ]
    if seal is not None:
        seal.seal_all(events, envelopes)
    return [orjson.dumps(envelope) for envelope in envelopes]


Opener = Callable[[type[RecordedEvent[Any]], dict[str, Any], UUID, int], None]
"""Puts an envelope's personal values back (or marks them), before upcasting."""


def decode_state(
    cls: type[RecordedEvent[Any]],
    state: bytes,
    opener: Opener | None = None,
    originator: tuple[UUID, int] | None = None,
) -> dict[str, Any]:
    """The stored envelope with its payload upcast to the current version (not validated),
    its times written ``+00:00`` (events stored before that was so hold ``...Z``).

    With an ``opener`` (and the event's ``originator``: id and version), sealed personal
    values are opened, or marked erased or redacted, first.
    """
    envelope: dict[str, Any] = orjson.loads(state)
    if opener is not None and originator is not None:
        opener(cls, envelope, *originator)
    stored_version = envelope.get("v", 1)
    if stored_version < cls.VERSION:
        envelope["data"] = cls.upcast(envelope["data"], stored_version)
        envelope["v"] = cls.VERSION
    with_offset_times(cls.DATA, envelope["data"])
    return envelope


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else _parse_uuid(value)


@functools.lru_cache(maxsize=65536)
def _parse_uuid(value: str) -> UUID:
    """A lead's events arrive together; parsing its id once is measurably cheaper."""
    return UUID(value)


@functools.lru_cache(maxsize=65536)
def _parse_time(value: str) -> datetime:
    """Events of one command share their timestamps; parsing each once is measurably cheaper."""
    return datetime.fromisoformat(value)


class _JsonTranscoder(Transcoder):
    """Used only for events of other libraries' classes; ours are encoded above."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class EventMapper(Mapper[UUID]):
    """eventsourcing mapper for leadflow's events (see :data:`leadflow.events.TOPICS`)."""

    def __init__(
        self,
        compressor: Any = None,
        cipher: Any = None,
        *,
        seal: PersonalSeal | None = None,
        redact: bool = False,
    ) -> None:
        super().__init__(transcoder=_JsonTranscoder(), compressor=compressor, cipher=cipher)
        self.seal_personal = seal
        """Seals personal values on write; ``None``: stored plain (no keystore)."""
        self.redact = redact
        """Records show ``[personal]`` for personal values, and no key is needed."""
        self._open_record: Opener | None = None
        self._open_event: Opener | None = None
        if seal is not None:
            self._open_event = functools.partial(seal.open, redact=False)
            self._open_record = functools.partial(seal.open, redact=redact)

    def with_redaction(self) -> EventMapper:
        """The same mapper, reading records with personal values redacted."""
        return EventMapper(self.compressor, self.cipher, seal=self.seal_personal, redact=True)

    def prefetch(self, lead_ids: Any) -> None:
        """Unwrap the data keys a batch of records will need, in one keystore read."""
        if self.seal_personal is not None and not self.redact:
            self.seal_personal.keys.prefetch(_uuid(i) for i in lead_ids)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        return self.to_stored_events([domain_event])[0]

    def to_stored_events(self, domain_events: Sequence[Any]) -> list[StoredEvent]:
        """The events of one append, encoded together (see :func:`encode_events`)."""
        for event in domain_events:
            if not isinstance(event, RecordedEvent):
                raise TypeError(f"not a leadflow event: {event!r}")
        states = encode_events(domain_events, self.seal_personal)
        return [
            StoredEvent(
                originator_id=event.originator_id,
                originator_version=event.originator_version,
                topic=event.topic(),
                state=self.seal(state),
            )
            for event, state in zip(domain_events, states, strict=True)
        ]

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """The stored event as a domain event; one this release cannot read becomes an
        :class:`~leadflow.domain.aggregate.UnreadableEvent` that loading passes over."""
        try:
            return self._domain_event(stored_event)
        except KeyUnavailable:
            raise  # not the event's fault: the key is missing
        except Exception as exc:
            message = str(exc).splitlines()[0] if str(exc) else ""
            return UnreadableEvent(
                originator_id=_uuid(stored_event.originator_id),
                originator_version=stored_event.originator_version,
                type=stored_event.topic.rsplit(":", 1)[-1],
                error=f"{type(exc).__name__}: {message}",
            )

    def _domain_event(self, stored_event: StoredEvent) -> Any:
        cls = TOPICS[stored_event.topic]
        originator = _uuid(stored_event.originator_id)
        envelope = decode_state(
            cls,
            self.unseal(stored_event.state),
            self._open_event,
            (originator, stored_event.originator_version),
        )
        return cls(
            originator_id=originator,
            originator_version=stored_event.originator_version,
            timestamp=datetime.fromisoformat(envelope["recorded_at"]),
            occurred_at=datetime.fromisoformat(envelope["occurred_at"]),
            actor=envelope["actor"],
            data=cls.DATA.model_validate(envelope["data"]),
        )

    def seal(self, state: bytes) -> bytes:
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return state

    def unseal(self, state: bytes) -> bytes:
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return state

    def to_record(self, position: int, stored: StoredEvent) -> EventRecord:
        """A stored event as readers see it; the payload is upcast but not re-validated."""
        cls = TOPICS[stored.topic]
        aggregate_id = _uuid(stored.originator_id)
        envelope = decode_state(
            cls,
            self.unseal(stored.state),
            self._open_record,
            (aggregate_id, stored.originator_version),
        )
        return EventRecord(
            position=position,
            lead_id=aggregate_id,
            sequence=stored.originator_version,
            type=cls.TYPE,
            version=envelope["v"],
            occurred_at=_parse_time(envelope["occurred_at"]),
            recorded_at=_parse_time(envelope["recorded_at"]),
            actor=envelope["actor"],
            data=envelope["data"],
            personal=tuple(envelope.get("pf", ())),
        )


@dataclass(frozen=True)
class EventRecord:
    """One event as readers see it: its position in the log plus the event.

    This is the shape of ``leadflow events --json``, of what projections consume and
    of what the Kafka relay publishes.
    """

    position: int
    lead_id: UUID
    sequence: int
    """The event's number within its lead's history (1 = captured)."""
    type: str
    version: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    data: dict[str, Any]
    """The payload as JSON values; times end ``+00:00`` like the envelope's
    (:func:`leadflow.domain.events.payload_json`)."""
    personal: tuple[str, ...] = field(default=(), compare=False)
    """The paths of ``data`` that hold personal values (:mod:`leadflow.domain.personal_data`):
    what ``--redact`` and the stream's ``omit`` leave out. Not part of the JSON shape."""

    @functools.cached_property
    def id(self) -> UUID:
        """The stable event id (computed on demand: a UUIDv5 costs more than decoding)."""
        return event_id(self.lead_id, self.sequence)

    def to_json_dict(self) -> dict[str, Any]:
        """The documented JSON shape (``docs/cli.md``), exactly these keys."""
        return {
            "position": self.position,
            "id": str(self.id),
            "lead_id": str(self.lead_id),
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "actor": self.actor,
            "data": self.data,
        }


def lead_event(record: EventRecord) -> LeadEvent[Any]:
    """The domain event a lead record was read from, validated (e.g. for ``Lead.evolve``)."""
    cls = EVENT_TYPES[record.type]
    return cls(
        originator_id=record.lead_id,
        originator_version=record.sequence,
        timestamp=record.recorded_at,
        occurred_at=record.occurred_at,
        actor=record.actor,
        data=cls.DATA.model_validate(record.data),
    )
