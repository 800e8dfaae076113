"""Copying a store into a new one whose personal data is sealed (a data migration).

Every event of the source is read in log order and appended to the target with the same
aggregate id, sequence number, times, actor and payload; the target's codec seals the
personal values under per-lead data keys as it writes them. So each lead event keeps its
id (``uuid5(lead, sequence)``) and its place relative to every other event, and every
read model (the funnel too) of the copy equals the source's.

Two kinds of event are not copied verbatim:

- contact-key events: in a store written before sealing, a key's id is an unkeyed hash
  of the address (guessable). The copy reserves its keys afresh under the target's keyed
  HMAC (:func:`~leadflow.service.reindex.reindex_contact_keys`), after the events.
- the events of a lead erased in the source: their personal values are written as
  ``[erased]`` and the lead's data key is destroyed in the target, so the copy holds
  nothing of an erasure made before sealing existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadflow.domain.events import LeadEvent, RecordedEvent
from leadflow.domain.personal_data import DEFAULT_ATTRIBUTES, ERASED, mark, personal_paths
from leadflow.errors import InvalidInput
from leadflow.service.codec import EventMapper
from leadflow.service.reindex import reindex_contact_keys
from leadflow.service.store import LeadStore

__all__ = ["CopyResult", "copy_store"]

_KEY_FAMILY = "leadflow.contact"


@dataclass(frozen=True)
class CopyResult:
    events: int
    """Events copied (contact-key events not counted: they are reserved afresh)."""
    erased_leads: int
    """Leads erased in the source, whose personal values the copy holds as ``[erased]``."""
    contact_keys: int
    """Contact keys reserved in the target."""


def copy_store(
    source: LeadStore,
    target: LeadStore,
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> CopyResult:
    """Copy every event of ``source`` into the empty store ``target`` (see above)."""
    if target.keys is None:
        raise InvalidInput("dst", "the target store has no keystore to seal personal data with")
    if target.max_position():
        raise InvalidInput("dst", "the target store is not empty; copy into a new store")
    mapper = source.mapper
    assert isinstance(mapper, EventMapper)
    erased = {r.lead_id for r in source.read_events(types=["PersonalDataErased"])}
    copied = 0
    position = 0
    while True:
        batch = source.recorder.select_notifications(
            start=position, limit=batch_size, inclusive_of_start=False
        )
        if not batch:
            break
        events: list[RecordedEvent[Any]] = []
        for notification in batch:
            if notification.topic.startswith(_KEY_FAMILY + ":"):
                continue
            event = mapper.to_domain_event(notification)
            if isinstance(event, LeadEvent) and event.originator_id in erased:
                event = _erased_copy(event)
            events.append(event)
        if events:
            target.events.put(events)
            copied += len(events)
        position = batch[-1].id
        if progress is not None:
            progress(position)
    for lead_id in erased:
        target.keys.destroy(lead_id)
    keys = reindex_contact_keys(target, target.clock())
    return CopyResult(events=copied, erased_leads=len(erased), contact_keys=keys["reserved"])


def _erased_copy(event: LeadEvent[Any]) -> LeadEvent[Any]:
    """The event with each personal value replaced by ``[erased]``."""
    cls = type(event)
    if not cls.PERSONAL:
        return event
    data = event.data.model_dump(mode="json")
    # Every attribute counts here: the source's pipeline may have marked others personal
    # than the default, and an erased person's attributes are all gone anyway.
    attributes = set(DEFAULT_ATTRIBUTES) | set(data.get("attributes") or {})
    changes = data.get("changes") or {}
    attributes |= {k.removeprefix("attributes.") for k in changes if k.startswith("attributes.")}
    mark(data, personal_paths(cls.PERSONAL, data, attributes), ERASED)
    return dataclasses.replace(event, data=cls.DATA.model_validate(data))
