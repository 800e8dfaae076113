"""What a sweep costs, as ratios to reading the log in the same process.

    .venv/bin/python bench/bench_sweep.py [--leads 3000] [--db sqlite:///bench.db]

Builds a history (capture, behaviour, assignment, some follow-ups and hand-offs), then times:

- baseline: ``read_events()`` over the whole log (read + decode every event);
- cold sweep: a fresh process-level application folds the whole log and fires what is due;
- warm sweep: the same application sweeps again at the same instant (reads nothing new,
  evaluates every lead, records nothing);
- incremental sweep: a day later, after a few new events.

Figures on a shared 2-core machine are noisy: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from leadflow.adapters.logging_setup import configure_logging
from leadflow.adapters.store import open_store
from leadflow.application import Leadflow

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def build(app: Leadflow, clock: Clock, leads: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(leads):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default=None, help="store URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    configure_logging("warning")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        clock = Clock()
        app = open_store(url, clock=clock)
        build_s, _ = _timed(lambda: build(app, clock, args.leads, args.seed))
        events = app.max_position()
        app.close()

        app = open_store(url, clock=clock)
        base_s, read = _timed(lambda: sum(1 for _ in app.read_events()))
        app.close()

        app = open_store(url, clock=clock)
        fold_s, fold = _timed(app.sweep)  # little is due yet: mostly the cost of the fold
        clock.now += timedelta(days=90)
        fire_s, fire = _timed(app.sweep)
        warm_s, warm = _timed(app.sweep)
        clock.now += timedelta(days=1)
        some = list(app._lead_states.leads)[:50] if app._lead_states else []
        for lead_id in some:
            app.record_activity(lead_id, "page_visit")
        incr_s, incr = _timed(app.sweep)
        app.close()

    def row(label: str, seconds: float, note: str) -> None:
        print(f"{label:<34}{seconds:8.3f}s {seconds / base_s:7.2f}x  {note}")

    print(f"{args.leads} leads, {events} events in the log (built in {build_s:.1f}s)")
    row("baseline: read_events()", base_s, f"{read} events read and decoded")
    row("cold sweep (folds the log)", fold_s, f"{len(fold.events)} recorded (few are due yet)")
    row(
        "sweep 90 days later (fires)",
        fire_s,
        f"{len(fire.events)} events on {fire.changed} leads "
        f"({len(fire.events) / fire_s:.0f} events/s)",
    )
    row("warm sweep, same instant", warm_s, f"{len(warm.events)} recorded")
    row("incremental sweep, +1 day", incr_s, f"{len(incr.events)} recorded after 50 activities")


if __name__ == "__main__":
    main()
