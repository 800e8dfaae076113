"""``leadflow report``: one self-contained HTML file, readable offline.

Charts are inline SVG drawn here (no CDN, no external file, no library). A few lines
of inline script check, once the browser has laid the page out, that each chart's
marks have a size, and record it on the page (``data-drawn`` on each chart and
``data-charts-drawn`` on ``<body>``): the headless-browser test reads them back.
"""

from __future__ import annotations

from datetime import date
from html import escape

import sqlalchemy as sa

from leadflow.domain.pipeline import Pipeline
from leadflow.i18n import LANGUAGES as CATALOGUE_LANGUAGES
from leadflow.i18n import texts_for
from leadflow.projections._sql import as_utc
from leadflow.projections.funnel import (
    FunnelQuery,
    _known,
    _live,
    _not_yet,
    funnel,
    funnel_by,
    in_cohort,
)
from leadflow.projections.reps import rep_report
from leadflow.projections.revenue import revenue
from leadflow.projections.stage_history import STAGE_INTERVALS
from leadflow.projections.velocity import stage_times

__all__ = [
    "COHORT_MONTHS",
    "DURATION_BUCKETS",
    "LANGUAGES",
    "render_report",
    "time_in_stage",
]

LANGUAGES: tuple[str, ...] = tuple(CATALOGUE_LANGUAGES)
"""``--lang``: the language of the report's words (:mod:`leadflow.i18n`, the console's
catalogue) and of the stage labels (the pipeline's ``label`` / ``labels.zh``)."""
COHORT_MONTHS = 24
"""The conversion-over-time chart shows at most this many monthly cohorts (the latest):
``funnel --by cohort`` (leads by capture month)."""

DURATION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under_1_day", 1),
    ("1_3_days", 3),
    ("3_7_days", 7),
    ("1_2_weeks", 14),
    ("2_4_weeks", 28),
    ("1_3_months", 91),
    ("over_3_months", float("inf")),
)
"""Time-in-stage histogram buckets: name (its words are ``report_<name>`` in
:mod:`leadflow.i18n`) and upper bound in days (exclusive)."""


def time_in_stage(conn: sa.Connection, pipeline: Pipeline, q: FunnelQuery) -> dict[str, list[int]]:
    """Per stage, how many finished intervals (left by T, as known at K) of live leads (of the
    cohort) fell in each bucket."""
    i = STAGE_INTERVALS
    histogram = {stage: [0] * len(DURATION_BUCKETS) for stage in pipeline.stages}
    finished = sa.select(i.c.stage, i.c.entered_at, i.c.exited_at).where(
        i.c.exited_at.is_not(None),
        _known(i.c.entered_at, i.c.entered_recorded_at, q),
        sa.not_(_not_yet(i.c.exited_at, i.c.exited_recorded_at, q)),
        _live(i.c.lead_id, q),
    )
    rows = conn.execute(in_cohort(finished.select_from(i), i.c.lead_id, q))
    for stage, entered, exited in rows:
        if stage not in histogram:
            continue
        start, end = as_utc(entered), as_utc(exited)
        assert start is not None
        assert end is not None
        days = (end - start).total_seconds() / 86400
        for index, (_, bound) in enumerate(DURATION_BUCKETS):
            if days < bound:
                histogram[stage][index] += 1
                break
    return histogram


# -- SVG ----------------------------------------------------------------------------------

_W, _LABEL, _ROW = 860, 170, 26


