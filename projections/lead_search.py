"""Finding leads in ``lf_leads``: by id prefix, and by the filters of ``leadflow leads``.

``lf_leads`` holds no personal data, so a search by contact (email, phone, WeChat) is
resolved to lead ids by the caller first (through the dedupe index, the one place a
contact names a lead) and handed in as ``lead_ids``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from leadflow.projections.leads import LEADS

__all__ = ["SORTS", "LeadFilter", "ids_starting_with", "search"]

SORTS: dict[str, tuple[str, bool]] = {
    "captured": ("captured_at", False),
    "-captured": ("captured_at", True),
    "score": ("score", False),
    "-score": ("score", True),
    "last-touch": ("last_touch_at", False),
    "-last-touch": ("last_touch_at", True),
}
"""``--sort`` keys: column and descending; ties are broken by lead id."""


def ids_starting_with(conn: sa.Connection, prefix: str, limit: int) -> list[str]:
    """Lead ids that start with ``prefix`` (lower-case), at most ``limit``, sorted."""
    # A range on the primary key (no LIKE: an id prefix holds no wildcards anyway).
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    rows = conn.execute(
        sa.select(LEADS.c.lead_id)
        .where(LEADS.c.lead_id >= prefix, LEADS.c.lead_id < upper)
        .order_by(LEADS.c.lead_id)
        .limit(limit)
    )
    return [str(lead_id) for (lead_id,) in rows]


@dataclass(frozen=True)
class LeadFilter:
    stage: str | None = None
    status: str | None = None
    owner: str | None = None
    """A rep, or ``"none"``: leads nobody owns."""
    source: str | None = None
    campaign: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    captured_from: date | None = None
    """Captured on or after this UTC day."""
    captured_to: date | None = None
    """Captured on or before this UTC day."""
    lead_ids: Collection[str] | None = None
    """Only these leads (a contact search's matches); ``None``: any."""
    merged: bool = False
    """Include merged duplicates (left out by default: they are not people)."""


def search(
    conn: sa.Connection, f: LeadFilter, *, sort: str = "captured", limit: int, offset: int
) -> tuple[int, list[str]]:
    """(how many leads match, the ids of page ``offset``/``limit`` in ``sort`` order)."""
    t = LEADS
    conditions: list[Any] = []
    for column, value in (
        ("stage", f.stage),
        ("status", f.status),
        ("source", f.source),
        ("campaign", f.campaign),
    ):
        if value is not None:
            conditions.append(t.c[column] == value)
    if f.owner is not None:
        conditions.append(t.c.owner.is_(None) if f.owner == "none" else t.c.owner == f.owner)
    if f.score_min is not None:
        conditions.append(t.c.score >= f.score_min)
    if f.score_max is not None:
        conditions.append(t.c.score <= f.score_max)
    if f.captured_from is not None:
        conditions.append(t.c.captured_at >= datetime.combine(f.captured_from, time.min, UTC))
    if f.captured_to is not None:
        end = datetime.combine(f.captured_to + timedelta(days=1), time.min, UTC)
        conditions.append(t.c.captured_at < end)
    if f.lead_ids is not None:
        conditions.append(t.c.lead_id.in_(list(f.lead_ids)))
    if not f.merged:
        conditions.append(t.c.merged_into.is_(None))
    where = sa.and_(sa.true(), *conditions)
    count = conn.execute(sa.select(sa.func.count()).select_from(t).where(where)).scalar_one()
    if offset >= count:
        # Nothing to read, and a page read in index order would walk the whole index to
        # find that out (the planner expects some of the matches early).
        return int(count), []
    column, descending = SORTS[sort]
    key = t.c[column].desc() if descending else t.c[column].asc()
    order: list[Any] = [key, t.c.lead_id]
    if t.c[column].nullable:
        # Nulls last, as an expression an index holds (``lf_leads_touch``): no sort.
        order.insert(0, t.c[column].is_(None))
    rows = conn.execute(
        sa.select(t.c.lead_id).where(where).order_by(*order).limit(limit).offset(offset)
    )
    return int(count), [str(lead_id) for (lead_id,) in rows]
