"""The frozen stored-data fixtures: a store written by earlier code, read by today's code.

The two files in ``tests/fixtures/`` are frozen; never regenerate them to make a test pass.

``demo300_seed7.stored.jsonl.gz``
    The raw stored events of a store made by ``leadflow demo --leads 300 --seed 7``
    (7,276 lines), one JSON object per line in log order: ``topic``, ``originator_id``
    (hex UUID without dashes), ``originator_version`` and ``state`` (the stored bytes,
    which are JSON, decoded as UTF-8). Their positions in that store were 1..7276, in
    file order.
``demo300_seed7.events.jsonl.gz``
    Exactly what ``leadflow events --db <that store> --json`` printed then (6,225 lines).

A fixture store is made by writing the raw events into a fresh store through the
recorder (so no current encoding is involved). ``tests/e2e/cli/test_stored_fixture.py``
runs the real ``leadflow events --json`` on it and compares each printed line with the
expected one as JSON values (key order aside, but 1, 1.0 and true are told apart). One
change is allowed: a UTC time inside ``data`` may be printed with ``+00:00`` instead of
``Z``. ``tests/integration/test_stored_fixture.py`` loads every lead through
``Leadflow.get_lead``.

When it fails, the code no longer reads what it once wrote: fix the reader (an upcaster,
``leadflow.codec``), not the fixture. Add a new fixture pair beside these only when a new
stored format is introduced on purpose, and keep the old pair.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent

from leadflow.adapters.store import open_store
from leadflow.service.application import Leadflow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # tests/fixtures
STORED = FIXTURES / "demo300_seed7.stored.jsonl.gz"
EXPECTED = FIXTURES / "demo300_seed7.events.jsonl.gz"
STORED_COUNT = 7276
EXPECTED_COUNT = 6225
BATCH = 1000

UTC_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?Z")
"""An ISO-8601 UTC time written with ``Z``: the one spelling allowed to become ``+00:00``."""

MISSING = object()


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return file.read().splitlines()


def stored_events() -> list[StoredEvent]:
    events = []
    for line in read_lines(STORED):
        raw = orjson.loads(line)
        events.append(
            StoredEvent(
                originator_id=UUID(raw["originator_id"]),
                originator_version=raw["originator_version"],
                topic=raw["topic"],
                state=raw["state"].encode("utf-8"),
            )
        )
    assert len(events) == STORED_COUNT
    return events


def load_fixture(db_url: str) -> Leadflow:
    """A fresh store holding the fixture's stored events at their original positions."""
    app = open_store(db_url)
    events = stored_events()
    # Opening a store creates its tables and, on PostgreSQL, the schema; it records no
    # event (the pipeline is activated on first use only), so positions start at 1.
    assert app.max_position() == 0, "the fresh store already holds events: positions would shift"
    for start in range(0, len(events), BATCH):
        batch = events[start : start + BATCH]
        ids = app.recorder.insert_events(batch)
        if ids is not None:  # both recorders report the positions they gave
            assert list(ids) == list(range(start + 1, start + 1 + len(batch)))
    stored = app.recorder.select_notifications(start=1, limit=STORED_COUNT + 1)
    assert [(n.id, UUID(str(n.originator_id)), n.originator_version) for n in stored] == [
        (position, e.originator_id, e.originator_version)
        for position, e in enumerate(events, start=1)
    ], "positions differ from the original store's 1..N in file order"
    return app


def utc_offset(value: Any) -> Any:
    """``value`` with every ``…Z`` UTC time string in it written ``…+00:00``."""
    if isinstance(value, str):
        return value[:-1] + "+00:00" if UTC_Z.fullmatch(value) else value
    if isinstance(value, dict):
        return {key: utc_offset(item) for key, item in value.items()}
    if isinstance(value, list):
        return [utc_offset(item) for item in value]
    return value


def normalised(event: Any) -> Any:
    if isinstance(event, dict) and "data" in event:
        return {**event, "data": utc_offset(event["data"])}
    return event


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def where_differs(want: Any, got: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first place (a key path) where two JSON values differ, with both values there."""
    if type(want) is not type(got):
        return path or "(whole line)", want, got
    if isinstance(want, dict):
        for key in [*want, *(k for k in got if k not in want)]:
            found = where_differs(
                want.get(key, MISSING), got.get(key, MISSING), f"{path}.{key}".lstrip(".")
            )
            if found:
                return found
        return None
    if isinstance(want, list):
        for index, (w, g) in enumerate(zip(want, got, strict=False)):
            found = where_differs(w, g, f"{path}[{index}]")
            if found:
                return found
        if len(want) != len(got):
            return f"{path} (length)", len(want), len(got)
        return None
    return None if canonical(want) == canonical(got) else (path or "(whole line)", want, got)


def show(value: Any) -> str:
    return "(absent)" if value is MISSING else orjson.dumps(value).decode()


def first_difference(expected: list[str], actual: list[str]) -> str | None:
    """None if ``actual`` prints the same events as ``expected``, else the first difference."""
    for number, (want_line, got_line) in enumerate(zip(expected, actual, strict=False), start=1):
        want = normalised(orjson.loads(want_line))
        try:
            got = normalised(orjson.loads(got_line))
        except orjson.JSONDecodeError:
            return f"line {number} is not JSON: {got_line[:500]!r}"
        if canonical(want) == canonical(got):
            continue
        path, want_value, got_value = where_differs(want, got) or ("?", want, got)
        return (
            f"line {number} (position {want.get('position')}, {want.get('type')}, "
            f"lead {want.get('lead_id')}) differs at {path}: "
            f"expected {show(want_value)}, got {show(got_value)}\n"
            f"  expected: {orjson.dumps(want).decode()[:2000]}\n"
            f"  actual:   {show(got)[:2000]}\n"
            "  (both with data's UTC times written +00:00, the one change allowed)"
        )
    if len(actual) != len(expected):
        more, lines = ("extra", actual) if len(actual) > len(expected) else ("missing", expected)
        n = min(len(actual), len(expected))
        return (
            f"{len(actual)} lines printed, {len(expected)} expected; "
            f"first {more} line {n + 1}: {lines[n][:2000]}"
        )
    return None
