"""The deadline index: each lead's next deadline, in a table beside the log.

A sweep asks "which leads have a rule due at or before ``now``?". Folding every lead to
answer it costs a read of the whole log and every lead in memory. The index answers it
with one indexed range query: ``leadflow_deadlines`` holds, for each lead that has one,
:func:`leadflow.domain.timers.next_deadline` (the domain says what is due; this module
only stores it), and ``leadflow_deadline_index`` the log position and pipeline version it
is complete for.

The index follows the log like a projection: :meth:`DeadlineIndex.refresh` reads only the
ids of the leads with events since its position (nothing is decoded), reloads those leads
and rewrites their rows, and moves its position in the same transaction, by
compare-and-set (two sweepers never overwrite each other's newer rows; the loser re-reads).
A deadline depends only on the lead's state and the pipeline, both changed only by events,
so after a refresh every row is exact. A new pipeline version changes every deadline: the
index is then rebuilt, lead by lead in batches (bounded memory), from the leads' events
read by their keys.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable
from uuid import UUID, uuid4

from eventsourcing.persistence import Notification

from leadflow.domain.events import LeadCaptured
from leadflow.domain.lead import Lead
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.timers import next_deadline
from leadflow.errors import ConcurrencyConflict
from leadflow.service.codec import LEAD_TOPICS, EventMapper
from leadflow.service.store import fold_leads

__all__ = ["DeadlineIndex", "DeadlineTable", "micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CAPTURED_TOPIC = LeadCaptured.topic()
BATCH = 1000
"""Leads reloaded per transaction."""

KNOWN_MAX = 50_000
"""Leads saved by this process remembered for the next refresh, at most."""

Progress = Callable[[str, int, int], None]


def micros(at: datetime) -> int:
    """An instant as the table stores it: microseconds since 1970 UTC (sorts as time)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


@runtime_checkable
class DeadlineTable(Protocol):
    """What leadflow's recorders keep for the index (``leadflow.adapters``)."""

    def deadline_index_state(self) -> tuple[int, str]:
        """(log position, pipeline version) the index is complete for; (0, "") when new."""
        ...

    def save_deadlines(
        self,
        rows: Sequence[tuple[UUID, int | None]],
        *,
        expected: tuple[int, str],
        state: tuple[int, str],
        reset: bool = False,
    ) -> bool:
        """In one transaction, if the index is at ``expected``: move it to ``state``, clear
        it first when ``reset``, write each lead's deadline (``None`` deletes the row).
        False, with nothing written, when another writer moved it."""
        ...

    def select_due_leads(self, until: int) -> list[UUID]:
        """Leads whose deadline is at or before ``until`` (:func:`micros`), earliest first."""
        ...

    def select_originators_since(
        self, after: int, stop: int, topics: Sequence[str], limit: int
    ) -> tuple[dict[UUID, int], int]:
        """Aggregates with events of these topics after ``after`` (to ``stop``, at most
        ``limit`` events) with their latest version there, and the last position read."""
        ...

    def select_notifications_of(self, ids: Sequence[UUID]) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...


class DeadlineIndex:
    """Keeps the table of :class:`DeadlineTable` up to date with the log."""

    def __init__(self, table: DeadlineTable, mapper: EventMapper) -> None:
        self.table = table
        self.mapper = mapper
        # Weak: a lead is remembered only while something else (the aggregate cache, a
        # sweep) holds it, so an import's new leads do not pile up here.
        self._known: weakref.WeakValueDictionary[UUID, Lead] = weakref.WeakValueDictionary()

    def saw(self, lead: Lead) -> None:
        """A lead this process just saved: the next refresh need not reload it from the
        log if no other writer has changed it since (its version tells)."""
        if len(self._known) >= KNOWN_MAX:
            self._known.clear()  # bounded: the leads it forgets are reloaded from the log
        self._known[lead.id] = lead

    def refresh(self, pipeline: Pipeline, progress: Progress | None = None) -> int:
        """Bring the index up to the log's end; returns the number of leads reloaded."""
        for _ in range(10):
            state = self.table.deadline_index_state()
            try:
                if state[1] != pipeline.version:
                    return self._rebuild(pipeline, state, progress)
                return self._catch_up(pipeline, state)
            except _Moved:
                continue  # another sweeper moved the index: start from where it is now
        raise ConcurrencyConflict(
            "deadline index", "it keeps moving under this sweep: other sweeps are running"
        )

    def due(self, now: datetime) -> list[UUID]:
        return self.table.select_due_leads(micros(now))

    def _catch_up(self, pipeline: Pipeline, state: tuple[int, str]) -> int:
        head = self.table.max_notification_id() or 0
        reloaded = 0
        try:
            while state[0] < head:
                seen, last = self.table.select_originators_since(
                    state[0], head, LEAD_TOPICS, 10_000
                )
                ids = list(seen)
                for i in range(0, max(len(ids), 1), BATCH):
                    chunk = {lead_id: seen[lead_id] for lead_id in ids[i : i + BATCH]}
                    moved = (last if i + BATCH >= len(ids) else state[0], pipeline.version)
                    self._save(self._deadlines(chunk, pipeline), state, moved)
                    state = moved
                reloaded += len(ids)
        finally:
            self._known.clear()
        return reloaded

    def _rebuild(
        self, pipeline: Pipeline, state: tuple[int, str], progress: Progress | None
    ) -> int:
        """Every lead again, in batches; complete (and used) only once the last is saved."""
        head = self.table.max_notification_id() or 0
        building = (0, f"building:{pipeline.version}:{uuid4().hex}")
        self._save([], state, building, reset=True)
        state, reloaded, position = building, 0, 0
        while position < head:
            captured, position = self.table.select_originators_since(
                position, head, [_CAPTURED_TOPIC], BATCH
            )
            self._save(self._deadlines(dict.fromkeys(captured, 0), pipeline), state, state)
            reloaded += len(captured)
            if progress is not None:
                progress("indexing deadlines", position, head)
        # Events recorded during the rebuild are caught up from where it started.
        self._save([], state, (head, pipeline.version))
        return reloaded + self._catch_up(pipeline, (head, pipeline.version))

    def _save(
        self,
        rows: list[tuple[UUID, int | None]],
        expected: tuple[int, str],
        state: tuple[int, str],
        *,
        reset: bool = False,
    ) -> None:
        if not self.table.save_deadlines(rows, expected=expected, state=state, reset=reset):
            raise _Moved

    def _deadlines(
        self, versions: dict[UUID, int], pipeline: Pipeline
    ) -> list[tuple[UUID, int | None]]:
        """Each lead's deadline: from the lead this process saved when the log holds no
        newer version of it, else from its events read by key (only lead events count).
        ``versions``: each lead's latest version seen in the log (0: unknown)."""
        leads: dict[UUID, Lead | None] = {}
        unknown = []
        for lead_id, version in versions.items():
            known = self._known.get(lead_id)
            if known is not None and version and known.version == version:
                leads[lead_id] = known
            else:
                unknown.append(lead_id)
        if unknown:
            leads.update(fold_leads(self.table.select_notifications_of(unknown), self.mapper))
        rows: list[tuple[UUID, int | None]] = []
        for lead_id in versions:
            lead = leads.get(lead_id)
            deadline = next_deadline(lead, pipeline) if lead is not None else None
            rows.append((lead_id, micros(deadline) if deadline is not None else None))
        return rows


class _Moved(Exception):
    """Another writer moved the index since this one read its state."""
