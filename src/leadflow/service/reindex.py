"""A data migration: reserve the contact keys of leads recorded before dedupe existed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import structlog

from leadflow.domain.context import Context
from leadflow.domain.dedupe import ContactKey
from leadflow.service.store import LeadStore
from leadflow.service.unit_of_work import unit_of_work

__all__ = ["reindex_contact_keys"]

log = structlog.get_logger("leadflow")


def reindex_contact_keys(
    store: LeadStore,
    now: datetime,
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Reserve the contact keys of leads that have none.

    Two passes over the log: the first collects merges and erasures (small), the second
    reserves, in log order, each key not yet in the store for the lead that holds it now
    (a merged duplicate's keys go to its survivor; erased leads get none). The first lead
    seen with a key keeps it. Idempotent: a second run reserves nothing.
    """
    merged_into: dict[UUID, UUID] = {}
    erased: set[UUID] = set()
    for record in store.read_events(types=["LeadMerged", "LeadUnmerged", "PersonalDataErased"]):
        if record.type == "LeadMerged":
            merged_into[record.lead_id] = UUID(str(record.data["into_lead_id"]))
        elif record.type == "LeadUnmerged":
            merged_into.pop(record.lead_id, None)
        else:
            erased.add(record.lead_id)

    def holder(lead_id: UUID) -> UUID | None:
        seen: set[UUID] = set()
        while lead_id in merged_into and lead_id not in seen:
            seen.add(lead_id)
            lead_id = merged_into[lead_id]
        return None if lead_id in erased else lead_id

    kinds = store.pipeline.dedupe.keys
    counts = {"seen": 0, "reserved": 0}
    pending: dict[UUID, tuple[str, UUID]] = {}
    ctx = Context(actor="system:dedupe-reindex", occurred_at=now, recorded_at=now)

    def flush() -> None:
        if not pending:
            return
        existing = store.existing(list(pending))
        with unit_of_work(store, "reindex_contact_keys", ctx) as uow:
            for kid, (kind, lead_id) in pending.items():
                if kid not in existing:
                    uow.add_key(ContactKey.reserve(kid, kind, lead_id, "reindex", ctx))
                    counts["reserved"] += 1
            uow.commit()
        pending.clear()
        if progress is not None:
            progress(counts["seen"])

    for record in store.read_events(types=["LeadCaptured", "TouchRecorded", "ProfileUpdated"]):
        counts["seen"] += 1
        values = record.data.get("changes", record.data)
        target = holder(record.lead_id)
        if target is None:
            continue
        for kind in kinds:
            value = values.get(kind)
            if value:
                pending.setdefault(store.contact_key_id(kind, value), (kind, target))
        if len(pending) >= batch_size:
            flush()
    flush()
    log.info("contact_keys_reindexed", **counts)
    return counts
