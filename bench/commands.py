"""Interactive commands per second: capture, then activity and promote (each loads its lead).

leadflow seals personal data as ``open_store`` does (a keystore beside the store)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import UUID

from bench.plain import open_plain
from leadflow.adapters.store import data_keys, persistence_env
from leadflow.service.application import Leadflow


def _leadflow_run(app: Any, size: int) -> float:
    started = time.perf_counter()
    ids: list[UUID] = [app.capture(email=f"lead{i}@example.com", source="web") for i in range(size)]
    ids = [getattr(i, "lead_id", i) for i in ids]
    for lead_id in ids:
        app.record_activity(lead_id, "page_visit")
    for lead_id in ids:
        app.change_stage(lead_id, "mql")
    return 3 * size / (time.perf_counter() - started)


def run(size: int, workdir: Path) -> list[dict[str, Any]]:
    plain = open_plain(str(workdir / "plain.db"))
    baseline = _leadflow_run(plain, size)
    rows = [
        {"figure": "plain eventsourcing (stock SQLite recorder), commands/s", "value": baseline}
    ]
    for label, extra in (
        ("leadflow, default (cache fast-forwarded from the store)", {}),
        ("leadflow, trusted cache (single writer process)", {"AGGREGATE_CACHE_FASTFORWARD": "n"}),
    ):
        url = f"sqlite:///{workdir / (label[:20] + '.db')}"
        app = Leadflow({**persistence_env(url), **extra}, actor="user:bench", keys=data_keys(url))
        rate = _leadflow_run(app, size)
        rows.append(
            {
                "figure": f"{label}, commands/s",
                "value": rate,
                "baseline": baseline,
                "ratio": rate / baseline,
                "target": "≥ 3x baseline",
                "met": rate >= 3 * baseline,
            }
        )
        app.close()
    plain.close()
    return rows
