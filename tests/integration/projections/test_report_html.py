"""``leadflow report --out``: the HTML report's numbers are those of the commands that print
them (``funnel``, ``report revenue``, ``report stages``, ``report reps``) for the same T, K and
cohort; it states its definitions; ``--lang zh`` uses the pipeline's labels and the report's
own words in Chinese; bad options exit 2 (issue 10, part 4). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from leadflow.adapters.store import open_store

from support.cli import invoke

T, K = "2026-03-31", "2026-01-15"
PERIOD = "2026-01-01..2026-03-31"


COHORT = ["--cohort-from", "2025-10-01", "--cohort-to", "2026-01-31"]


@pytest.fixture(scope="module")
def demo(module_db_url: str) -> str:
    """The README's 300-lead demo, once on SQLite and once on PostgreSQL."""
    invoke("demo", "--leads", "300", "--db", module_db_url)
    return module_db_url


def html_report(demo: str, tmp_path: Path, *options: str) -> str:
    page = tmp_path / "report.html"
    invoke("report", "--out", str(page), *options, "--db", demo)
    return page.read_text(encoding="utf-8")


def cells(html: str, table: str) -> dict[str, str]:
    """``data-key`` → the cell's text, in one table of the page."""
    body = re.search(rf'<table id="{table}">(.*?)</table>', html, re.S)
    assert body, f"no table {table}"
    return dict(re.findall(r'<td data-key="([^"]+)">([^<]*)</td>', body.group(1)))


def as_json(demo: str, *args: str) -> Any:
    return json.loads(invoke(*args, "--json", "--db", demo).stdout)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@pytest.mark.parametrize(("known", "cohort"), [(None, False), (K, False), (K, True)])
def test_the_funnel_is_funnel_json_for_the_same_t_and_k(
    demo: str, tmp_path: Path, known: str | None, cohort: bool
) -> None:
    at = ["--as-of", T, *(["--as-known-at", known] if known else []), *(COHORT if cohort else [])]

    html = html_report(demo, tmp_path, *at)

    expected = as_json(demo, "funnel", *at)
    shown = cells(html, "funnel-table")
    for row in expected["stages"]:
        stage = row["stage"]
        assert shown[f"{stage}.in_stage"] == str(row["in_stage"])
        assert shown[f"{stage}.reached"] == str(row["reached"])
        assert shown[f"{stage}.passed"] == ("-" if row["passed"] is None else str(row["passed"]))
        assert shown[f"{stage}.conversion_to_next"] == pct(row["conversion_to_next"])
    assert f"{expected['live_leads']} live leads" in html
    for name in ("in_stage", "reached", "passed", "conversion_to_next"):
        assert f"<b>{name}</b>" in html  # the definitions it uses, stated
    if known:
        assert "as known at 2026-01-15" in html
    if cohort:
        assert "captured from 2025-10-01 to 2026-01-31" in html


@pytest.mark.parametrize(("known", "cohort"), [(None, False), (K, False), (None, True)])
def test_revenue_is_report_revenue_json_for_the_same_t_and_k(
    demo: str, tmp_path: Path, known: str | None, cohort: bool
) -> None:
    at = ["--as-of", T, *(["--as-known-at", known] if known else []), *(COHORT if cohort else [])]

    html = html_report(demo, tmp_path, *at)

    expected = as_json(demo, "report", "revenue", *at)
    assert expected["won_by_month"]  # the demo wins deals: the comparison is not empty
    won = cells(html, "won-by-month")
    assert len(won) == 2 * len(expected["won_by_month"])
    for row in expected["won_by_month"]:
        key = f"{row['month']}.{row['currency']}"
        assert won[f"{key}.deals"] == str(row["deals"])
        assert won[f"{key}.amount"] == f"{row['amount']:.2f}"
    open_ = cells(html, "pipeline-by-stage")
    assert len(open_) == 2 * len(expected["pipeline_by_stage"])
    for row in expected["pipeline_by_stage"]:
        assert open_[f"{row['stage']}.deals"] == str(row["deals"])
        assert open_[f"{row['stage']}.amount"] == f"{row['amount']:.2f}"


@pytest.mark.parametrize(("known", "cohort"), [(None, False), (K, True)])
def test_reps_are_report_reps_json_for_the_same_t_k_and_cohort(
    demo: str, tmp_path: Path, known: str | None, cohort: bool
) -> None:
    at = ["--as-of", T, *(["--as-known-at", known] if known else []), *(COHORT if cohort else [])]

    html = html_report(demo, tmp_path, *at)

    expected = as_json(demo, "report", "reps", *at)["reps"]
    shown = cells(html, "reps")
    assert expected
    assert len(shown) == 6 * len(expected)
    for row in expected:
        rep, touch, handoffs = row["rep"], row["time_to_first_touch"], row["handoffs"]
        assert shown[f"{rep}.assigned"] == str(row["assigned"])
        assert shown[f"{rep}.followed_up"] == str(row["followed_up"])
        median = touch["median_days"]
        assert shown[f"{rep}.first_touch_median_days"] == (
            "-" if median is None else f"{median:.1f}"
        )
        assert shown[f"{rep}.handoffs_received"] == str(handoffs["received"])
        share = handoffs["sla_met_share"]
        assert shown[f"{rep}.sla_met_share"] == ("-" if share is None else f"{share:.0%}")
        assert shown[f"{rep}.converted"] == str(row["converted"])


