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

from collections.abc import Callable, Collection
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

    def _paths(self, cls: type[RecordedEvent[Any]], data: dict[str, Any]) -> list[str]:
        needs_pipeline = any(spec.endswith(".*") for spec in cls.PERSONAL)
        return personal_paths(cls.PERSONAL, data, self.attributes() if needs_pipeline else ())

    def seal(self, event: RecordedEvent[Any], envelope: dict[str, Any]) -> None:
        """Move the event's personal values from ``envelope["data"]`` into ``"pd"``."""
        cls = type(event)
        data = envelope["data"]
        paths = self._paths(cls, data)
        if not paths:
            return
        values = take(data, paths)
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