def _bars(chart_id: str, title: str, items: list[tuple[str, float, str]], scale: float) -> str:
    """A horizontal bar chart: (label, value, text shown after the bar)."""
    height = _ROW * max(len(items), 1) + 10
    parts = [
        f'<svg class="chart" id="{chart_id}" role="img" aria-label="{escape(title)}" '
        f'width="{_W}" height="{height}" viewBox="0 0 {_W} {height}">'
    ]
    span = _W - _LABEL - 280
    for n, (label, value, text) in enumerate(items):
        y = 5 + n * _ROW
        width = 0.0 if scale <= 0 else max(span * value / scale, 1.0 if value else 0.0)
        parts.append(
            f'<text x="{_LABEL - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{_LABEL}" y="{y + 3}" width="{width:.1f}" height="{_ROW - 8}" '
            f'data-value="{value}"><title>{escape(label)}: {escape(text)}</title></rect>'
            f'<text x="{_LABEL + width + 6:.1f}" y="{y + 16}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _stacked(
    chart_id: str,
    title: str,
    rows: list[tuple[str, list[int]]],
    kinds: list[str],
    labels: list[str],
) -> str:
    """Horizontal 100% stacked bars, one per row, segments in ``kinds`` order (``labels``:
    their names, in the legend and the tooltips)."""
    height = _ROW * max(len(rows), 1) + 34
    parts = [
        f'<svg class="chart" id="{chart_id}" role="img" aria-label="{escape(title)}" '
        f'width="{_W}" height="{height}" viewBox="0 0 {_W} {height}">'
    ]
    span = _W - _LABEL - 80
    for n, (label, counts) in enumerate(rows):
        y = 5 + n * _ROW
        total = sum(counts)
        parts.append(
            f'<text x="{_LABEL - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
        )
        x = float(_LABEL)
        for kind, name, count in zip(kinds, labels, counts, strict=True):
            if not count:
                continue
            width = span * count / total
            parts.append(
                f'<rect class="bar seg-{kind}" x="{x:.1f}" y="{y + 3}" width="{width:.1f}" '
                f'height="{_ROW - 8}" data-value="{count}"><title>{escape(label)} {escape(name)}: '
                f"{count}</title></rect>"
            )
            x += width
        parts.append(f'<text x="{_LABEL + span + 6}" y="{y + 16}">{total}</text>')
    y = 10 + len(rows) * _ROW
    x = float(_LABEL)
    step = (_W - _LABEL) / len(kinds)
    for kind, name in zip(kinds, labels, strict=True):
        parts.append(
            f'<rect class="seg-{kind}" x="{x:.1f}" y="{y}" width="12" height="12"></rect>'
            f'<text x="{x + 16:.1f}" y="{y + 11}">{escape(name)}</text>'
        )
        x += step
    parts.append("</svg>")
    return "".join(parts)


