"""CLI commands for the roster, the public pool, redistribution, unmerge and bulk import.

Registered on the main app by :func:`register` (see ``cli._register_plugins``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from leadflow.adapters.cli_support import (
    Actor,
    At,
    Db,
    Json,
    LeadArg,
    Reason,
    emit,
    err,
    handles_errors,
    lead_id_of,
    out,
    parse_time,
    report,
    store,
    when,
)
from leadflow.adapters.formatting import cell, human_time, iso_time

if TYPE_CHECKING:  # each command imports what it uses (``leadflow --help`` loads none)
    from leadflow.adapters.importer import Format

__all__ = ["register"]

rep_app = typer.Typer(
    help="Reps on the roster: add, change, absences, leave.", no_args_is_help=True
)
team_app = typer.Typer(help="Teams and their managers.", no_args_is_help=True)
dedupe_app = typer.Typer(help="The dedupe index of contact keys.", no_args_is_help=True)

RepArg = Annotated[str, typer.Argument(help="Rep id, e.g. rep:li.", show_default=False)]


def _roster_report(result: Any, as_json: bool) -> None:
    if as_json:
        emit({"events": [{"position": e.position, "type": e.type} for e in result.events]}, True)
        return
    for e in result.events:
        err.print(f"  recorded {e.type} at position {e.position} by {e.actor}", markup=False)


@rep_app.command("add")
@handles_errors
def rep_add(
    rep: RepArg,
    team: Annotated[str | None, typer.Option(help="The rep's team (defined first).")] = None,
    capacity: Annotated[
        int | None, typer.Option(help="Most open leads (default: assignment.max_open_leads).")
    ] = None,
    weight: Annotated[
        float | None, typer.Option(help="Share under the weighted strategy (default 1).")
    ] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help="Reset a setting: team, capacity or weight (repeatable)."),
    ] = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Put a rep on the roster, or change only the settings given (the others stay)."""
    result = store(db, actor).add_rep(
        rep, team=team, capacity=capacity, weight=weight, clear=clear or (), at=when(at)
    )
    _roster_report(result, json_out)


