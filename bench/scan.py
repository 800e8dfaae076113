"""Reading the whole log: decoded records vs a raw scan + JSON decode of the same rows."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from leadflow.adapters.store import persistence_env
from leadflow.service.application import Leadflow


def _fill(app: Leadflow, size: int) -> None:
    for i in range(size):
        lead_id = app.capture(email=f"lead{i}@example.com", source="web").lead_id
        app.record_activity(lead_id, "page_visit")
        app.change_stage(lead_id, "mql")


def run(size: int, workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "scan.db"
    app = Leadflow(persistence_env(f"sqlite:///{path}"), actor="user:bench")
    _fill(app, size)

    started = time.perf_counter()
    conn = sqlite3.connect(path)
    raw = 0
    for _rowid, _topic, state in conn.execute("SELECT rowid, topic, state FROM stored_events"):
        orjson.loads(state)
        raw += 1
    conn.close()
    baseline = raw / (time.perf_counter() - started)

    started = time.perf_counter()
    count = sum(1 for _ in app.read_events(include_org=True, batch_size=5000))
    rate = count / (time.perf_counter() - started)
    app.close()
    assert count == raw, (count, raw)
    return [
        {"figure": "raw scan + JSON decode, events/s", "value": baseline},
        {
            "figure": "leadflow read_events (decoded EventRecords), events/s",
            "value": rate,
            "baseline": baseline,
            "ratio": rate / baseline,
            "target": "(component of rebuild: ≥ 1.0x baseline)",
            "met": rate >= baseline,
        },
    ]
