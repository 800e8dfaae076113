"""``leadflow pool``: the leads anyone may claim, read from ``lf_leads``, oldest capture first."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from support.cli import capture, leadflow


def pool(db_url: str, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(leadflow(db_url, "pool", "--json", *args))
    return result


def pool_ids(db_url: str) -> list[str]:
    return [lead["lead_id"] for lead in pool(db_url)["leads"]]


def test_a_disqualified_lead_is_not_in_the_pool(db_url: str) -> None:
    kept = capture(db_url, "--email", "kept@example.com")
    dropped = capture(db_url, "--email", "dropped@example.com")

    leadflow(db_url, "disqualify", dropped, "--reason", "student")

    listed = pool(db_url)
    assert [lead["lead_id"] for lead in listed["leads"]] == [kept]
    assert (listed["count"], listed["shown"]) == (1, 1)


def test_the_pool_is_oldest_capture_first_whatever_order_the_captures_were_recorded_in(
    db_url: str,
) -> None:
    march = capture(db_url, "--email", "march@example.com", "--at", "2026-03-01T09:00:00+00:00")
    january = capture(db_url, "--email", "jan@example.com", "--at", "2026-01-01T09:00:00+08:00")
    february = capture(db_url, "--email", "feb@example.com", "--at", "2026-02-01T09:00:00Z")

    listed = pool(db_url)["leads"]

    assert [lead["lead_id"] for lead in listed] == [january, february, march]
    assert [lead["captured_at"] for lead in listed] == [
        "2026-01-01T01:00:00+00:00",
        "2026-02-01T09:00:00+00:00",
        "2026-03-01T09:00:00+00:00",
    ]


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wide enough that rich truncates no cell."""
    monkeypatch.setenv("COLUMNS", "200")


def test_a_truncated_pool_says_how_many_there_are(db_url: str, wide: None) -> None:
    leads = [
        capture(db_url, "--email", f"p{day}@example.com", "--at", f"2026-01-0{day}T00:00:00Z")
        for day in (1, 2, 3)
    ]

    text = leadflow(db_url, "pool", "--limit", "2")
    listed = pool(db_url, "--limit", "2")
    whole = leadflow(db_url, "pool", "--limit", "3")

    assert "showing 2 of 3; use --limit to see more" in text
    assert [lead in text for lead in leads] == [True, True, False]
    assert (listed["count"], listed["shown"]) == (3, 2)
    assert [lead["lead_id"] for lead in listed["leads"]] == leads[:2]
    assert "showing" not in whole


def test_each_pool_lead_has_what_an_owner_decides_on(db_url: str) -> None:
    lead = capture(
        db_url, "--email", "ann@example.com", "--source", "web_form",
        "--at", "2026-01-05T10:00:00+00:00",
    )  # fmt: skip
    leadflow(db_url, "activity", lead, "page_visit", "--at", "2026-01-06T11:30:00+00:00")
    leadflow(db_url, "score", lead, "12", "--reason", "looks keen", "--at", "2026-01-06T12:00:00Z")

    [row] = pool(db_url)["leads"]

    assert row == {
        "lead_id": lead,
        "source": "web_form",
        "stage": "lead",
        "score": 12.0,
        "captured_at": "2026-01-05T10:00:00+00:00",
        "last_touch_at": "2026-01-06T11:30:00+00:00",
    }


def test_a_lead_released_back_to_the_pool_is_listed_again(db_url: str) -> None:
    lead = capture(db_url, "--email", "back@example.com", "--source", "partner")
    leadflow(db_url, "rep", "add", "rep:li")  # after the capture: no assignment on capture
    leadflow(db_url, "claim", lead, "rep:li")
    claimed = pool(db_url)

    leadflow(db_url, "release", lead, "--reason", "no time")

    released = pool(db_url)
    assert claimed == {"count": 0, "shown": 0, "leads": []}
    assert [(row["lead_id"], row["source"], row["stage"]) for row in released["leads"]] == [
        (lead, "partner", "lead")
    ]


def test_merged_erased_and_owned_leads_are_not_in_the_pool(db_url: str) -> None:
    survivor = capture(db_url, "--email", "same@example.com", "--at", "2026-01-01T00:00:00Z")
    duplicate = capture(db_url, "--phone", "13800138000", "--at", "2026-01-02T00:00:00Z")
    erased = capture(db_url, "--email", "gone@example.com", "--at", "2026-01-03T00:00:00Z")
    accepted = capture(db_url, "--email", "sales@example.com", "--at", "2026-01-04T00:00:00Z")
    leadflow(db_url, "rep", "add", "rep:sales")  # after the captures: they stay in the pool
    leadflow(db_url, "merge", duplicate, survivor)
    leadflow(db_url, "erase", erased, "--reason", "asked to be forgotten")
    leadflow(db_url, "handoff", accepted, "rep:sales")
    leadflow(db_url, "accept", accepted, "--actor", "rep:sales")

    listed = pool(db_url)

    assert [(row["lead_id"], row["stage"]) for row in listed["leads"]] == [(survivor, "lead")]
    assert listed["count"] == 1


def test_user_text_is_printed_literally(db_url: str, wide: None) -> None:
    capture(db_url, "--email", "m@example.com", "--source", "[bold]ads[/bold]")

    text = leadflow(db_url, "pool")

    assert "[bold]ads[/bold]" in text
