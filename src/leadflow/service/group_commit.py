"""Group commit for a server: many threads' commands saved in one transaction each time.

A server runs each request on a thread. Deciding a command (load, validate, run the
pipeline's rules) is quick; saving it is a transaction, a commit and, on PostgreSQL, a
round trip each. :class:`GroupCommitter` lets the threads decide one at a time, as
before (the store's in-memory state is not thread-safe), queue what each decided, and
return at once to let the next decide; one committer thread saves everything queued in
one transaction (:meth:`LeadStore.insert_each`: each command atomic and
conflict-checked on its own, under its own savepoint) while the next commands are being
decided, and wakes each thread with its own outcome.

A command refused for a stale read is decided again on a fresh read, as many times as
its handler allows (``attempts``), like :meth:`Leadflow.run`. A command decided on the
state of a refused one (both changed the roster) is refused with it, whether it was in
the same batch (:func:`leadflow.service.store.insert_groups`) or queued for the next
one (here): its versions continue the refused ones, so writing it would leave a gap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import structlog

from leadflow.domain.commands import Command
from leadflow.domain.pipeline import Pipeline
from leadflow.errors import ConcurrencyConflict
from leadflow.service import handlers
from leadflow.service.application import Leadflow
from leadflow.service.store import Pending
from leadflow.service.unit_of_work import CommandResult, UnitOfWork

__all__ = ["Decision", "GroupCommitter"]

log = structlog.get_logger("leadflow")

Decision = tuple[Command, datetime | None, Pipeline | None]
"""A validated command, its business time (``None``: now) and the pipeline it was
validated under."""

MAX_BATCH = 500
"""Commands saved in one transaction, at most."""


@dataclass(eq=False)
class _Ticket:
    uow: UnitOfWork
    pending: Pending
    ids: set[UUID] = field(init=False)
    done: threading.Event = field(default_factory=threading.Event)
    outcome: CommandResult | BaseException | None = None

    def __post_init__(self) -> None:
        self.ids = self.pending.ids

    def settle(self, outcome: CommandResult | BaseException) -> None:
        self.outcome = outcome
        self.done.set()


class GroupCommitter:
    """Commands of many threads on one store, saved together; see the module docstring."""

    def __init__(self, store: Leadflow, lock: threading.RLock, *, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        """Off: each command is saved on its own by the thread that decided it."""
        self._lock = lock
        """The lock every user of ``store`` in this process holds while using it."""
        self._ready = threading.Condition(lock)
        self._queue: list[_Ticket] = []
        self._closed = False
        self._thread: threading.Thread | None = None

    def run(self, decision: Callable[[Leadflow], Decision], actor: str) -> CommandResult:
        """Decide the command ``decision`` builds (validation errors are raised here,
        nothing queued), save it with whatever else is queued, return its result."""
        for attempt in range(1, handlers.CONTENDED + 1):
            with self._lock:
                command, at, pipeline = decision(self.store)
                attempts = handlers.handler_for(command).attempts
                if not self.enabled:
                    return self.store.run(command, actor=actor, at=at, pipeline=pipeline)
                uow = self.store.decide(command, self.store.context(actor, at), pipeline)
                ticket = _Ticket(uow, self.store.pending(uow.changed()))
                if not ticket.pending.stored:
                    return uow.finish([])  # nothing to save
                self._enqueue(ticket)
            ticket.done.wait()
            outcome = ticket.outcome
            if isinstance(outcome, ConcurrencyConflict) and attempt < attempts:
                log.info("conflict_retried", lead_id=str(outcome.lead_id), attempt=attempt)
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            assert outcome is not None
            return outcome
        raise AssertionError("unreachable")

    @property
    def queued(self) -> int:
        """Commands decided and waiting for the next batch."""
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Save what is queued, then stop the committer thread."""
        with self._lock:
            self._closed = True
            self._ready.notify()
        if self._thread is not None:
            self._thread.join()

    def _enqueue(self, ticket: _Ticket) -> None:
        if self._closed:
            raise RuntimeError("the store is closing")
        self._queue.append(ticket)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._commit_forever, name="leadflow-group-commit", daemon=True
            )
            self._thread.start()
        self._ready.notify()

    def _commit_forever(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._commit(batch)

    def _commit(self, batch: list[_Ticket]) -> None:
        pending = [ticket.pending for ticket in batch]
        try:
            ids = self.store.insert_each(pending)  # outside the lock: others decide meanwhile
        except Exception as exc:  # the database failed: every command of the batch with it
            with self._lock:
                self._refuse(batch, exc)
            return
        with self._lock:
            outcomes = self.store.settle(pending, ids)
            refused: set[UUID] = set()
            for ticket, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, ConcurrencyConflict):
                    refused |= ticket.ids
                    ticket.settle(outcome)
                    continue
                try:
                    ticket.settle(ticket.uow.finish(outcome))
                except Exception as exc:  # an after-commit action failed; the events are saved
                    ticket.settle(exc)
            if refused:
                self._refuse_built_on(refused)

    def _refuse_built_on(self, refused: set[UUID]) -> None:
        """Refuse the queued commands that changed an aggregate a refused one changed."""
        keep, built_on = [], []
        for ticket in self._queue:
            if ticket.ids & refused:
                refused |= ticket.ids
                built_on.append(ticket)
            else:
                keep.append(ticket)
        self._queue = keep
        self._refuse(built_on, None)

    def _refuse(self, tickets: list[_Ticket], error: Exception | None) -> None:
        """Nothing of these was saved: the store forgets their copies, each learns why."""
        outcomes = self.store.settle([t.pending for t in tickets], [None] * len(tickets))
        for ticket, conflict in zip(tickets, outcomes, strict=True):
            assert isinstance(conflict, ConcurrencyConflict)
            ticket.settle(error if error is not None else conflict)
        if error is not None:
            self._refuse_built_on(set().union(*(t.ids for t in tickets)))
