"""``leadflow report``: one self-contained HTML file, readable offline.

Charts are inline SVG drawn here (no CDN, no external file, no library). A few lines
of inline script check, once the browser has laid the page out, that each chart's
marks have a size, and record it on the page (``data-drawn`` on each chart and
``data-charts-drawn`` on ``<body>``): the headless-browser test reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

import sqlalchemy as sa

from leadflow.domain.pipeline import Pipeline
from leadflow.projections._sql import as_utc, utc
from leadflow.projections.funnel import FunnelQuery, funnel, funnel_by
from leadflow.projections.handoffs import HANDOFFS
from leadflow.projections.leads import rep_performance
from leadflow.projections.stage_history import STAGE_INTERVALS

__all__ = ["DURATION_BUCKETS", "SlaCounts", "render_report", "sla_compliance", "time_in_stage"]

DURATION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 day", 1),
    ("1-3 days", 3),
    ("3-7 days", 7),
    ("1-2 weeks", 14),
    ("2-4 weeks", 28),
    ("1-3 months", 91),
    ("> 3 months", float("inf")),
)
"""Time-in-stage histogram buckets: label and upper bound in days (exclusive)."""


@dataclass(frozen=True)
class SlaCounts:
    met: int = 0
    late: int = 0
    pending: int = 0
    overdue: int = 0


def sla_compliance(conn: sa.Connection, as_of: datetime) -> dict[str, SlaCounts]:
    """Hand-offs made by ``as_of`` per receiving rep, by how they stood then."""
    h = HANDOFFS
    at = utc(as_of)
    rows = conn.execute(
        sa.select(h.c.to_owner, h.c.decided_at, h.c.sla_due).where(h.c.handed_off_at <= at)
    )
    tallies: dict[str, list[int]] = {}
    for rep, decided_at, sla_due in rows:
        decided, due = as_utc(decided_at), as_utc(sla_due)
        tally = tallies.setdefault(rep, [0, 0, 0, 0])
        if decided is not None and decided <= at:
            tally[0 if due is None or decided <= due else 1] += 1
        else:
            tally[3 if due is not None and at > due else 2] += 1
    return {rep: SlaCounts(*tally) for rep, tally in sorted(tallies.items())}


def time_in_stage(conn: sa.Connection, pipeline: Pipeline, as_of: datetime) -> dict[str, list[int]]:
    """Per stage, how many finished intervals (left by ``as_of``) fell in each bucket."""
    i = STAGE_INTERVALS
    at = utc(as_of)
    histogram = {stage: [0] * len(DURATION_BUCKETS) for stage in pipeline.stages}
    rows = conn.execute(
        sa.select(i.c.stage, i.c.entered_at, i.c.exited_at).where(
            i.c.exited_at.is_not(None), i.c.exited_at <= at
        )
    )
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
    labels: list[str] | None = None,
) -> str:
    """Horizontal 100% stacked bars, one per row, segments in ``kinds`` order."""
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
        for kind, count in zip(kinds, counts, strict=True):
            if not count:
                continue
            width = span * count / total
            parts.append(
                f'<rect class="bar seg-{kind}" x="{x:.1f}" y="{y + 3}" width="{width:.1f}" '
                f'height="{_ROW - 8}" data-value="{count}"><title>{escape(label)} {kind}: '
                f"{count}</title></rect>"
            )
            x += width
        parts.append(f'<text x="{_LABEL + span + 6}" y="{y + 16}">{total}</text>')
    y = 10 + len(rows) * _ROW
    x = float(_LABEL)
    names = labels or [kind.replace("_", " ") for kind in kinds]
    step = (_W - _LABEL) / len(kinds)
    for kind, name in zip(kinds, names, strict=True):
        parts.append(
            f'<rect class="seg-{kind}" x="{x:.1f}" y="{y}" width="12" height="12"></rect>'
            f'<text x="{x + 16:.1f}" y="{y + 11}">{escape(name)}</text>'
        )
        x += step
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


def render_report(conn: sa.Connection, pipeline: Pipeline, as_of: datetime) -> str:
    """The whole report as one HTML document."""
    query = FunnelQuery(as_of=as_of)
    rows = funnel(conn, pipeline, query)
    main = [row for row in rows if row.stage in pipeline.main_path]
    top = max((row.passed or 0 for row in main), default=0)
    funnel_svg = _bars(
        "funnel",
        "Funnel: leads that passed each stage",
        [
            (
                pipeline.stages[row.stage].label,
                row.passed or 0,
                f"passed {row.passed}, reached {row.reached}, in_stage {row.in_stage}"
                + (
                    f", conversion_to_next {row.conversion_to_next:.1%}"
                    if row.conversion_to_next is not None
                    else ""
                ),
            )
            for row in main
        ],
        top,
    )
    by_source = funnel_by(conn, pipeline, query, "source")
    target = pipeline.main_path[-1]
    source_items = []
    source_rows = []
    for key, group in by_source:
        leads = sum(row.in_stage for row in group)
        reached = {row.stage: row.passed or 0 for row in group}
        share = reached.get(target, 0) / leads if leads else 0.0
        source_items.append((key, 100 * share, f"{share:.1%} of {leads}"))
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
        f"Share of leads that became {target}",
        source_items,
        max((value for _, value, _ in source_items), default=0),
    )
    sla = sla_compliance(conn, as_of)
    kinds = ["met", "late", "pending", "overdue"]
    total = SlaCounts(*(sum(getattr(c, k) for c in sla.values()) for k in kinds))
    sla_rows = [("all reps", [getattr(total, k) for k in kinds])] + [
        (rep, [getattr(counts, k) for k in kinds]) for rep, counts in sla.items()
    ]
    sla_svg = _stacked("sla", "Hand-off SLA compliance", sla_rows, kinds)
    decided = total.met + total.late
    sla_note = f"{total.met / decided:.1%} of decided hand-offs within SLA" if decided else ""
    histogram = time_in_stage(conn, pipeline, as_of)
    buckets = [f"b{n}" for n in range(len(DURATION_BUCKETS))]
    stage_rows = [
        (pipeline.stages[stage].label, counts) for stage, counts in histogram.items() if sum(counts)
    ]
    tis_svg = _stacked(
        "time-in-stage",
        "Time in stage",
        stage_rows,
        buckets,
        [
            label.replace(" days", "d").replace(" weeks", "w").replace(" months", "mo")
            for label, _ in DURATION_BUCKETS
        ],
    )
    heading = "".join(f"<th>{escape(stage)}</th>" for stage in pipeline.main_path)
    rep_rows = "".join(
        f"<tr><td>{escape(r.rep)}</td><td>{r.assigned}</td><td>{r.touched}</td>"
        + (
            f"<td>{r.avg_hours_to_first_touch:.1f} h</td>"
            if r.avg_hours_to_first_touch is not None
            else "<td>-</td>"
        )
        + (f"<td>{r.sla_met_pct:.0f}%</td>" if r.sla_met_pct is not None else "<td>-</td>")
        + f"<td>{r.converted}</td></tr>"
        for r in rep_performance(conn, until=as_of)
    )
    stamp = escape(as_of.isoformat(timespec="seconds"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>leadflow report as of {stamp}</title>
<style>{_CSS}</style></head>
<body>
<h1>Lead funnel report</h1>
<p class="note">Pipeline {escape(pipeline.name)} ({escape(pipeline.version)}), as of {stamp}.
Every figure is a projection of the event log.</p>
<p class="note">Definitions: only live leads count (a duplicate merged into another lead counts
nowhere until it is unmerged). <b>in_stage</b>: live leads in the stage at the instant (they add
up to the live leads); <b>reached</b>: live leads that were ever in the stage; <b>passed</b>: live
leads that reached the stage or any later stage of the main path (a lead that skipped a stage has
passed it); <b>conversion_to_next</b>: passed of the next stage &divide; passed of this one, never
above 100%.</p>
<h2>Funnel</h2>
{funnel_svg}
<h2>Conversion by source</h2>
{source_svg}
<table><tr><th>source</th><th>leads</th>{heading}</tr>{"".join(source_rows)}</table>
<p class="note">Share of each source's live leads that passed each stage (attribution as
captured).</p>
<h2>Hand-off SLA compliance</h2>
{sla_svg}
<p class="note">{escape(sla_note)}</p>
<h2>Reps</h2>
<table><tr><th>rep</th><th>assigned</th><th>followed up</th><th>time to first touch</th>
<th>hand-off SLA met</th><th>converted</th></tr>{rep_rows}</table>
<p class="note">Ownership periods that began by then (assignments, claims, accepted hand-offs);
the SLA is the hand-off SLA of hand-offs the rep received.</p>
<h2>Time in stage</h2>
{tis_svg}
<p class="note">Stage intervals that had ended by then, by how long they lasted.</p>
<script>{_CHECK}</script>
</body></html>
"""
