"""Sealing personal data: writing and reading a store that seals it vs one that does not.

Both stores get the same history in the same process (captures with a name, email and
company, an activity with a detail, a stage change with a reason); the plain store is the
baseline of each ratio.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from leadflow.adapters.store import data_keys, persistence_env
from leadflow.service.application import Leadflow


def _fill(app: Leadflow, size: int) -> float:
    started = time.perf_counter()
    for i in range(size):
        lead_id = app.capture(
            email=f"lead{i}@example.com", name=f"Person {i}", company=f"Company {i}"
        ).lead_id
        app.record_activity(lead_id, "call", detail=f"called person {i}")
        app.change_stage(lead_id, "mql", reason=f"asked person {i} for a demo")
    return size / (time.perf_counter() - started)


def _scan(app: Leadflow) -> float:
    started = time.perf_counter()
    count = sum(1 for _ in app.read_events(batch_size=5000))
    return count / (time.perf_counter() - started)


def run(size: int, workdir: Path) -> list[dict[str, Any]]:
    plain_url = f"sqlite:///{workdir / 'plain.db'}"
    sealed_url = f"sqlite:///{workdir / 'sealed.db'}"
    plain = Leadflow(persistence_env(plain_url), actor="user:bench")
    sealed = Leadflow(persistence_env(sealed_url), actor="user:bench", keys=data_keys(sealed_url))
    write_plain, write_sealed = _fill(plain, size), _fill(sealed, size)
    read_plain, read_sealed = _scan(plain), _scan(sealed)
    fresh = Leadflow(persistence_env(sealed_url), actor="user:bench", keys=data_keys(sealed_url))
    read_cold = _scan(fresh)  # every data key unwrapped afresh
    for app in (plain, sealed, fresh):
        app.close()
    return [
        {"figure": "leads written (3 commands each), plain, leads/s", "value": write_plain},
        {
            "figure": "leads written, personal data sealed, leads/s",
            "value": write_sealed,
            "baseline": write_plain,
            "ratio": write_sealed / write_plain,
            "target": "≥ 0.8x plain",
            "met": write_sealed >= 0.8 * write_plain,
        },
        {"figure": "read_events, plain store, events/s", "value": read_plain},
        {
            "figure": "read_events, sealed store (keys cached), events/s",
            "value": read_sealed,
            "baseline": read_plain,
            "ratio": read_sealed / read_plain,
            "target": "≥ 0.6x plain",
            "met": read_sealed >= 0.6 * read_plain,
        },
        {
            "figure": "read_events, sealed store, fresh process (keys unwrapped), events/s",
            "value": read_cold,
            "baseline": read_plain,
            "ratio": read_cold / read_plain,
            "target": "≥ 0.5x plain",
            "met": read_cold >= 0.5 * read_plain,
        },
    ]
