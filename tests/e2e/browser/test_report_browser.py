"""``leadflow report``: one self-contained HTML file whose charts a real browser draws."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.cli import demo_store, invoke
from support.stores import service_unavailable

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = (
    "funnel",
    "conversion-over-time",
    "conversion-by-source",
    "won-by-month",
    "sla",
    "time-in-stage",
)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return demo_store(tmp_path_factory.mktemp("demo"))


def _rendered_dom(page: Path, profile: Path) -> str:
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_report_is_one_file_that_needs_nothing_from_the_network(
    demo_url: str, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    invoke("report", "--as-of", "2026-03-31", "--out", str(page), "--db", demo_url)

    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html
    assert "url(" not in html
    for chart in CHARTS:
        assert f'id="{chart}"' in html


def test_the_report_opens_in_a_headless_browser_with_every_chart_drawn(
    demo_url: str, tmp_path: Path
) -> None:
    if CHROMIUM is None:
        service_unavailable("chromium is not installed (apt-get install -y chromium)")
    page = tmp_path / "report.html"
    invoke("report", "--out", str(page), "--db", demo_url)

    dom = _rendered_dom(page, tmp_path / "profile")

    # The page's own script measured each chart's bars after layout (getBBox).
    assert f'data-charts-drawn="{len(CHARTS)}"' in dom
    for chart in CHARTS:
        match = re.search(rf'<svg[^>]*id="{chart}"[^>]*data-drawn="(\d+)"', dom)
        assert match, f"chart {chart} was not laid out"
        assert int(match.group(1)) > 0
