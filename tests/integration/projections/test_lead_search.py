"""``leadflow leads``' search over ``lf_leads``: stable pages, each read off an index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from leadflow.projections import ProjectionRunner
from leadflow.projections.lead_search import SORTS, LeadFilter, search
from leadflow.projections.leads import LEADS

START = datetime(2026, 1, 1, tzinfo=UTC)


def _leads(conn: sa.Connection, n: int) -> list[dict[str, Any]]:
    """``n`` leads whose sort keys tie a lot (few scores, shared times, nulls)."""
    rng = random.Random(15)
    rows = []
    for i in range(n):
        at = START + timedelta(hours=rng.randrange(8))
        touched = START + timedelta(days=rng.randrange(3)) if rng.random() < 0.6 else None
        rows.append(
            {
                "lead_id": f"{rng.getrandbits(128):032x}",
                "captured_at": at,
                "captured_recorded_at": at,
                "cohort_month": "2026-01",
                "source": rng.choice(["web", "event"]),
                "stage": rng.choice(["lead", "mql"]),
                "status": "open",
                "owner": rng.choice([None, "rep:li"]),
                "score": float(rng.choice([0, 10, 20])),
                "merged_into": "x" if rng.random() < 0.1 else None,
                "erased": False,
                "in_pool": False,
                "last_touch_at": touched,
                "last_event_at": at,
                "last_position": i + 1,
            }
        )
    conn.execute(LEADS.insert(), rows)
    return rows


def _expected(rows: list[dict[str, Any]], sort: str) -> list[str]:
    """``sort``'s order, stated plainly: nulls last, the key, then the lead id ascending."""
    column, descending = SORTS[sort]
    present = [r for r in rows if r[column] is not None and r["merged_into"] is None]
    absent = [r for r in rows if r[column] is None and r["merged_into"] is None]
    present.sort(key=lambda r: r["lead_id"])
    present.sort(key=lambda r: r[column], reverse=descending)  # stable: ids stay ascending
    absent.sort(key=lambda r: r["lead_id"])
    return [r["lead_id"] for r in present + absent]


@pytest.mark.parametrize("sort", list(SORTS))
def test_pages_of_a_sorted_search_with_ties_hold_every_lead_once(
    runner: ProjectionRunner, sort: str
) -> None:
    with runner.engine.begin() as conn:
        rows = _leads(conn, 120)
        expected = _expected(rows, sort)
        pages: list[str] = []
        for offset in range(0, len(expected) + 7, 7):
            count, page = search(conn, LeadFilter(), sort=sort, limit=7, offset=offset)
            assert count == len(expected)
            pages += page

    assert pages == expected
    assert len(set(pages)) == len(pages)


def _plan(conn: sa.Connection, statement: str, parameters: Any) -> str:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        return "\n".join(str(row[-1]) for row in rows)
    # On a few rows PostgreSQL would rather sort: ask for the plan it has without sorting.
    conn.exec_driver_sql("SET LOCAL enable_sort = off")
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize("sort", list(SORTS))
def test_each_sort_reads_its_page_in_index_order(runner: ProjectionRunner, sort: str) -> None:
    """No sort of the matches: a page costs its offset and limit, not the store's size."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    with runner.engine.begin() as conn:
        _leads(conn, 30)
        sa.event.listen(conn, "before_cursor_execute", record)
        search(conn, LeadFilter(source="web"), sort=sort, limit=10, offset=0)
        sa.event.remove(conn, "before_cursor_execute", record)
        statement, parameters = next(s for s in sent if "ORDER BY" in s[0])
        plan = _plan(conn, statement, parameters)

    assert "TEMP B-TREE" not in plan, plan
    assert "Sort" not in plan, plan


def test_a_page_past_the_matches_is_not_read(runner: ProjectionRunner) -> None:
    """The count says it is empty: reading it in index order would walk the whole index."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    with runner.engine.begin() as conn:
        _leads(conn, 30)
        sa.event.listen(conn, "before_cursor_execute", record)
        assert search(conn, LeadFilter(source="nowhere"), limit=10, offset=0) == (0, [])
        count, page = search(conn, LeadFilter(source="web"), limit=10, offset=100)
        sa.event.remove(conn, "before_cursor_execute", record)

    assert count > 0
    assert page == []
    assert not [statement for statement in sent if "ORDER BY" in statement]
