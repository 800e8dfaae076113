"""The console's lead list: the search of ``leadflow leads`` with its filters in the URL.

The parameters are checked here with their bounds and handed to
:func:`leadflow.projections.lead_search.search` (the same search as the CLI); the page's
rows are then read from ``lf_leads``. A rep token's list holds only its own leads and the
pool's (the rule of :meth:`leadflow.adapters.console.web.Viewer.sees_lead`, applied as
the set of lead ids the search may return).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from leadflow.errors import InvalidInput
from leadflow.projections.lead_search import SORTS, LeadFilter, ids_starting_with, search
from leadflow.projections.leads import LEADS

__all__ = ["FILTERS", "SORT_COLUMNS", "LeadList", "lead_list"]

FILTERS: tuple[str, ...] = ("stage", "status", "owner", "source", "campaign")
"""Equality filters (``owner=none``: leads nobody owns); also ``score_min``,
``score_max``, ``captured_from``, ``captured_to`` (days), ``lead`` (start of an id)."""
SORT_COLUMNS: dict[str, str] = {"captured_at": "captured", "score": "score"}
SORT_COLUMNS["last_touch_at"] = "last-touch"
"""The console's ``sort`` values → the search's sort keys (``order=desc`` adds ``-``)."""
PAGE_SIZE = 50
MAX_PREFIX_MATCHES = 10_000


@dataclass(frozen=True)
class LeadList:
    total: int
    page: int
    pages: int
    rows: list[dict[str, Any]]


def _number(params: dict[str, str], name: str) -> float | None:
    value = params.get(name)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(name, f"{value!r} is not a number") from None
    if not -1e9 <= number <= 1e9:
        raise InvalidInput(name, "between -1e9 and 1e9")
    return number


def _day(params: dict[str, str], name: str) -> date | None:
    value = params.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _page(params: dict[str, str]) -> int:
    value = params.get("page") or "1"
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise InvalidInput("page", "a whole number from 1 to 100000")
    return int(value)


def lead_list(conn: sa.Connection, params: dict[str, str], rep: str | None) -> LeadList:
    """The page the parameters ask for; ``rep``: only that rep's leads and the pool."""
    values: dict[str, Any] = {}
    for name in FILTERS:
        value = params.get(name)
        if value:
            if len(value) > 200:
                raise InvalidInput(name, "at most 200 characters")
            values[name] = value
    ids: set[str] | None = None
    prefix = (params.get("lead") or "").lower()
    if prefix:
        if len(prefix) > 36 or not all(c in "0123456789abcdef-" for c in prefix):
            raise InvalidInput("lead", "the start of a lead id (hex digits and -)")
        ids = set(ids_starting_with(conn, prefix, MAX_PREFIX_MATCHES))
    if rep is not None:
        t = LEADS
        visible = conn.execute(
            sa.select(t.c.lead_id).where(sa.or_(t.c.owner == rep, t.c.in_pool.is_(True)))
        )
        mine = {str(lead_id) for (lead_id,) in visible}
        ids = mine if ids is None else ids & mine
    sort = params.get("sort") or "captured_at"
    if sort not in SORT_COLUMNS:
        raise InvalidInput("sort", f"{sort!r} is not one of: {', '.join(SORT_COLUMNS)}")
    order = params.get("order") or ("desc" if sort != "captured_at" else "asc")
    if order not in ("asc", "desc"):
        raise InvalidInput("order", "asc or desc")
    key = ("-" if order == "desc" else "") + SORT_COLUMNS[sort]
    assert key in SORTS
    page = _page(params)
    found = LeadFilter(
        **values,
        score_min=_number(params, "score_min"),
        score_max=_number(params, "score_max"),
        captured_from=_day(params, "captured_from"),
        captured_to=_day(params, "captured_to"),
        lead_ids=ids,
        merged=params.get("merged") == "1",
    )
    total, page_ids = search(conn, found, sort=key, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows = {
        row.lead_id: dict(row._mapping)
        for row in conn.execute(sa.select(LEADS).where(LEADS.c.lead_id.in_(page_ids)))
    }
    return LeadList(
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        rows=[rows[lead_id] for lead_id in page_ids if lead_id in rows],
    )
