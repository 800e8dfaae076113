"""``leadflow demo``: a year of simulated leads through the real engine (``demo``).

Registered on the main app by :func:`register` (see ``cli._register_plugins``); the
simulation and everything it needs are imported when the command runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        leads: Annotated[int, typer.Option(help="How many people to simulate.", min=1)] = 1500,
        seed: Annotated[int, typer.Option(help="Random seed; same seed, same history.")] = 7,
        db: Annotated[
            str | None, typer.Option("--db", envvar="LEADFLOW_DB", help="Store URL.")
        ] = None,
    ) -> None:
        """Simulate a year of leads through the real engine, then print the funnel."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from leadflow.adapters.cli_projections import catch_up, projection_runner
        from leadflow.adapters.demo import (
            DAYS,
            START,
            SimClock,
            print_funnel,
            print_summary,
            run_demo,
        )
        from leadflow.adapters.store import open_store
        from leadflow.projections.funnel import FunnelQuery, live_leads
        from leadflow.projections.funnel import funnel as sql_funnel
        from leadflow.projections.leads import pool as leads_pool

        url = db or "sqlite:///leadflow-demo.db"
        if not db:
            Path("leadflow-demo.db").unlink(missing_ok=True)
        clock = SimClock(START)
        lf = open_store(url, clock=clock, actor="user:demo")
        console = Console()
        if lf.max_position() > 0:
            typer.echo(f"{url} already holds events; the demo needs an empty store", err=True)
            raise typer.Exit(2)
        started = time.monotonic()
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
            TextColumn("{task.fields[events]} events"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("simulating a year", total=DAYS, events=0)

            def on_day(day: int) -> None:
                progress.update(task, completed=day, events=lf.max_position())

            result = run_demo(lf, clock, leads, seed, on_day)
        elapsed = time.monotonic() - started
        console.print(
            f"{leads} people, {result.commands} commands, {result.sweeps} sweeps, "
            f"{lf.max_position()} events in {url} ({elapsed:.0f} s, of which sweeps "
            f"{result.sweep_seconds:.0f} s)"
        )
        # The read models the `pool`, `funnel`, `history` and `report` commands use: built
        # now, so those answer at once on the demo store, and the summary's pool is theirs.
        runner = projection_runner(url, lf)
        catch_up(lf, runner)
        with runner.engine.connect() as conn:
            waiting = leads_pool(conn, limit=1).count
            query = FunnelQuery(as_of=result.as_of)
            rows = sql_funnel(conn, lf.pipeline, query)
            live = live_leads(conn, query).get("", 0)
        print_summary(lf, result, console, waiting)
        print_funnel(rows, f"Funnel as of {result.as_of.date().isoformat()}", console, live)