@rep_app.command("absent")
@handles_errors
def rep_absent(
    rep: RepArg,
    start: Annotated[str, typer.Option("--from", help="Start (ISO 8601).")],
    until: Annotated[str, typer.Option("--until", help="End, exclusive (ISO 8601).")],
    reason: Annotated[str | None, typer.Option(help="Why (leave, training …).")] = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Record an absence: the rep gets no new leads then, and keeps their credit."""
    result = store(db, actor).record_absence(
        rep, parse_time(start, "from"), parse_time(until, "until"), reason=reason
    )
    _roster_report(result, json_out)


@rep_app.command("leave")
@handles_errors
def rep_leave(
    rep: RepArg,
    reason: Reason,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """The rep leaves: their open leads are redistributed by policy, in one append."""
    result = store(db, actor).redistribute(rep, reason, leave=True, at=when(at))
    _roster_report(result, json_out)


@rep_app.command("list")
@handles_errors
def rep_list(
    version: Annotated[
        int | None,
        typer.Option(
            "--version", help="The roster as it stood then (a LeadAssigned's roster_version)."
        ),
    ] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Reps with team, capacity, weight, open leads and absences (now, or at a version)."""
    lf = store(db)
    roster = lf.roster() if version is None else lf.roster_at(version)
    rows: list[dict[str, Any]] = [
        {
            "rep": rep,
            "team": info.team,
            "capacity": info.capacity,
            "weight": info.weight,
            "open_leads": roster.load(rep),
            "absences": [[iso_time(s), iso_time(e)] for s, e in info.absences],
        }
        for rep, info in sorted(roster.reps.items())
    ]
    if json_out:
        emit({"roster_version": roster.version, "reps": rows}, True)
        return
    table = Table(title=f"roster (version {roster.version})")
    for column in ("rep", "team", "capacity", "weight", "open leads", "absent"):
        table.add_column(column)
    now = lf.clock()
    for rep, info in sorted(roster.reps.items()):
        table.add_row(
            cell(rep),
            cell(info.team or "-"),
            "-" if info.capacity is None else str(info.capacity),
            f"{info.weight:g}",
            str(roster.load(rep)),
            "yes" if info.absent_at(now) else "",
        )
    out.print(table)


@team_app.command("define")
@handles_errors
def team_define(
    team: Annotated[str, typer.Argument(help="Team name.")],
    manager: Annotated[
        list[str] | None, typer.Option("--manager", help="A manager's user id (repeatable).")
    ] = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Define a team and its managers (who may assign its reps' leads)."""
    _roster_report(store(db, actor).define_team(team, manager or []), json_out)


def redistribute(
    rep: RepArg,
    reason: Reason,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Give all of a rep's open leads to other reps by the assignment policy (one append)."""
    _roster_report(store(db, actor).redistribute(rep, reason, at=when(at)), json_out)


def unmerge(
    lead: LeadArg,
    reason: Reason,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Undo a merge with compensating events; the duplicate's contact keys move back."""
    report(store(db, actor).unmerge(lead_id_of(lead, db), reason=reason, at=when(at)), json_out)


def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines file.", show_default=False)],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the suffix).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per atomic save.")] = 500,
    encoding: Annotated[
        str, typer.Option(help="utf-8 (default, with or without BOM), gbk or gb18030.")
    ] = "utf-8",
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate",
            help="Leads from another CRM: take owner, stage, status, score and captured_at.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes that validate the rows: 0 none (in this process); default "
            "$LEADFLOW_IMPORT_WORKERS, else one per core for a file of 512 KiB or more.",
            show_default=False,
        ),
    ] = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Import leads; bad rows go to FILE.errors.csv; a second run imports nothing new."""
    if fmt is not None and fmt not in ("csv", "jsonl"):
        from leadflow.errors import InvalidInput

        raise InvalidInput("format", f"{fmt!r} is not one of: csv, jsonl")
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from leadflow.adapters.importer import import_file

    lf = store(db, actor, create=True)
    chosen: Format | None = "csv" if fmt == "csv" else "jsonl" if fmt == "jsonl" else None
    size = file.stat().st_size if file.is_file() else 0
    with Progress(
        TextColumn("importing {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=json_out,
    ) as bar:
        task = bar.add_task(file.name, total=size)
        summary = import_file(
            lf,
            file,
            fmt=chosen,
            batch_size=batch_size,
            progress=lambda done: bar.update(task, completed=done),
            encoding=encoding,
            migrate=migrate,
            workers=workers,
        )
    if json_out:
        emit(summary.to_json_dict(), True)
        return
    table = Table(title=f"import {file.name}", show_header=False)
    for key in ("rows", "created", "touched", "already_imported", "invalid", "assigned"):
        table.add_row(key.replace("_", " "), str(getattr(summary, key)))
    table.add_row("seconds", f"{summary.seconds:.2f}")
    out.print(table)
    if summary.errors_file:
        out.print(f"invalid rows reported in {summary.errors_file}", markup=False)


def pool(
    limit: Annotated[int, typer.Option(help="Show at most this many leads.", min=1)] = 50,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Leads waiting in the public pool (anyone may claim them), oldest capture first."""
    from leadflow.adapters.cli_projections import catch_up, projection_runner
    from leadflow.projections.leads import pool as leads_pool

    lf = store(db)
    runner = projection_runner(db, lf)
    catch_up(lf, runner)
    with runner.engine.connect() as conn:
        page = leads_pool(conn, limit)
    if json_out:
        emit(page.to_json_dict(), True)
        return
    table = Table(title=cell(f"public pool: {page.count} leads"))
    table.add_column("lead", no_wrap=True, min_width=36)  # whole: it is what a claim takes
    for column in ("source", "stage", "score", "captured", "last touch"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for lead in page.leads:
        # Sources are user text: shown literally, never read as rich markup.
        table.add_row(
            cell(lead.lead_id),
            cell(lead.source or "-"),
            cell(lead.stage),
            cell(f"{lead.score:g}"),
            cell(human_time(lead.captured_at)),
            cell(human_time(lead.last_touch_at) if lead.last_touch_at else "-"),
        )
    out.print(table)
    if len(page.leads) < page.count:
        out.print(
            f"showing {len(page.leads)} of {page.count}; use --limit to see more", markup=False
        )


@dedupe_app.command("reindex")
@handles_errors
def dedupe_reindex(db: Db = None, json_out: Json = False) -> None:
    """Reserve the contact keys of leads recorded before dedupe (idempotent)."""
    from rich.progress import Progress, TextColumn

    lf = store(db, "system:dedupe-reindex")
    with Progress(
        TextColumn("reindexing: {task.completed} events read"), console=err, transient=True,
        disable=json_out,
    ) as bar:  # fmt: skip
        task = bar.add_task("reindex", total=None)
        counts = lf.reindex_contact_keys(progress=lambda done: bar.update(task, completed=done))
    emit(counts, json_out, f"{counts['reserved']} keys reserved ({counts['seen']} events read)")


def register(app: typer.Typer) -> None:
    app.add_typer(rep_app, name="rep")
    app.add_typer(dedupe_app, name="dedupe")
    app.add_typer(team_app, name="team")
    app.command("redistribute")(handles_errors(redistribute))
    app.command("unmerge")(handles_errors(unmerge))
    app.command("import")(handles_errors(import_command))
    app.command("pool")(handles_errors(pool))
