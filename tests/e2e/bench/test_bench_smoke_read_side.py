"""``python -m bench`` at a tiny size: the "read_side" group of ``support.bench_smoke``."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.bench_smoke import run_group


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_read_side_benchmarks_report_finite_figures_and_ratios_at_a_tiny_size(
    tmp_path: Path,
) -> None:
    run_group("read_side", tmp_path)
