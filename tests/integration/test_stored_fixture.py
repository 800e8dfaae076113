"""Stored data stays readable: the frozen fixture store (``support.stored_fixture``) loads."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

import orjson
import pytest

from support.stored_fixture import EXPECTED, first_difference, load_fixture, read_lines

pytestmark = pytest.mark.timeout(180)  # 2-3 s per database: not marked slow


def test_the_normalisation_allows_only_z_to_offset_inside_data() -> None:
    line: dict[str, Any] = {
        "occurred_at": "2025-07-09T10:00:00+00:00",
        "data": {"due_at": "2025-07-09T10:00:00Z"},
    }
    same = {**line, "data": {"due_at": "2025-07-09T10:00:00+00:00"}}
    later = {**line, "data": {"due_at": "2025-07-09T10:00:01+00:00"}}
    top = {**line, "occurred_at": "2025-07-09T10:00:00Z"}
    number = {**line, "data": {**line["data"], "score": 5}}
    as_float = {**line, "data": {**line["data"], "score": 5.0}}
    dump = [orjson.dumps(x).decode() for x in (line, same, later, top, number, as_float)]

    assert first_difference([dump[0]], [dump[1]]) is None
    assert "differs at data.due_at" in (first_difference([dump[0]], [dump[2]]) or "")
    assert "differs at occurred_at" in (first_difference([dump[0]], [dump[3]]) or "")
    assert "differs at data.score: expected 5, got 5.0" in (
        first_difference([dump[4]], [dump[5]]) or ""
    )
    assert "first missing line 2" in (first_difference(dump[:2], dump[:1]) or "")


def test_every_lead_loads_at_its_recorded_version(db_url: str) -> None:
    expected = Counter(orjson.loads(line)["lead_id"] for line in read_lines(EXPECTED))
    app = load_fixture(db_url)
    try:
        versions = {lead_id: app.get_lead(UUID(lead_id)).version for lead_id in expected}
    finally:
        app.close()

    assert len(versions) == 308
    assert versions == dict(expected)
