"""``leadflow report stages``: report subcommands (table, ``--json`` or ``--csv``).

Registered on the ``report`` group by ``cli_projections``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Annotated

import typer

from leadflow.adapters.cli_projections import AsKnownAt, AsOf, CohortFrom, CohortTo, read_query
from leadflow.adapters.cli_support import Db, Json, emit, handles_errors, out, parse_day
from leadflow.errors import InvalidInput

__all__ = ["parse_period", "register"]

Csv = Annotated[bool, typer.Option("--csv", help="CSV: a header row, then one row per line.")]


def parse_period(value: str | None) -> tuple[date, date] | None:
    """``FROM..TO`` (days, both inclusive)."""
    if value is None:
        return None
    start, sep, end = value.partition("..")
    first, last = parse_day(start, "period"), parse_day(end, "period")
    if not sep or first is None or last is None:
        raise InvalidInput("period", f"{value!r} is not FROM..TO (YYYY-MM-DD..YYYY-MM-DD)")
    if last < first:
        raise InvalidInput("period", "ends before it starts")
    return first, last


def _csv(header: list[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    return buffer.getvalue()


_SHORT = (
    "stage",
    "entered",
    "in stage: median",
    "p90",
    "still in",
    "to next: leads",
    "moved on",
    "median",
    "p90",
    "censored",
)


def register(report_app: typer.Typer) -> None:
    @report_app.command("stages")
    @handles_errors
    def stages(
        as_of: AsOf = None,
        as_known_at: AsKnownAt = None,
        cohort_from: CohortFrom = None,
        cohort_to: CohortTo = None,
        period: Annotated[
            str | None,
            typer.Option(
                "--period", help="Entered the stage in FROM..TO (YYYY-MM-DD..YYYY-MM-DD)."
            ),
        ] = None,
        db: Db = None,
        json_out: Json = False,
        csv_out: Csv = False,
    ) -> None:
        """Time in stage and velocity to the next stage (median, p90; censored leads)."""
        from rich.table import Table
        from rich.text import Text

        from leadflow.projections.velocity import stage_times, stage_times_json

        window = parse_period(period)
        reading = read_query(db, as_of, as_known_at, cohort_from=cohort_from, cohort_to=cohort_to)
        query = reading.query
        with reading.runner.engine.connect() as conn:
            rows = stage_times(conn, reading.pipeline, query, window)
        if json_out:
            emit(stage_times_json(query, window, rows), True)
            return
        flat = [
            [
                row.stage,
                row.entered,
                row.time_in_stage.median_days,
                row.time_in_stage.p90_days,
                row.time_in_stage.censored,
                row.to_next.leads if row.to_next else None,
                row.to_next.finished if row.to_next else None,
                row.to_next.median_days if row.to_next else None,
                row.to_next.p90_days if row.to_next else None,
                row.to_next.censored if row.to_next else None,
            ]
            for row in rows
        ]
        header = [
            "stage",
            "entered",
            "time_in_stage_median_days",
            "time_in_stage_p90_days",
            "time_in_stage_censored",
            "to_next_leads",
            "to_next_finished",
            "to_next_median_days",
            "to_next_p90_days",
            "to_next_censored",
        ]
        if csv_out:
            out.print(_csv(header, flat), markup=False, end="")
            return
        table = Table(
            title=Text(f"time in stage and velocity, as of {query.as_of.isoformat()}"),
            caption="days; median and p90 by Kaplan-Meier: leads still waiting are censored",
        )
        for column in _SHORT:
            table.add_column(column, justify="left" if column == "stage" else "right")
        for cells in flat:
            table.add_row(
                *(
                    Text("-" if c is None else (f"{c:.1f}" if isinstance(c, float) else str(c)))
                    for c in cells
                )
            )
        out.print(table)


def register_revenue(report_app: typer.Typer) -> None:
    @report_app.command("revenue")
    @handles_errors
    def revenue_(
        as_of: AsOf = None,
        as_known_at: AsKnownAt = None,
        cohort_from: CohortFrom = None,
        cohort_to: CohortTo = None,
        db: Db = None,
        json_out: Json = False,
        csv_out: Csv = False,
    ) -> None:
        """Won amounts by month and currency; open pipeline value by stage."""
        from rich.table import Table
        from rich.text import Text

        from leadflow.projections.revenue import revenue, revenue_json

        reading = read_query(db, as_of, as_known_at, cohort_from=cohort_from, cohort_to=cohort_to)
        query, pipeline = reading.query, reading.pipeline
        with reading.runner.engine.connect() as conn:
            result = revenue(conn, pipeline, query)
        if json_out:
            emit(revenue_json(query, result), True)
            return
        rows: list[list[object]] = [["won", m, c, n, a] for m, c, n, a in result.won_by_month]
        rows += [["pipeline", s, None, n, a] for s, n, a in result.pipeline_by_stage]
        if csv_out:
            out.print(
                _csv(["kind", "key", "currency", "deals", "amount"], rows), markup=False, end=""
            )
            return
        won = Table(title=Text(f"won deals by month, as of {query.as_of.isoformat()}"))
        for column in ("month", "currency", "deals", "amount"):
            won.add_column(column, justify="left" if column in ("month", "currency") else "right")
        for m, c, n, a in result.won_by_month:
            won.add_row(Text(m), Text(c), str(n), f"{a:,.2f}")
        out.print(won)
        open_ = Table(title=Text("open pipeline (converted, not yet won or lost) by stage"))
        for column in ("stage", "deals", "expected amount"):
            open_.add_column(column, justify="left" if column == "stage" else "right")
        for s, n, a in result.pipeline_by_stage:
            open_.add_row(
                Text(pipeline.stages[s].label if s in pipeline.stages else s), str(n), f"{a:,.2f}"
            )
        out.print(open_)


Period = Annotated[
    str | None,
    typer.Option("--period", help="Only what occurred in FROM..TO (YYYY-MM-DD..YYYY-MM-DD)."),
]


def _counts_table(title: str, key: str, rows: list[dict[str, object]]) -> object:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    for column in (key, "stage SLA breaches", "hand-off SLA breaches", "escalations", "leads"):
        table.add_column(column, justify="left" if column == key else "right")
    for row in rows:
        table.add_row(
            Text(str(row["key"])),
            str(row["stage_sla_breaches"]),
            str(row["handoff_sla_breaches"]),
            str(row["escalations"]),
            str(row["leads"]),
        )
    return table


def register_sla(report_app: typer.Typer) -> None:
    @report_app.command("sla")
    @handles_errors
    def sla(
        as_of: AsOf = None,
        as_known_at: AsKnownAt = None,
        cohort_from: CohortFrom = None,
        cohort_to: CohortTo = None,
        period: Period = None,
        db: Db = None,
        json_out: Json = False,
        csv_out: Csv = False,
    ) -> None:
        """Stage and hand-off SLA breaches and escalations, by stage, team and rep."""
        from leadflow.projections.breaches import sla_report, sla_report_json

        window = parse_period(period)
        reading = read_query(db, as_of, as_known_at, cohort_from=cohort_from, cohort_to=cohort_to)
        with reading.runner.engine.connect() as conn:
            result = sla_report(conn, reading.pipeline, reading.query, window)
        answer = sla_report_json(reading.query, window, result)
        if json_out:
            emit(answer, True)
            return
        groups = (("stage", "by_stage"), ("team", "by_team"), ("rep", "by_rep"))
        if csv_out:
            counts = ["stage_sla_breaches", "handoff_sla_breaches", "escalations", "leads"]
            rows = [["total", "", *(answer["total"][c] for c in counts)]]
            for name, part in groups:
                rows += [[name, row["key"], *(row[c] for c in counts)] for row in answer[part]]
            out.print(_csv(["by", "key", *counts], rows), markup=False, end="")
            return
        when = f"as of {reading.query.as_of.isoformat()}"
        total = answer["total"]
        out.print(
            f"SLA breaches {when}: {total['stage_sla_breaches']} stage, "
            f"{total['handoff_sla_breaches']} hand-off, {total['escalations']} escalations, "
            f"{total['leads']} leads",
            markup=False,
        )
        for name, part in groups:
            out.print(_counts_table(f"by {name}", name, answer[part]))


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def register_reps(report_app: typer.Typer) -> None:
    @report_app.command("reps")
    @handles_errors
    def reps(
        as_of: AsOf = None,
        as_known_at: AsKnownAt = None,
        cohort_from: CohortFrom = None,
        cohort_to: CohortTo = None,
        period: Period = None,
        db: Db = None,
        json_out: Json = False,
        csv_out: Csv = False,
    ) -> None:
        """Per rep: assigned, followed up, time to first touch, hand-off SLA met, converted, won."""
        from rich.table import Table
        from rich.text import Text

        from leadflow.projections.reps import rep_report, rep_report_json

        window = parse_period(period)
        reading = read_query(db, as_of, as_known_at, cohort_from=cohort_from, cohort_to=cohort_to)
        with reading.runner.engine.connect() as conn:
            rows = rep_report(conn, reading.query, window)
        if json_out:
            emit(rep_report_json(reading.query, window, rows), True)
            return
        if csv_out:
            header = [
                "rep",
                "assigned",
                "followed_up",
                "first_touch_median_days",
                "first_touch_p90_days",
                "first_touch_censored",
                "handoffs_received",
                "handoffs_met",
                "handoffs_late",
                "handoffs_pending",
                "handoffs_overdue",
                "sla_met_share",
                "converted",
                "won_currency",
                "won_deals",
                "won_amount",
            ]
            flat: list[list[object]] = []
            for row in rows:
                touch, h = row.time_to_first_touch, row.handoffs
                common: list[object] = [
                    row.rep,
                    row.assigned,
                    row.followed_up,
                    touch.median_days,
                    touch.p90_days,
                    touch.censored,
                    h.received,
                    h.met,
                    h.late,
                    h.pending,
                    h.overdue,
                    h.sla_met_share,
                    row.converted,
                ]
                # One line per currency won (a rep without wins: one line, empty won cells).
                by_currency: list[tuple[object, object, object]] = [*row.won] or [
                    (None, None, None)
                ]
                for currency, deals, amount in by_currency:
                    flat.append([*common, currency, deals, amount])
            out.print(_csv(header, flat), markup=False, end="")
            return
        table = Table(
            title=Text(f"reps, as of {reading.query.as_of.isoformat()}"),
            caption="touch: median days to the first follow-up (Kaplan-Meier, periods "
            "without one censored); SLA met: met / (met + late + overdue)",
        )
        columns = ("rep", "assigned", "touched", "touch", "hand-offs", "SLA met", "converted")
        for column in columns:
            table.add_column(column, justify="left" if column == "rep" else "right")
        won = Table(title=Text("deals won while the rep owned the lead"))
        for column in ("rep", "currency", "deals", "amount"):
            won.add_column(column, justify="left" if column in ("rep", "currency") else "right")
        for row in rows:
            h = row.handoffs
            table.add_row(
                Text(row.rep),
                str(row.assigned),
                str(row.followed_up),
                _days(row.time_to_first_touch.median_days),
                str(h.received),
                "-" if h.sla_met_share is None else f"{h.sla_met_share:.0%}",
                str(row.converted),
            )
            for currency, deals, amount in row.won:
                won.add_row(Text(row.rep), Text(currency), str(deals), f"{amount:,.2f}")
        out.print(table)
        out.print(won)


def register_sources(report_app: typer.Typer) -> None:
    @report_app.command("sources")
    @handles_errors
    def sources(
        by: Annotated[
            str,
            typer.Option(
                "--by",
                help="Group by source (default), campaign or a reporting dimension of the "
                "pipeline ([reporting] dimensions); region, owner and cohort too.",
            ),
        ] = "source",
        as_of: AsOf = None,
        as_known_at: AsKnownAt = None,
        period: Annotated[
            str | None,
            typer.Option("--period", help="Only deals won in FROM..TO (YYYY-MM-DD..YYYY-MM-DD)."),
        ] = None,
        cohort_from: CohortFrom = None,
        cohort_to: CohortTo = None,
        db: Db = None,
        json_out: Json = False,
        csv_out: Csv = False,
    ) -> None:
        """Per source, campaign or dimension: passed and conversion per stage, won revenue."""
        from rich.table import Table
        from rich.text import Text

        from leadflow.projections.sources import source_report, source_report_json

        window = parse_period(period)
        reading = read_query(
            db, as_of, as_known_at, cohort_from=cohort_from, cohort_to=cohort_to, by=by
        )
        query, pipeline = reading.query, reading.pipeline
        with reading.runner.engine.connect() as conn:
            rows = source_report(conn, pipeline, query, by, window)
        if json_out:
            emit(source_report_json(query, by, window, rows), True)
            return
        path = pipeline.main_path
        if csv_out:
            header = ["key", "live_leads"]
            for stage in path:
                header += [f"{stage}_passed", f"{stage}_conversion_to_next"]
            header += ["won_currency", "won_deals", "won_amount"]
            flat: list[list[object]] = []
            for row in rows:
                common: list[object] = [row.key, row.live_leads]
                for figures in row.stages:
                    common += [figures.passed, figures.conversion_to_next]
                # One line per currency won (a group without wins: one line, empty won cells).
                won: list[tuple[object, object, object]] = [*row.won] or [(None, None, None)]
                flat += [[*common, currency, n, amount] for currency, n, amount in won]
            out.print(_csv(header, flat), markup=False, end="")
            return
        passed = Table(
            title=Text(f"passed, by {by}, as of {query.as_of.isoformat()}"),
            caption="leads that reached the stage or a later one of the main path "
            "(live leads: merged duplicates left out)",
        )
        conversion = Table(
            title=Text("conversion to the next stage (passed next / passed)"),
        )
        for table in (passed, conversion):
            table.add_column(by, justify="left")
        passed.add_column("live", justify="right")
        for stage in path:
            passed.add_column(stage, justify="right")
        for stage in path[:-1]:
            conversion.add_column(f"{stage} →", justify="right")
        won_table = Table(title=Text(f"won deals, by {by}"))
        for column in (by, "currency", "deals", "amount"):
            won_table.add_column(column, justify="left" if column in (by, "currency") else "right")
        for row in rows:
            passed.add_row(Text(row.key), str(row.live_leads), *(str(s.passed) for s in row.stages))
            conversion.add_row(
                Text(row.key),
                *(
                    "-" if s.conversion_to_next is None else f"{s.conversion_to_next:.1%}"
                    for s in row.stages[:-1]
                ),
            )
            for currency, n, amount in row.won:
                won_table.add_row(Text(row.key), Text(currency), str(n), f"{amount:,.2f}")
        out.print(passed)
        out.print(conversion)
        out.print(won_table)
