"""Which lead a contact detail names: the dedupe index, read with dedupe's normalisation.

A contact given in any spelling (``ANN@Example.com``, ``138 0013 8000``) is normalised
exactly as a capture's, and its key looked up: the lead holding it (the one a capture
with it would touch). Contact kinds the pipeline does not dedupe on have no key; they
are found by reading the leads' contact events (slow): every lead it was ever given for.
"""

from __future__ import annotations

from uuid import UUID

from leadflow.domain.contact import normalise_email, normalise_phone, normalise_wechat
from leadflow.domain.pipeline import Pipeline
from leadflow.service.store import LeadStore

__all__ = ["CONTACT_KINDS", "leads_with_contact", "normalise_contact"]

CONTACT_KINDS = ("email", "phone", "wechat")
_CONTACT_EVENTS = ["LeadCaptured", "ProfileUpdated", "TouchRecorded"]


def normalise_contact(kind: str, value: str, pipeline: Pipeline) -> str:
    """``value`` as dedupe stores it; :class:`InvalidInput` naming ``kind`` if invalid."""
    if kind == "email":
        return normalise_email(value)
    if kind == "phone":
        return normalise_phone(value, pipeline.capture.default_region)
    return normalise_wechat(value)


def leads_with_contact(store: LeadStore, kind: str, value: str, pipeline: Pipeline) -> set[UUID]:
    """The leads ``value`` (of ``kind``: email, phone, wechat) names (see the module)."""
    normalised = normalise_contact(kind, value, pipeline)
    if kind in pipeline.dedupe.keys:
        key = store.key(store.contact_key_id(kind, normalised))
        return {key.lead_id} if key is not None and key.lead_id is not None else set()
    found: set[UUID] = set()
    for record in store.read_events(types=_CONTACT_EVENTS):
        data = record.data
        given = (data.get("changes") or {}).get(kind) if "changes" in data else data.get(kind)
        if given == normalised:
            found.add(record.lead_id)
    return found
