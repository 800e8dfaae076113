"""``python -m bench`` at a tiny size: the "servers" group of ``support.bench_smoke``."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.bench_smoke import run_group


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_servers_benchmarks_report_finite_figures_and_ratios_at_a_tiny_size(
    tmp_path: Path,
) -> None:
    run_group("servers", tmp_path)
