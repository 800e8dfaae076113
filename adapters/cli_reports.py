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

from leadflow.adapters.cli_projections import AsKnownAt, AsOf
from leadflow.adapters.cli_support import Db, Json, emit, handles_errors, out, store
from leadflow.errors import InvalidInput

__all__ = ["register"]

Csv = Annotated[bool, typer.Option("--csv", help="CSV: a header row, then one row per line.")]


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _period(value: str | None) -> tuple[date, date] | None:
    """``FROM..TO`` (days, both inclusive)."""
    if value is None:
        return None
    start, sep, end = value.partition("..")
    first, last = _day(start, "period"), _day(end, "period")
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
        cohort_from: Annotated[
            str | None, typer.Option("--cohort-from", help="Captured on or after (YYYY-MM-DD).")
        ] = None,
        cohort_to: Annotated[
            str | None, typer.Option("--cohort-to", help="Captured on or before (YYYY-MM-DD).")
        ] = None,
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

        from leadflow.adapters.cli_projections import (
            _time,
            catch_up,
            pipeline_known_at,
            projection_runner,
        )
        from leadflow.projections.funnel import FunnelQuery
        from leadflow.projections.velocity import stage_times, stage_times_json

        lf = store(db)
        now = lf.clock()
        query = FunnelQuery(
            as_of=_time(as_of, "as_of", now),
            as_known_at=_time(as_known_at, "as_known_at", now) if as_known_at else None,
            cohort_from=_day(cohort_from, "cohort_from"),
            cohort_to=_day(cohort_to, "cohort_to"),
        )
        window = _period(period)
        runner = projection_runner(db, lf)
        catch_up(lf, runner)
        pipeline = pipeline_known_at(lf, query.as_known_at)
        with runner.engine.connect() as conn:
            rows = stage_times(conn, pipeline, query, window)
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
