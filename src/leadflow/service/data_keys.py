"""Per-lead data keys: personal fields sealed under the lead's own key (crypto-shredding).

Each lead gets a random 256-bit data key the first time one of its events holds personal
data. Personal values are sealed with AES-GCM under that key, bound (as associated data)
to the lead, the event's sequence number and its topic, so a sealed blob cannot be moved
to another event. Data keys are kept *wrapped* (AES-GCM under the master key) in a
keystore apart from the log; the master key itself is never stored by leadflow, only a
key id that tells a wrong key from the right one.

Erasing a lead destroys its data key: every copy of its events, however many, turns into
ciphertext nobody can open. The keystore keeps a tombstone (the lead id, no key), so a
reader can tell "erased" from "this keystore never had the key" (a keystore that does not
belong to the log, e.g. restored from an older backup): the first reads as
:data:`~leadflow.domain.personal_data.ERASED`, the second is an error, never garbage.

Contact-key ids are a keyed HMAC of the normalised value (:meth:`DataKeys.contact_key_id`)
under a random index secret that is wrapped like a data key, so rotating the master key
keeps every contact key where it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID, uuid4

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from leadflow.errors import KeyUnavailable

__all__ = [
    "DESTROYED",
    "DataKeys",
    "Keystore",
    "MasterKey",
    "generate_master_key",
]

DESTROYED = b""
"""What :meth:`Keystore.get` returns for a lead whose data key was destroyed."""

_WRAP_AAD = b"leadflow/data-key/"
_INDEX_AAD = b"leadflow/contact-index-secret"
_FORMAT = b"\x01"
_CACHE_CHECK_SECONDS = 0.5
_CACHE_MAX = 4096
"""Unwrapped keys kept at most (a scan reads a lead's events together)."""
MADE_AHEAD = 64
"""Data keys made for new leads in one keystore write (:meth:`DataKeys.new_lead_id`)."""


def generate_master_key() -> bytes:
    """32 random bytes from the operating system."""
    return os.urandom(32)


@dataclass(frozen=True)
class MasterKey:
    """The key that wraps every data key; never stored in the database."""

    secret: bytes
    source: str
    """Where it came from (``$LEADFLOW_MASTER_KEY``, a file path), for error messages."""

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise KeyUnavailable(
                f"the master key from {self.source} is {len(self.secret)} bytes; it must be 32"
            )

    @property
    def key_id(self) -> str:
        """A fingerprint that names the key without revealing it (kept in the keystore)."""
        return hmac.new(self.secret, b"leadflow/key-id", hashlib.sha256).hexdigest()[:16]

    def encode(self) -> str:
        """The text form of a key file and of ``$LEADFLOW_MASTER_KEY`` (base64url)."""
        return base64.urlsafe_b64encode(self.secret).decode()

    @classmethod
    def decode(cls, text: str, source: str) -> MasterKey:
        try:
            secret = base64.urlsafe_b64decode(text.strip().encode())
        except (ValueError, TypeError):
            raise KeyUnavailable(f"the master key from {source} is not base64") from None
        return cls(secret, source)

    def wrap(self, key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return _FORMAT + nonce + AESGCM(self.secret).encrypt(nonce, key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        try:
            return AESGCM(self.secret).decrypt(wrapped[1:13], wrapped[13:], aad)
        except InvalidTag:
            raise KeyUnavailable(
                f"the master key from {self.source} does not open this keystore's keys"
            ) from None


class Keystore(Protocol):
    """Where wrapped data keys live, apart from the log (``leadflow.adapters.keystore``)."""

    location: str
    """Where it is, for messages (a file path, a database schema)."""

    def exists(self) -> bool:
        """Whether it was ever initialised (holds a master key id)."""
        ...

    def meta(self) -> dict[str, bytes]:
        """``key_id`` (the master key's id), ``index`` (the wrapped index secret)."""
        ...

    def initialise(self, key_id: str, wrapped_index: bytes) -> None:
        """Record the master key id and the wrapped index secret, unless already there."""
        ...

    def get(self, lead_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """Wrapped keys by lead; :data:`DESTROYED` for an erased lead; absent: no key."""
        ...

    def add_many(self, wrapped: Mapping[UUID, bytes]) -> dict[UUID, bytes]:
        """Store each new wrapped key unless its lead has one (or a tombstone), all in one
        transaction; returns each lead's stored key (another writer's, if it came first)."""
        ...

    def add_new(self, keys: Sequence[tuple[UUID, bytes]]) -> None:
        """Store wrapped keys of leads that do not exist yet (fresh random ids), in one
        transaction, durably before it returns."""
        ...

    def destroy(self, lead_id: UUID) -> bool:
        """Replace the lead's key with a tombstone, overwriting it on disk; False if the
        lead had none."""
        ...

    def generation(self) -> int:
        """A number that grows with every destroyed key (readers drop cached keys)."""
        ...

    def close(self) -> None:
        """Release its connections."""
        ...

    def rewrap(self, rewrap: Callable[[UUID, bytes], bytes], key_id: str, index: bytes) -> int:
        """Replace every wrapped key by ``rewrap(lead, wrapped)`` and the key id and index
        secret, in one transaction; returns how many keys were re-wrapped."""
        ...


class DataKeys:
    """Seals and opens personal values; creates, caches and destroys data keys.

    The master key is asked for (``master``) only when a key must be unwrapped or made:
    reading the log with personal fields redacted needs no key at all.
    """

    def __init__(self, keystore: Callable[[], Keystore], master: Callable[[], MasterKey]) -> None:
        self._open_keystore = keystore
        self._keystore: Keystore | None = None
        self._master_source = master
        self._master: MasterKey | None = None
        self._index_secret: bytes | None = None
        self._cache: dict[UUID, AESGCM | None] = {}
        self._absent: set[UUID] = set()
        """Leads the keystore had no key for at the last look (events stored plain)."""
        self._generation = -1
        self._checked_at = 0.0
        self._ahead: list[tuple[UUID, AESGCM]] = []
        """New lead ids whose keys are stored already, not yet handed out."""
        self.cache_max = _CACHE_MAX
        """How many keys are held unwrapped at most (memory stays flat); a bulk writer
        that keeps many leads open at once (``bench/synth.py``) may raise it."""

    @property
    def keystore(self) -> Keystore:
        """The keystore, opened on first use (a command that needs no key never opens it)."""
        if self._keystore is None:
            self._keystore = self._open_keystore()
        return self._keystore

    def close(self) -> None:
        """Close the keystore, if it was opened (the store's ``close`` does)."""
        if self._keystore is not None:
            self._keystore.close()
            self._keystore = None

    # -- the master key --------------------------------------------------------------

    def master(self) -> MasterKey:
        if self._master is None:
            master = self._master_source()
            meta = self.keystore.meta()
            if "key_id" not in meta:
                self.keystore.initialise(
                    master.key_id, master.wrap(generate_master_key(), _INDEX_AAD)
                )
                meta = self.keystore.meta()
            expected = meta["key_id"].decode()
            if expected != master.key_id:
                raise KeyUnavailable(
                    f"the master key from {master.source} (id {master.key_id}) is not the key "
                    f"of the keystore at {self.keystore.location} (id {expected}); a rotation "
                    "that was interrupted leaves the new key beside the old one (.new)"
                )
            self._index_secret = master.unwrap(meta["index"], _INDEX_AAD)
            self._master = master
        return self._master

    def contact_key_id(self, kind: str, value: str) -> UUID:
        """The id of a contact (or import) key: HMAC-SHA256 of ``kind:value``."""
        self.master()
        assert self._index_secret is not None
        digest = hmac.digest(self._index_secret, f"{kind}:{value}".encode(), "sha256")
        return UUID(bytes=digest[:16], version=4)

    # -- data keys -------------------------------------------------------------------

    def _fresh(self) -> None:
        """Drop cached keys when any key was destroyed since (checked twice a second):
        a key erased by another process stops opening data here within that time."""
        now = time.monotonic()
        if now - self._checked_at < _CACHE_CHECK_SECONDS:
            return
        self._checked_at = now
        generation = self.keystore.generation()
        if generation != self._generation:
            self._cache.clear()
            self._absent.clear()
            self._generation = generation

    def prefetch(self, lead_ids: Iterable[UUID]) -> None:
        """Unwrap the keys of these leads with one keystore read (a batch of the log)."""
        self._fresh()
        wanted = [i for i in dict.fromkeys(lead_ids) if i not in self._cache]
        if wanted:
            # Bounded here too: a cache filled past its bound by this batch would be
            # cleared at the batch's first key, and each key read again on its own.
            self._bound(len(wanted))
            self._load(wanted)

    def _bound(self, adding: int) -> None:
        """Memory stays flat: the cache is emptied before it would grow past its bound."""
        if len(self._cache) + len(self._absent) + adding > self.cache_max:
            self._cache.clear()
            self._absent.clear()

    def _load(self, lead_ids: Sequence[UUID]) -> None:
        found = self.keystore.get(lead_ids)
        master = self.master() if any(found.values()) else None
        for lead_id, wrapped in found.items():
            if wrapped == DESTROYED:
                self._cache[lead_id] = None
            else:
                assert master is not None
                self._cache[lead_id] = AESGCM(master.unwrap(wrapped, _WRAP_AAD + lead_id.bytes))

    def ensure(self, lead_ids: Iterable[UUID]) -> None:
        """Each of these leads has its data key, cached: one keystore read for those not
        cached, one write for those that have none (an import's batch of new leads)."""
        self._fresh()
        wanted = [i for i in dict.fromkeys(lead_ids) if i not in self._cache]
        if not wanted:
            return
        self._bound(len(wanted))
        self._load(wanted)
        self._make([i for i in wanted if i not in self._cache])

    def _make(self, lead_ids: Sequence[UUID]) -> None:
        """New keys for these leads (none in the keystore at the last look), in one write."""
        if not lead_ids:
            return
        master = self.master()
        made = {i: os.urandom(32) for i in lead_ids}
        wrapped = {i: master.wrap(key, _WRAP_AAD + i.bytes) for i, key in made.items()}
        for lead_id, stored in self.keystore.add_many(wrapped).items():
            self._absent.discard(lead_id)
            if stored == DESTROYED:
                self._cache[lead_id] = None
            elif stored == wrapped[lead_id]:
                self._cache[lead_id] = AESGCM(made[lead_id])
            else:  # another writer made the lead's key first
                self._cache[lead_id] = AESGCM(master.unwrap(stored, _WRAP_AAD + lead_id.bytes))

    def new_lead_id(self) -> UUID:
        """The id for a new lead, its data key stored already.

        A capture would otherwise look the new lead's key up (a miss) and store it, one
        keystore transaction each, for every lead; keys are made ahead instead, for
        :data:`MADE_AHEAD` fresh ids at a time in one durable write. An id never used
        (the process ended, the capture failed) leaves a key that seals nothing.
        """
        if not self._ahead:
            master = self.master()
            made = [(uuid4(), os.urandom(32)) for _ in range(MADE_AHEAD)]
            self.keystore.add_new([(i, master.wrap(key, _WRAP_AAD + i.bytes)) for i, key in made])
            self._ahead = [(i, AESGCM(key)) for i, key in made]
        lead_id, key = self._ahead.pop()
        self._fresh()
        self._bound(1)
        self._cache[lead_id] = key
        return lead_id

    def _key(self, lead_id: UUID, *, create: bool) -> AESGCM | None:
        """The lead's key; ``None`` once destroyed. :class:`KeyUnavailable` when the
        keystore has none and ``create`` is off."""
        self._fresh()
        self._bound(0)
        if lead_id not in self._cache:
            self._load([lead_id])
        if lead_id not in self._cache:
            if not create:
                raise KeyUnavailable(
                    f"the keystore at {self.keystore.location} holds no data key for lead "
                    f"{lead_id}: it is not the keystore of this log (restored from another "
                    "backup?)"
                )
            self._make([lead_id])
        return self._cache[lead_id]

    def seal(self, lead_id: UUID, aad: bytes, values: Mapping[str, Any]) -> str:
        """``values`` (JSON) sealed under the lead's key (made on first use)."""
        key = self._key(lead_id, create=True)
        if key is None:
            raise KeyUnavailable(
                f"lead {lead_id}'s personal data was erased; no new personal data is kept"
            )
        nonce = os.urandom(12)
        sealed = nonce + key.encrypt(nonce, orjson.dumps(values), aad)
        return base64.b64encode(sealed).decode()

    def open(self, lead_id: UUID, aad: bytes, token: str) -> dict[str, Any] | None:
        """The sealed values, or ``None`` when the lead's key was destroyed."""
        key = self._key(lead_id, create=False)
        if key is None:
            return None
        sealed = base64.b64decode(token)
        try:
            values: dict[str, Any] = orjson.loads(key.decrypt(sealed[:12], sealed[12:], aad))
        except InvalidTag:
            raise KeyUnavailable(
                f"lead {lead_id}'s personal data does not open with its data key (the event "
                "or the keystore was altered)"
            ) from None
        return values

    def destroyed(self, lead_id: UUID) -> bool:
        """Whether the lead was erased (its key destroyed); cached like the keys."""
        self._fresh()
        if lead_id not in self._cache and lead_id not in self._absent:
            self._load([lead_id])
            if lead_id not in self._cache:
                self._absent.add(lead_id)
        return lead_id in self._cache and self._cache[lead_id] is None

    def destroy(self, lead_id: UUID) -> bool:
        """Crypto-shred the lead: its key is gone from the keystore and from this cache."""
        destroyed = self.keystore.destroy(lead_id)
        self._cache[lead_id] = None
        self._absent.discard(lead_id)
        return destroyed

    def rotate(self, new: MasterKey) -> int:
        """Re-wrap every data key and the index secret under ``new``; events are untouched."""
        old = self.master()
        assert self._index_secret is not None

        def rewrap(lead_id: UUID, wrapped: bytes) -> bytes:
            aad = _WRAP_AAD + lead_id.bytes
            return new.wrap(old.unwrap(wrapped, aad), aad)

        count = self.keystore.rewrap(rewrap, new.key_id, new.wrap(self._index_secret, _INDEX_AAD))
        self._master = new
        self._cache.clear()
        return count
