"""The console's lead list: ``lf_leads`` filtered by the URL, sorted, paged.

Every filter is a query parameter (so a view is a link to bookmark or share), checked
here with its bounds. A rep token's list holds only its own leads and the pool's (the
same rule as :meth:`leadflow.adapters.console.web.Viewer.sees_lead`, applied in SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadflow.errors import InvalidInput
from leadflow.projections.leads import LEADS

__all__ = ["FILTERS", "SORTS", "LeadList", "lead_list"]

FILTERS: tuple[str, ...] = ("stage", "status", "owner", "source", "campaign", "region", "cohort")
"""Equality filters, each a column of ``lf_leads`` (``cohort``: the capture month);
``owner=(pool)`` selects the public pool."""
_COLUMNS = {"cohort": "cohort_month"}
SORTS: tuple[str, ...] = ("captured_at", "last_event_at", "score", "stage", "owner", "source")
PAGE_SIZE = 50
POOL = "(pool)"


@dataclass(frozen=True)
class LeadList:
    total: int
    page: int
    pages: int
    rows: list[dict[str, Any]]


def _int(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value in (None, ""):
        return default
    assert value is not None
    if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
        raise InvalidInput(name, f"a whole number from {low} to {high}")
    return int(value)


def lead_list(conn: sa.Connection, params: dict[str, str], rep: str | None) -> LeadList:
    """The page the parameters ask for; ``rep``: only that rep's leads and the pool."""
    t = LEADS
    where: list[Any] = [t.c.merged_into.is_(None)] if params.get("merged") != "1" else []
    for name in FILTERS:
        value = params.get(name)
        if not value:
            continue
        if len(value) > 200:
            raise InvalidInput(name, "at most 200 characters")
        if name == "owner" and value == POOL:
            where.append(t.c.in_pool.is_(True))
        else:
            where.append(t.c[_COLUMNS.get(name, name)] == value)
    lead = params.get("lead")
    if lead:
        if len(lead) > 36 or not all(c in "0123456789abcdef-" for c in lead.lower()):
            raise InvalidInput("lead", "the start of a lead id (hex digits and -)")
        where.append(t.c.lead_id.like(lead.lower() + "%"))
    if params.get("min_score"):
        where.append(t.c.score >= _int(params.get("min_score"), "min_score", -(10**6), 10**6, 0))
    if rep is not None:
        where.append(sa.or_(t.c.owner == rep, t.c.in_pool.is_(True)))
    sort = params.get("sort") or "captured_at"
    if sort not in SORTS:
        raise InvalidInput("sort", f"{sort!r} is not one of: {', '.join(SORTS)}")
    order = params.get("order") or ("desc" if sort in ("score", "last_event_at") else "asc")
    if order not in ("asc", "desc"):
        raise InvalidInput("order", "asc or desc")
    column = t.c[sort]
    ordering = [column.desc() if order == "desc" else column.asc(), t.c.lead_id]
    page = _int(params.get("page"), "page", 1, 100_000, 1)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one())
    rows = conn.execute(
        sa.select(t)
        .where(*where)
        .order_by(*ordering)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    return LeadList(
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        rows=[dict(row._mapping) for row in rows],
    )
