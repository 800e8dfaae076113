"""Dedupe: one small aggregate per normalised contact key says which lead holds it.

A contact key is ``email:ada@example.com``, ``phone:+8613800138000`` or
``wechat:ada_li``. Its aggregate id is a keyed HMAC of the key (the secret is kept in the
keystore, wrapped by the master key: ``leadflow.service.data_keys``), so finding the lead
that holds a key is a primary-key read, constant time however many leads there are, and
nobody without the master key can confirm an address by guessing. (:func:`key_id`, the
unkeyed ``uuid5``, is the id of stores without a keystore and of stores written before.)

Capture saves the new lead *and* a ``ContactKeyReserved`` event for each of its keys in
one atomic append. Two concurrent captures of the same person both try to write version 1
of the same key aggregate; the store accepts one and refuses the other (optimistic
concurrency), and the loser's retry finds the match. No read model can lag behind: the
index is written in the same transaction as the lead.

The key events store the key's kind and the lead, never the value. Erasing a lead
releases its keys (``ContactKeyReleased``): a later capture of the same address creates a
new lead, as for a person never seen (the erased person is gone). Import keys
(``import:<external id or row hash>``) use the same aggregate, so a re-imported row is
recognised in constant time too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from leadflow.domain.aggregate import Aggregate
from leadflow.domain.context import Context
from leadflow.domain.events import Payload, RecordedEvent, register_events

__all__ = [
    "ContactKey",
    "ContactKeyMoved",
    "ContactKeyReleased",
    "ContactKeyReserved",
    "contact_keys",
    "key_id",
]

_NAMESPACE = uuid5(NAMESPACE_URL, "https://leadflow.dev/contact-keys")


def key_id(kind: str, value: str) -> UUID:
    """The id of the aggregate for one normalised key (``kind`` is email, phone, wechat, import)."""
    return uuid5(_NAMESPACE, f"{kind}:{value}")


KeyIdOf = Callable[[str, str], UUID]
"""``(kind, normalised value)`` → the key's aggregate id (the store's keyed HMAC)."""


def contact_keys(
    values: Mapping[str, str | None], kinds: Sequence[str], id_of: KeyIdOf = key_id
) -> list[tuple[str, UUID]]:
    """``(kind, key id)`` of each present, already normalised value, in ``kinds`` order."""
    return [(kind, id_of(kind, value)) for kind in kinds if (value := values.get(kind))]


class KeyReservedData(Payload):
    kind: str
    """``email``, ``phone``, ``wechat`` or ``import`` (the value is never stored)."""
    lead_id: UUID
    """The lead that holds the key from now on."""
    reason: str
    """``capture``, ``touch`` (a matched touch brought a new key), ``import`` …"""


class KeyMovedData(Payload):
    kind: str
    """``email``, ``phone``, ``wechat`` or ``import``."""
    from_lead_id: UUID
    """The lead that held the key."""
    lead_id: UUID
    """The lead that holds it now."""
    reason: str
    """``merge``, ``unmerge``, ``released`` (the holder's personal data was erased) …"""


class KeyReleasedData(Payload):
    kind: str
    """``email``, ``phone``, ``wechat`` or ``import``."""
    from_lead_id: UUID
    """The lead that held the key until its personal data was erased."""


D = TypeVar("D", bound=Payload)


@dataclass(frozen=True, kw_only=True)
class KeyEvent(RecordedEvent[D]):
    FAMILY = "leadflow.contact"


@dataclass(frozen=True, kw_only=True)
class ContactKeyReserved(KeyEvent[KeyReservedData]):
    """A contact (or import) key now leads to a lead; the first writer wins."""

    TYPE = "ContactKeyReserved"
    DATA = KeyReservedData


@dataclass(frozen=True, kw_only=True)
class ContactKeyMoved(KeyEvent[KeyMovedData]):
    """A key moved to another lead (merge, unmerge, or its holder's data was erased)."""

    TYPE = "ContactKeyMoved"
    DATA = KeyMovedData


@dataclass(frozen=True, kw_only=True)
class ContactKeyReleased(KeyEvent[KeyReleasedData]):
    """The key's holder was erased: the key leads nowhere; a later capture reserves it anew."""

    TYPE = "ContactKeyReleased"
    DATA = KeyReleasedData


register_events(ContactKeyReserved, ContactKeyMoved, ContactKeyReleased)


@dataclass(eq=False)
class ContactKey(Aggregate[KeyEvent[Any]]):
    """Which lead holds one contact key, and every lead that held it before."""

    FAMILY: ClassVar[str] = "leadflow.contact"

    kind: str = ""
    lead_id: UUID | None = None
    history: list[UUID] = field(default_factory=list)
    """Every lead that held the key, in order (the current holder last)."""

    def _apply(self, event: KeyEvent[Any]) -> None:
        data: Any = event.data
        self.kind = data.kind
        if isinstance(event, ContactKeyReleased):
            self.lead_id = None
            return
        self.history.append(data.lead_id)
        self.lead_id = data.lead_id

    @classmethod
    def reserve(cls, key: UUID, kind: str, lead_id: UUID, reason: str, ctx: Context) -> ContactKey:
        aggregate = cls(id=key)
        aggregate._trigger(
            ContactKeyReserved, KeyReservedData(kind=kind, lead_id=lead_id, reason=reason), ctx
        )
        return aggregate

    @property
    def previous(self) -> UUID | None:
        """The lead that held the key before the current holder."""
        return self.history[-2] if len(self.history) > 1 else None

    def release(self, ctx: Context) -> None:
        """Its holder was erased: the key leads to no lead from now on."""
        if self.lead_id is None:
            return
        self._trigger(
            ContactKeyReleased, KeyReleasedData(kind=self.kind, from_lead_id=self.lead_id), ctx
        )

    def move(self, to_lead_id: UUID, reason: str, ctx: Context) -> None:
        if self.lead_id is None:  # released: reserved anew by the next lead that brings it
            self._trigger(
                ContactKeyReserved,
                KeyReservedData(kind=self.kind, lead_id=to_lead_id, reason=reason),
                ctx,
            )
            return
        if to_lead_id == self.lead_id:
            return
        self._trigger(
            ContactKeyMoved,
            KeyMovedData(
                kind=self.kind, from_lead_id=self.lead_id, lead_id=to_lead_id, reason=reason
            ),
            ctx,
        )
