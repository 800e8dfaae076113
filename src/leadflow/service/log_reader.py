"""Reading the log: lead events in log order, filtered, as :class:`EventRecord`\\ s.

Reads go straight to the recorder in batches (its ``select_notification_rows``, leadflow's
fast read, or the library's ``select_notifications`` on any other recorder), never through
the library's notification log, whose sections hold ten events each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from leadflow.domain.events import EVENT_TYPES
from leadflow.errors import InvalidInput, UndecodableEvent
from leadflow.service.codec import LEAD_TOPICS, EventMapper, EventRecord

__all__ = ["notification_rows", "read_events"]

LeadReader = Callable[[UUID], Sequence[Notification]]
NotificationReader = Callable[..., Sequence[Notification]]


def notification_rows(recorder: Any) -> NotificationReader:
    """The recorder's fastest read of notifications in log order: leadflow's recorders name
    theirs ``select_notification_rows`` (originator ids may be text, which the codec
    accepts); any other recorder is read through the library's ``select_notifications``."""
    reader: NotificationReader = getattr(
        recorder, "select_notification_rows", recorder.select_notifications
    )
    return reader


def read_events(
    recorder: Any,
    mapper: EventMapper,
    by_lead: LeadReader | None,
    *,
    after: int = 0,
    lead_id: UUID | None = None,
    types: Iterable[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    include_org: bool = False,
    batch_size: int = 1000,
) -> Iterator[EventRecord]:
    """Events in log order after position ``after``; the filters combine with AND.

    ``types`` are lead event types (an unknown one is refused); ``include_org`` adds the
    organisation's events (pipeline, roster, keys) when no type is named. ``since`` and
    ``until`` bound ``occurred_at``, inclusive. With ``lead_id`` and a recorder that reads
    one lead by its key (``by_lead``), only that lead's rows are read.
    """
    wanted = list(types)
    for name in wanted:
        if name not in EVENT_TYPES:
            raise InvalidInput("type", f"unknown event type {name!r}")
    topics: Sequence[str] = (
        [f"leadflow.lead:{name}" for name in wanted]
        if wanted
        else ([] if include_org else list(LEAD_TOPICS))
    )
    records: Iterable[EventRecord]
    if lead_id is not None and by_lead is not None:
        mapper.prefetch([lead_id])
        records = (
            _decoded(mapper, n)
            for n in by_lead(lead_id)
            if n.id > after and n.topic in LEAD_TOPICS and (not wanted or n.topic in topics)
        )
    else:
        records = _scan(recorder, mapper, after, topics, batch_size)
        if lead_id is not None:
            records = (r for r in records if r.lead_id == lead_id)
    for record in records:
        if since is not None and record.occurred_at < since:
            continue
        if until is not None and record.occurred_at > until:
            continue
        yield record


def _scan(
    recorder: Any, mapper: EventMapper, after: int, topics: Sequence[str], batch_size: int
) -> Iterator[EventRecord]:
    position = after
    select = notification_rows(recorder)
    while True:
        batch = select(start=position, limit=batch_size, topics=topics, inclusive_of_start=False)
        if not batch:
            return
        mapper.prefetch([n.originator_id for n in batch])
        for notification in batch:
            yield _decoded(mapper, notification)
        position = batch[-1].id


def _decoded(mapper: EventMapper, notification: Notification) -> EventRecord:
    try:
        return mapper.to_record(notification.id, notification)
    except Exception as exc:  # any decoding failure: name the event, never a bare traceback
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        lead = notification.originator_id  # SQLite's recorder gives its hex text
        raise UndecodableEvent(
            notification.id,
            lead if isinstance(lead, UUID) else UUID(str(lead)),
            notification.topic,
            error,
        ) from exc
