"""Where the codec meets the data keys: personal values out of the payload on write, back
in (or marked erased or redacted) on read.

The one place that decides how a stored envelope's personal values are read, so every
reader (``events``, ``show``, history, projections, replay, the stream, the dead-letter
topic) sees the same thing: the value with the key, ``[erased]`` once the lead's key was
destroyed, ``[personal]`` when the caller asked for the log without personal data.
Events stored before personal data was sealed (plain) read the same way: their personal
paths are found from the declaration, and they too show ``[erased]`` once the lead was
erased (the plain bytes stay in that log until it is copied: see docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any
from uuid import UUID

from leadflow.domain.events import RecordedEvent
from leadflow.domain.personal_data import ERASED, REDACTED, mark, personal_paths, put, take
from leadflow.service.data_keys import DataKeys

__all__ = ["PersonalSeal"]


def _aad(lead_id: UUID, version: int, topic: str) -> bytes:
    return f"{lead_id}/{version}/{topic}".encode()


_FIELDS: dict[type[Any], tuple[str, ...]] = {}
"""Each payload class's field names, in order (pydantic's ``model_fields`` costs more to
read than the rest of putting a payload back in order)."""


def _in_field_order(cls: type[RecordedEvent[Any]], data: dict[str, Any]) -> None:
    """Put the payload's keys back in the order of its fields (as a plain event reads)."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(cls.DATA.model_fields)
    ordered = {name: data[name] for name in fields if name in data}
    if len(ordered) == len(data):
        data.clear()
        data.update(ordered)


class PersonalSeal:
    """Seals the personal values of events as they are stored; opens them as read."""

    def __init__(self, keys: DataKeys, attributes: Callable[[], Collection[str]]) -> None:
        self.keys = keys
        self.attributes = attributes
        """The attributes personal under the pipeline in force (read when needed)."""

    def _paths(
        self,
        cls: type[RecordedEvent[Any]],
        data: dict[str, Any],
        attributes: Callable[[], Collection[str]] | None = None,
    ) -> list[str]:
        needs_pipeline = any(spec.endswith(".*") for spec in cls.PERSONAL)
        personal = (attributes or self.attributes)() if needs_pipeline else ()
        return personal_paths(cls.PERSONAL, data, personal)

    def seal_all(
        self, events: Sequence[RecordedEvent[Any]], envelopes: Sequence[dict[str, Any]]
    ) -> None:
        """Move each event's personal values from its envelope's ``"data"`` into ``"pd"``
        (sealed under its lead's key). For the events of one append the personal attributes
        are read once, and the data keys of all their leads are read (or made) together."""
        attributes: list[Collection[str]] = []

        def once() -> Collection[str]:
            if not attributes:
                attributes.append(self.attributes())
            return attributes[0]

        sealing = []
        for event, envelope in zip(events, envelopes, strict=True):
            cls = type(event)
            if not cls.PERSONAL:
                continue
            paths = self._paths(cls, envelope["data"], once)
            if paths:
                sealing.append((event, envelope, paths))
        self.keys.ensure(event.originator_id for event, _, _ in sealing)
        for event, envelope, paths in sealing:
            cls = type(event)
            values = take(envelope["data"], paths)
            aad = _aad(event.originator_id, event.originator_version, cls.topic())
            envelope["pf"] = paths
            envelope["pd"] = self.keys.seal(event.originator_id, aad, values)

    def open(
        self,
        cls: type[RecordedEvent[Any]],
        envelope: dict[str, Any],
        lead_id: UUID,
        version: int,
        *,
        redact: bool,
    ) -> None:
        """Put the personal values back into ``envelope["data"]``, or mark them."""
        data = envelope["data"]
        token = envelope.pop("pd", None)
        if token is not None:
            paths = envelope["pf"]
            if redact:
                mark(data, paths, REDACTED)
                _in_field_order(cls, data)
                return
            values = self.keys.open(lead_id, _aad(lead_id, version, cls.topic()), token)
            if values is None:
                mark(data, paths, ERASED)
            else:
                put(data, values)
            _in_field_order(cls, data)
            return
        if not cls.PERSONAL:
            return
        paths = self._paths(cls, data)  # stored plain, before sealing
        envelope["pf"] = paths
        if not paths:
            return
        if redact:
            mark(data, paths, REDACTED)
        elif self.keys.destroyed(lead_id):
            mark(data, paths, ERASED)
