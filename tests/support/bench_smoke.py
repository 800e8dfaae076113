"""What every bench smoke module checks: ``python -m bench --only …`` at a tiny size runs,
each figure is a finite number, and each compared figure carries its baseline and ratio.

No timing is asserted (timings belong to ``python -m bench`` runs, as ratios); this only
keeps the harness from rotting. The benchmarks are split over a few modules
(:data:`GROUPS`) so that the test runner's workers share them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

GROUPS: dict[str, tuple[str, ...]] = {
    "writes": ("commands", "import", "memory_import", "personal_data", "stream"),
    "read_side": ("dedupe", "first_build", "funnel", "memory", "memory_rebuild", "rebuild"),
    "servers": ("http", "queries", "scan", "serve", "startup", "sweep"),
}
"""Each benchmark in exactly one group (checked against ``bench.__main__.ALL``)."""


def all_benchmarks() -> list[str]:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.__main__ import ALL
    finally:
        sys.path.remove(str(ROOT))
    return list(ALL)


def run_group(group: str, tmp_path: Path) -> None:
    names = GROUPS[group]
    out = tmp_path / "results.json"
    only = [arg for name in names for arg in ("--only", name)]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "50", *only, "--json", str(out),
         "--workdir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=580,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {row["benchmark"] for row in results} == set(names)
    for row in results:
        assert math.isfinite(row["value"]), row
    for name in names:
        compared = [r for r in results if r["benchmark"] == name and "baseline" in r]
        if name == "dedupe":  # an absolute target (p99 < 1 ms), no baseline
            assert any("target" in r for r in results if r["benchmark"] == name)
            continue
        assert compared, f"{name} reported no figure against a baseline"
        for row in compared:
            assert math.isfinite(row["baseline"]), row
            assert row["baseline"] > 0, row
            assert math.isfinite(row["ratio"]), row
            assert row["ratio"] > 0, row