def test_conversion_over_time_is_the_funnel_of_each_monthly_cohort(
    demo: str, tmp_path: Path
) -> None:
    html = html_report(demo, tmp_path, "--as-of", T, "--as-known-at", K)

    groups = as_json(demo, "funnel", "--by", "cohort", "--as-of", T, "--as-known-at", K)
    shown = cells(html, "cohorts")
    assert len(groups["groups"]) > 3
    for group in groups["groups"]:
        month = group["key"]
        assert shown[f"{month}.leads"] == str(group["live_leads"])
        first, *later = [row for row in group["stages"] if row["passed"] is not None]
        assert f"{month}.{first['stage']}.passed" not in shown  # all of them passed it
        for row in later:  # the main path after its first stage; "N (P%)"
            assert shown[f"{month}.{row['stage']}.passed"].split(" ")[0] == str(row["passed"])
    assert 'id="conversion-over-time"' in html
    assert html.count('<rect class="bar s0"') == len(groups["groups"])  # a point a month


def test_period_shows_what_report_stages_counts_as_entered_in_those_days(
    demo: str, tmp_path: Path
) -> None:
    html = html_report(demo, tmp_path, "--as-of", T, "--period", PERIOD)

    expected = as_json(demo, "report", "stages", "--as-of", T, "--period", PERIOD)
    shown = cells(html, "period")
    assert sum(row["entered"] for row in expected["stages"]) > 0
    for row in expected["stages"]:
        assert shown[f"{row['stage']}.entered"] == str(row["entered"])
        assert shown[f"{row['stage']}.still_in"] == str(row["time_in_stage"]["censored"])
        median = row["time_in_stage"]["median_days"]
        assert shown[f"{row['stage']}.median_days"] == ("-" if median is None else f"{median:.1f}")
    assert "Entered in the period 2026-01-01 .. 2026-03-31" in html
    assert 'id="period"' not in html_report(demo, tmp_path, "--as-of", T)


def test_lang_zh_uses_the_pipelines_chinese_labels(demo: str, tmp_path: Path) -> None:
    app = open_store(demo)
    try:
        stages = app.pipeline.stages
    finally:
        app.close()

    chinese = html_report(demo, tmp_path, "--lang", "zh")
    english = html_report(demo, tmp_path)

    assert '<html lang="zh">' in chinese
    for config in stages.values():
        assert config.labels["zh"] in chinese
        assert config.label in english
        assert config.labels["zh"] not in english
    assert "<td>营销合格线索</td>" in chinese


def own_words(page: str) -> list[str]:
    """The report's own words: title, headings, column names, chart titles and legends, and
    the notes (with the commands and field names they quote in ``<code>`` left out)."""
    found = re.findall(r"<(h1|h2|th)>(.*?)</\1>", page, re.S)
    words = [re.findall(r"<title>(.*?)</title>", page)[0]]  # the page's (the charts' are data)
    words += [text for _, text in found]
    words += re.findall(r'aria-label="([^"]*)"', page)
    words += re.findall(r'<rect class="seg-[^"]*"[^>]*></rect><text[^>]*>([^<]*)</text>', page)
    words += re.findall(r'<p class="note">(.*?)</p>', page, re.S)
    return [unescape(re.sub(r"<code>.*?</code>|<[^>]+>", "", w, flags=re.S)) for w in words]


def test_lang_zh_leaves_no_english_words_of_the_report(demo: str, tmp_path: Path) -> None:
    options = ("--as-of", T, "--as-known-at", K, *COHORT, "--period", PERIOD)
    chinese = html_report(demo, tmp_path, *options, "--lang", "zh")
    app = open_store(demo)
    try:
        pipeline = app.pipeline
    finally:
        app.close()
    # Names, not words: the pipeline's name and version, Kaplan-Meier, UTC, the product.
    names = {"Kaplan", "Meier", "UTC", "leadflow"}

    words = own_words(chinese)

    assert len(words) > 40
    for text in words:
        text = text.replace(pipeline.name, "").replace(pipeline.version, "")
        english = [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in names]
        assert not english, f"English left in the zh report: {text!r}"
    for heading in ("线索漏斗报告", "转化趋势", "按来源的转化", "收入", "移交时限达成"):
        assert heading in chinese
    for name in ("in_stage", "reached", "passed", "conversion_to_next"):  # funnel --json's names
        assert f"<br><code>{name}</code></th>" in chinese


def test_lang_en_keeps_the_reports_english_words(demo: str, tmp_path: Path) -> None:
    english = html_report(demo, tmp_path, "--as-of", T, "--period", PERIOD)

    headings = re.findall(r"<h[12]>(.*?)</h[12]>", english)

    assert headings == [
        "Lead funnel report",
        "Funnel",
        "Conversion over time",
        "Conversion by source",
        "Entered in the period 2026-01-01 .. 2026-03-31",
        "Revenue",
        "Hand-off SLA compliance",
        "Reps",
        "Time in stage",
    ]
    assert re.findall(r"<th>(.*?)</th>", english)[:5] == [
        "stage",
        "in_stage",
        "reached",
        "passed",
        "conversion_to_next",
    ]
    assert not re.search(r"[\u4e00-\u9fff]", english)


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--lang", "fr", "lang"),
        ("--period", "2026-03-01..2026-01-01", "period"),
        ("--period", "March", "period"),
        ("--as-known-at", "yesterday", "as_known_at"),
        ("--as-of", "soon", "as_of"),
    ],
)
def test_a_bad_option_exits_2_naming_it_and_writes_nothing(
    demo: str, tmp_path: Path, option: str, value: str, field: str
) -> None:
    page = tmp_path / "report.html"

    result = invoke("report", "--out", str(page), option, value, "--db", demo, expect=2)

    assert f"{field}:" in result.stderr
    assert not page.exists()
