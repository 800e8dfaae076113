"""The sweep: folding the log, firing due rules, re-sweeping; against reading the log.

The first sweep of a process folds the whole log into every lead's state (one scan);
later sweeps read only what is new and evaluate every lead. Baseline: ``read_events()``
over the same log, in the same run.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from leadflow.adapters.store import persistence_env
from leadflow.domain.pipeline import parse_pipeline
from leadflow.service.application import Leadflow
from leadflow.service.pipeline_files import default_pipeline


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _fill(app: Leadflow, clock: _Clock, size: int) -> None:
    rng = random.Random(1)
    document = default_pipeline().model_dump(mode="json")
    document["assignment"]["on_capture"] = False  # leads wait in the pool until assigned
    app.activate_pipeline(parse_pipeline(document))
    for rep in ("rep:a", "rep:b", "rep:c", "rep:sales"):
        app.add_rep(rep)
    for i in range(size):
        clock.now += timedelta(minutes=5)
        lead_id = app.capture(
            email=f"lead{i}@example.com",
            company=f"Co {i % 50}" if rng.random() < 0.6 else None,
            attributes={"industry": rng.choice(["software", "retail", "finance"])},
        ).lead_id
        for _ in range(rng.randint(0, 4)):
            app.record_activity(lead_id, rng.choice(["page_visit", "webinar", "download"]))
        if rng.random() < 0.6:
            app.assign(lead_id, rng.choice(["rep:a", "rep:b", "rep:c"]))
            if rng.random() < 0.5:
                app.record_activity(lead_id, "call")
        if rng.random() < 0.1:
            if app.get_lead(lead_id).stage == "lead":
                app.change_stage(lead_id, "mql")
            app.hand_off(lead_id, "rep:sales")


def run(size: int, workdir: Path) -> list[dict[str, Any]]:
    env = persistence_env(f"sqlite:///{workdir / 'sweep.db'}")
    clock = _Clock()
    app = Leadflow(env, clock=clock, actor="user:bench")
    _fill(app, clock, size)
    events = app.max_position()
    app.close()

    app = Leadflow(env, clock=clock, actor="user:bench")
    started = time.perf_counter()
    read = sum(1 for _ in app.read_events())
    baseline = read / (time.perf_counter() - started)
    app.close()

    app = Leadflow(env, clock=clock, actor="user:bench")
    started = time.perf_counter()
    app.sweep()  # little is due yet: mostly the fold
    fold = events / (time.perf_counter() - started)
    clock.now += timedelta(days=90)
    started = time.perf_counter()
    fired = app.sweep()
    firing = len(fired.events) / (time.perf_counter() - started)
    started = time.perf_counter()
    again = app.sweep()
    assert again.events == ()
    warm = again.leads / (time.perf_counter() - started)
    app.close()
    return [
        {
            "figure": "first sweep: log folded (events/s)",
            "value": fold,
            "baseline": baseline,
            "ratio": fold / baseline,
        },
        {
            "figure": f"sweep firing {len(fired.events)} events (events/s)",
            "value": firing,
            "baseline": baseline,
            "ratio": firing / baseline,
        },
        {
            "figure": "second sweep, same instant (leads evaluated/s)",
            "value": warm,
        },
    ]
