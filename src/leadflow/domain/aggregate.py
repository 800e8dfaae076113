"""The one aggregate base: an id, a version, and the events not yet saved.

Every aggregate (a lead, the roster, a contact key, the pipeline log) changes state in
exactly one place, its ``_apply``. A live command records an event with
:meth:`Aggregate._trigger`, which applies it through the same :meth:`Aggregate.evolve`
that rebuilds the aggregate from the log, so a loaded aggregate and a live one cannot
disagree.

The event store finds the aggregate class of a stored event by the event's ``FAMILY``
(its topic prefix): :data:`FAMILIES` is filled as aggregate classes are defined, so
events never import the aggregates they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar
from uuid import UUID

from leadflow.errors import UndecodableEvent

if TYPE_CHECKING:
    from leadflow.domain.context import Context
    from leadflow.domain.events import Payload, RecordedEvent

__all__ = ["FAMILIES", "Aggregate", "UnreadableEvent"]

E = TypeVar("E", bound="RecordedEvent[Any]")
Ev = TypeVar("Ev", bound="RecordedEvent[Any]")

FAMILIES: dict[str, type[Aggregate[Any]]] = {}
"""Aggregate class by the topic family of its events (``leadflow.lead`` → Lead)."""


@dataclass(eq=False)
class Aggregate(Generic[E]):
    """Base of every aggregate. Subclasses set :attr:`FAMILY` and implement ``_apply``;
    ``E`` is the aggregate's event base class."""

    FAMILY: ClassVar[str] = ""
    """Topic prefix of this aggregate's events, e.g. ``leadflow.lead``."""

    id: UUID
    version: int = 0
    """The version of the latest event applied (0: none yet)."""
    _pending: list[E] = field(default_factory=list, repr=False, compare=False)
    unreadable: list[UnreadableEvent] = field(default_factory=list, repr=False, compare=False)
    """Stored events this release cannot read, passed over (see :class:`UnreadableEvent`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.FAMILY:
            FAMILIES[cls.FAMILY] = cls

    # -- state -------------------------------------------------------------------------

    def _apply(self, event: E) -> None:
        """Change state by one event: the only place state changes."""
        raise NotImplementedError

    @classmethod
    def _start(cls, event: E) -> Self:
        """The empty aggregate that ``event``, its first, is applied to."""
        return cls(id=event.originator_id)

    @classmethod
    def evolve(cls, aggregate: Self | None, event: E) -> Self:
        """Apply ``event`` (to a new aggregate when ``aggregate`` is ``None``)."""
        if aggregate is None:
            aggregate = cls._start(event)
        if event.originator_id != aggregate.id:
            raise ValueError(f"event for {event.originator_id} applied to {aggregate.id}")
        if event.originator_version != aggregate.version + 1:
            raise ValueError(
                f"{cls.__name__} event version {event.originator_version} does not follow "
                f"{aggregate.version}"
            )
        aggregate._apply(event)
        aggregate.version = event.originator_version
        return aggregate

    def pass_over(self, event: UnreadableEvent) -> None:
        """Keep an unreadable event's place (the version) without applying it."""
        if event.originator_version != self.version + 1:
            raise ValueError(
                f"{type(self).__name__} event version {event.originator_version} does not "
                f"follow {self.version}"
            )
        self.unreadable.append(event)
        self.version = event.originator_version

    # -- recording -----------------------------------------------------------------------

    def _check_time(self, ctx: Context) -> None:
        """Refuse a command whose time the aggregate cannot accept (none by default)."""

    def _trigger(self, event_class: type[Ev], data: Payload, ctx: Context) -> Ev:
        """Record a new event: build it at the next version, apply it, keep it pending."""
        self._check_time(ctx)
        event = event_class(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=ctx.recorded_at,
            occurred_at=ctx.occurred_at,
            actor=ctx.actor,
            data=data,
        )
        type(self).evolve(self, event)  # type: ignore[arg-type]
        self._pending.append(event)  # type: ignore[arg-type]
        return event

    @property
    def pending_events(self) -> tuple[E, ...]:
        """Events recorded since the aggregate was loaded, not saved yet."""
        return tuple(self._pending)

    def collect_events(self) -> list[E]:
        """Hand the pending events over for saving (eventsourcing's aggregate protocol)."""
        events, self._pending = self._pending, []
        return events


@dataclass(frozen=True)
class UnreadableEvent:
    """A stored event this release cannot read (recorded by an older one before a bound
    was enforced, e.g. a NaN score stored as ``null``, or a payload that no longer
    decodes). Loading passes over it: the aggregate keeps the event's place (its version)
    and names it in :attr:`Aggregate.unreadable`, but its state does not change, so that
    the aggregate can still be shown and its personal data erased."""

    originator_id: UUID
    originator_version: int
    type: str
    """The stored event's type (the last part of its topic)."""
    error: str

    def mutate(self, aggregate: Aggregate[Any] | None) -> Aggregate[Any]:
        if aggregate is None:  # nothing to keep: the aggregate's first event
            raise UndecodableEvent(0, self.originator_id, self.type, self.error)
        aggregate.pass_over(self)
        return aggregate

    def describe(self) -> str:
        return f"event {self.originator_version} ({self.type}) cannot be read: {self.error}"
