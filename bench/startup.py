"""Start-up of the command line: ``leadflow --help`` and ``leadflow show ID`` on a demo
store, wall-clock, each against ``python -c pass`` in the same run.

The store is the demo's (``adapters/demo.py``: the real engine, a simulated year) with
``size`` people (the target is stated for 10,000). Each command runs as its own process,
as a person runs it, with bytecode caching on (as an installed package has it): a first
run warms the cache and is not timed; the median of the next runs is reported.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["run"]

RUNS = 7


def _median_seconds(argv: list[str], env: dict[str, str]) -> float:
    subprocess.run(argv, env=env, check=True, capture_output=True)  # warms the bytecode cache
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(size: int, workdir: Path) -> list[dict[str, Any]]:
    url = f"sqlite:///{workdir / 'demo.db'}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["LEADFLOW_DB"] = url
    leadflow = shutil.which("leadflow", path=str(Path(sys.executable).parent)) or "leadflow"
    subprocess.run(
        [leadflow, "demo", "--leads", str(size), "--db", url],
        env=env,
        check=True,
        capture_output=True,
    )
    lead_id = _some_lead(url)
    baseline = _median_seconds([sys.executable, "-c", "pass"], env)
    helped = _median_seconds([leadflow, "--help"], env)
    shown = _median_seconds([leadflow, "show", lead_id], env)
    return [
        {
            "figure": "leadflow --help (s)",
            "value": helped,
            "baseline": baseline,
            "ratio": helped / baseline,
            "target": "< 0.3 s",
            "met": helped < 0.3,
            "unit": "s",
        },
        {
            "figure": f"leadflow show ID on the {size:,}-person demo (s)",
            "value": shown,
            "baseline": baseline,
            "ratio": shown / baseline,
            "target": "< 0.5 s",
            "met": shown < 0.5,
            "unit": "s",
        },
    ]


def _some_lead(url: str) -> str:
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        row = conn.execute(
            "SELECT originator_id FROM stored_events WHERE topic = 'leadflow.lead:LeadCaptured' "
            "ORDER BY rowid LIMIT 1 OFFSET (SELECT count(*) / 2 FROM stored_events "
            "WHERE topic = 'leadflow.lead:LeadCaptured')"
        ).fetchone()
    finally:
        conn.close()
    return str(row[0])
