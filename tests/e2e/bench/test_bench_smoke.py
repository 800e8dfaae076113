"""``python -m bench`` runs end to end at a tiny size: every benchmark yields its figures.

No timing is asserted here (timings belong to ``python -m bench`` runs, as ratios); this
only keeps the harness from rotting: each benchmark runs, each figure is a finite number,
and each compared figure carries its baseline and ratio.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.timeout(600)
def test_every_benchmark_reports_finite_figures_and_ratios_at_a_tiny_size(
    tmp_path: Path,
) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.__main__ import ALL
    finally:
        sys.path.remove(str(ROOT))
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "50", "--json", str(out), "--workdir",
         str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=580,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {row["benchmark"] for row in results} == set(ALL)
    for row in results:
        assert math.isfinite(row["value"]), row
    for name in ALL:
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