def _lines(
    chart_id: str, title: str, columns: list[str], series: list[tuple[str, list[float | None]]]
) -> str:
    """A line per series over ``columns`` (values 0 to 1), each point a small square."""
    height, left, top, plot = 260, 50, 10, 200
    step = (_W - left - 190) / max(len(columns) - 1, 1)
    parts = [
        f'<svg class="chart" id="{chart_id}" role="img" aria-label="{escape(title)}" '
        f'width="{_W}" height="{height}" viewBox="0 0 {_W} {height}">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        y = top + plot * (1 - tick)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{_W - 190}" y2="{y:.1f}"></line>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.0%}</text>'
        )
    for n, column in enumerate(columns):
        if n % max(len(columns) // 12, 1) == 0:
            x = left + n * step
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot + 18}" text-anchor="middle">'
                f"{escape(column)}</text>"
            )
    for k, (name, values) in enumerate(series):
        points = [
            (left + n * step, top + plot * (1 - value))
            for n, value in enumerate(values)
            if value is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline class="line s{k % 6}" points="{path}"></polyline>')
        for (x, y), (column, value) in zip(
            points,
            [(c, v) for c, v in zip(columns, values, strict=True) if v is not None],
            strict=True,
        ):
            parts.append(
                f'<rect class="bar s{k % 6}" x="{x - 2.5:.1f}" y="{y - 2.5:.1f}" width="5" '
                f'height="5" data-value="{value}"><title>{escape(column)} {escape(name)}: '
                f"{value:.1%}</title></rect>"
            )
        y = top + 14 * k
        parts.append(
            f'<rect class="s{k % 6}" x="{_W - 180}" y="{y}" width="10" height="10"></rect>'
            f'<text x="{_W - 165}" y="{y + 9}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
svg text{font-size:12px;fill:#333}
.bar{fill:#3b6ea8}#funnel .bar{fill:#2f8f6b}
.seg-met{fill:#2f8f6b}.seg-late{fill:#d08a2e}.seg-pending{fill:#9aa7b4}.seg-overdue{fill:#c23b3b}
.seg-b0{fill:#cfe3f5}.seg-b1{fill:#a6cbeb}.seg-b2{fill:#7aafdd}.seg-b3{fill:#4f90c9}
.seg-b4{fill:#336fae}.seg-b5{fill:#23538a}.seg-b6{fill:#153a63}
table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:right}
td:first-child,th:first-child{text-align:left}
.note{color:#666;font-size:.9em}
.grid{stroke:#e3e3e3}.line{fill:none;stroke-width:2}
.line.s0{stroke:#3b6ea8}.line.s1{stroke:#2f8f6b}.line.s2{stroke:#d08a2e}
.line.s3{stroke:#c23b3b}.line.s4{stroke:#7a5aa8}.line.s5{stroke:#5a8a9a}
rect.s0{fill:#3b6ea8}rect.s1{fill:#2f8f6b}rect.s2{fill:#d08a2e}rect.s3{fill:#c23b3b}
rect.s4{fill:#7a5aa8}rect.s5{fill:#5a8a9a}
"""

_CHECK = """
window.addEventListener('load', function () {
  var charts = document.querySelectorAll('svg.chart'), drawn = 0;
  charts.forEach(function (svg) {
    var marks = 0;
    svg.querySelectorAll('rect.bar').forEach(function (r) {
      var box = r.getBBox();
      if (box.width > 0 && box.height > 0) { marks += 1; }
    });
    svg.setAttribute('data-drawn', String(marks));
    if (marks > 0) { drawn += 1; }
  });
  document.body.setAttribute('data-charts-drawn', String(drawn));
});
"""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _cells(key: str, values: list[tuple[str, object]]) -> str:
    """Table cells, each naming what it holds (``data-key="mql.passed"``)."""
    return "".join(
        f'<td data-key="{escape(key)}.{name}">{escape(str("-" if v is None else v))}</td>'
        for name, v in values
    )


def render_report(
    conn: sa.Connection,
    pipeline: Pipeline,
    query: FunnelQuery,
    *,
    period: tuple[date, date] | None = None,
    lang: str = "en",
) -> str:
    """The whole report as one HTML document: every figure as of ``query.as_of`` and, with
    ``query.as_known_at``, as recorded by then (``pipeline``: the version in force then).
    ``period``: also the leads that entered each stage in those days (``report stages``).
    ``lang``: the language of the report's words and of the stage labels (:data:`LANGUAGES`)."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {LANGUAGES}")
    t = texts_for(lang)

    def th(word: str) -> str:
        return escape(t[f"report_{word}"])

    def named(field: str) -> str:
        """A funnel column: its word, and the name ``funnel --json`` gives it if that differs."""
        word = th(field)
        return word if word == field else f"{word}<br><code>{field}</code>"

    as_of = query.as_of
    label = {name: config.label_in(lang) for name, config in pipeline.stages.items()}
    rows = funnel(conn, pipeline, query)
    main = [row for row in rows if row.stage in pipeline.main_path]
    top = max((row.passed or 0 for row in main), default=0)
    funnel_svg = _bars(
        "funnel",
        t["report_funnel_chart"],
        [
            (
                label[row.stage],
                row.passed or 0,
                t["report_funnel_bar"].format(
                    passed=row.passed, reached=row.reached, in_stage=row.in_stage
                )
                + (
                    t["report_funnel_bar_conversion"].format(
                        conversion=f"{row.conversion_to_next:.1%}"
                    )
                    if row.conversion_to_next is not None
                    else ""
                ),
            )
            for row in main
        ],
        top,
    )
    funnel_rows = "".join(
        f"<tr><td>{escape(label.get(row.stage, row.stage))}</td>"
        + _cells(
            row.stage,
            [
                ("in_stage", row.in_stage),
                ("reached", row.reached),
                ("passed", row.passed),
                ("conversion_to_next", _pct(row.conversion_to_next)),
            ],
        )
        + "</tr>"
        for row in rows
    )
    live = sum(row.in_stage for row in rows)
    by_source = funnel_by(conn, pipeline, query, "source")
    target = pipeline.main_path[-1]
    source_items = []
    source_rows = []
    for key, group in by_source:
        leads = sum(row.in_stage for row in group)
        reached = {row.stage: row.passed or 0 for row in group}
        share = reached.get(target, 0) / leads if leads else 0.0
        source_items.append(
            (key, 100 * share, t["report_share_of"].format(share=f"{share:.1%}", leads=leads))
        )
        source_rows.append(
            "<tr><td>"
            + escape(key)
            + f"</td><td>{leads}</td>"
            + "".join(
                f"<td>{reached.get(stage, 0) / leads:.1%}</td>" if leads else "<td>-</td>"
                for stage in pipeline.main_path
            )
            + "</tr>"
        )
    source_svg = _bars(
        "conversion-by-source",
        t["report_by_source_chart"].format(stage=label[target]),
        source_items,
        max((value for _, value, _ in source_items), default=0),
    )
    # conversion over time: each month's captures, the share that passed each stage
    cohorts = funnel_by(conn, pipeline, query, "cohort")[-COHORT_MONTHS:]
    later = pipeline.main_path[1:]
    months = [month for month, _ in cohorts]
    shares: dict[str, list[float | None]] = {stage: [] for stage in later}
    cohort_rows = []
    for month, group in cohorts:
        size = sum(row.in_stage for row in group)
        passed = {row.stage: row.passed or 0 for row in group}
        for stage in later:
            shares[stage].append(passed.get(stage, 0) / size if size else None)
        cohort_rows.append(
            f'<tr><td>{escape(month)}</td><td data-key="{escape(month)}.leads">{size}</td>'
            + "".join(
                f'<td data-key="{escape(month)}.{escape(stage)}.passed">{passed.get(stage, 0)}'
                + (f" ({passed.get(stage, 0) / size:.0%})" if size else "")
                + "</td>"
                for stage in later
            )
            + "</tr>"
        )
    cohort_svg = _lines(
        "conversion-over-time",
        t["report_over_time_chart"],
        months,
        [(label[stage], shares[stage]) for stage in later],
    )
    cohort_heading = "".join(f"<th>{escape(label[stage])}</th>" for stage in later)
    # revenue: what ``report revenue`` computes
    money = revenue(conn, pipeline, query)
    won_items = [
        (f"{m} {c}", a, t["report_won_bar"].format(amount=f"{a:,.2f}", currency=c, deals=n))
        for m, c, n, a in money.won_by_month
    ]
    won_svg = _bars(
        "won-by-month",
        t["report_won_chart"],
        won_items,
        max((a for _, a, _ in won_items), default=0),
    )
    won_rows = "".join(
        f"<tr><td>{escape(m)}</td><td>{escape(c)}</td>"
        + _cells(f"{m}.{c}", [("deals", n), ("amount", f"{a:.2f}")])
        + "</tr>"
        for m, c, n, a in money.won_by_month
    )
    open_rows = "".join(
        f"<tr><td>{escape(label.get(st, st))}</td>"
        + _cells(st, [("deals", n), ("amount", f"{a:.2f}")])
        + "</tr>"
        for st, n, a in money.pipeline_by_stage
    )
    reps = rep_report(conn, query)
    kinds = ["met", "late", "pending", "overdue"]
    asked = [row for row in reps if row.handoffs.received]
    total = [sum(getattr(row.handoffs, k) for row in asked) for k in kinds]
    sla_rows = [(t["report_all_reps"], total)] + [
        (row.rep, [getattr(row.handoffs, k) for k in kinds]) for row in asked
    ]
    sla_svg = _stacked("sla", t["report_sla"], sla_rows, kinds, [t[f"report_{k}"] for k in kinds])
    came_due = total[0] + total[1] + total[3]
    sla_note = t["report_sla_note"].format(share=f"{total[0] / came_due:.1%}") if came_due else ""
    histogram = time_in_stage(conn, pipeline, query)
    buckets = [f"b{n}" for n in range(len(DURATION_BUCKETS))]
    stage_rows = [(label[stage], counts) for stage, counts in histogram.items() if sum(counts)]
    tis_svg = _stacked(
        "time-in-stage",
        t["report_time_in_stage"],
        stage_rows,
        buckets,
        [t[f"report_{bucket}"] for bucket, _ in DURATION_BUCKETS],
    )
    period_html = ""
    if period is not None:
        entered = stage_times(conn, pipeline, query, period)
        period_rows = "".join(
            f"<tr><td>{escape(label.get(row.stage, row.stage))}</td>"
            + _cells(
                row.stage,
                [
                    ("entered", row.entered),
                    ("median_days", _days(row.time_in_stage.median_days)),
                    ("still_in", row.time_in_stage.censored),
                ],
            )
            + "</tr>"
            for row in entered
        )
        span = f"{period[0].isoformat()} .. {period[1].isoformat()}"
        period_note = t["report_period_note_html"].format(
            as_of=escape(as_of.isoformat(timespec="seconds"))
        )
        period_html = f"""<h2>{escape(t["report_period"].format(span=span))}</h2>
<table id="period"><tr><th>{th("stage")}</th><th>{th("entered")}</th><th>{th("period_median")}</th>
<th>{th("still_in")}</th></tr>{period_rows}</table>
<p class="note">{period_note}</p>
"""
    heading = "".join(f"<th>{escape(label[stage])}</th>" for stage in pipeline.main_path)
    rep_rows = "".join(
        f"<tr><td>{escape(r.rep)}</td>"
        + _cells(
            r.rep,
            [
                ("assigned", r.assigned),
                ("followed_up", r.followed_up),
                ("first_touch_median_days", _days(r.time_to_first_touch.median_days)),
                ("handoffs_received", r.handoffs.received),
                ("sla_met_share", _share(r.handoffs.sla_met_share)),
                ("converted", r.converted),
            ],
        )
        + "</tr>"
        for r in reps
    )
    stamp = escape(as_of.isoformat(timespec="seconds"))
    known = query.as_known_at
    known_note = (
        t["report_known"].format(known=known.isoformat(timespec="seconds"))
        if known is not None
        else ""
    )
    cohort_note = (
        t["report_cohort"].format(start=query.cohort_from or "…", end=query.cohort_to or "…")
        if query.cohort_from or query.cohort_to
        else ""
    )
    intro = t["report_intro"].format(
        pipeline=pipeline.name,
        version=pipeline.version,
        as_of=as_of.isoformat(timespec="seconds"),
        known=known_note,
        cohort=cohort_note,
    )
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<title>{escape(t["report_title"].format(as_of=as_of.isoformat(timespec="seconds")))}</title>
<style>{_CSS}</style></head>
<body data-as-of="{stamp}" data-as-known-at="{escape(known.isoformat()) if known else ""}">
<h1>{th("heading")}</h1>
<p class="note">{escape(intro)}</p>
<p class="note">{t["report_definitions_html"]}</p>
<h2>{th("funnel")}</h2>
{funnel_svg}
<table id="funnel-table"><tr><th>{th("stage")}</th><th>{named("in_stage")}</th>
<th>{named("reached")}</th><th>{named("passed")}</th>
<th>{named("conversion_to_next")}</th></tr>{funnel_rows}</table>
<p class="note">{escape(t["report_live_leads"].format(live=live))}</p>
<h2>{th("over_time")}</h2>
{cohort_svg}
<table id="cohorts"><tr><th>{th("captured_in")}</th><th>{th("leads")}</th>{cohort_heading}</tr>
{"".join(cohort_rows)}</table>
<p class="note">{t["report_over_time_note_html"].format(months=COHORT_MONTHS)}</p>
<h2>{th("by_source")}</h2>
{source_svg}
<table><tr><th>{th("source")}</th><th>{th("leads")}</th>{heading}</tr>{"".join(source_rows)}</table>
<p class="note">{th("by_source_note")}</p>
{period_html}<h2>{th("revenue")}</h2>
{won_svg}
<table id="won-by-month"><tr><th>{th("month")}</th><th>{th("currency")}</th>
<th>{th("deals")}</th><th>{th("amount")}</th></tr>
{won_rows}</table>
<table id="pipeline-by-stage"><tr><th>{th("open_pipeline")}</th><th>{th("deals")}</th>
<th>{th("expected_amount")}</th></tr>
{open_rows}</table>
<p class="note">{t["report_revenue_note_html"]}</p>
<h2>{th("sla")}</h2>
{sla_svg}
<p class="note">{escape(sla_note)}</p>
<h2>{th("reps")}</h2>
<table id="reps"><tr><th>{th("rep")}</th><th>{th("assigned")}</th><th>{th("followed_up")}</th>
<th>{th("first_touch")}</th><th>{th("handoffs_received")}</th><th>{th("sla_met")}</th>
<th>{th("converted")}</th></tr>{rep_rows}</table>
<p class="note">{t["report_reps_note_html"]}</p>
<h2>{th("time_in_stage")}</h2>
{tis_svg}
<p class="note">{th("time_in_stage_note")}</p>
<script>{_CHECK}</script>
</body></html>
"""


def _days(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def _share(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"
