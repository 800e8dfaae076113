"""``python -m bench`` at a tiny size: the "writes" group of ``support.bench_smoke``."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.bench_smoke import run_group


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.timeout(600)
def test_the_writes_benchmarks_report_finite_figures_and_ratios_at_a_tiny_size(
    tmp_path: Path,
) -> None:
    run_group("writes", tmp_path)


def test_the_smoke_groups_hold_every_benchmark_once() -> None:
    from support.bench_smoke import GROUPS, all_benchmarks

    listed = [name for names in GROUPS.values() for name in names]
    assert sorted(listed) == sorted(all_benchmarks())
