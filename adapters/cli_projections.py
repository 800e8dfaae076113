"""The read side of the command line: projections, funnels, history, audit, report, replay.

Every read command first catches the read models up with the log (cheap: only the
events since the last run), so answers are never stale. Write commands catch up too,
right after they succeed (:func:`catch_up_after_write`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from leadflow.adapters.cli_support import (
    Db,
    Json,
    emit,
    err,
    handles_errors,
    lead_id_of,
    out,
    parse_day,
    parse_time,
    state,
    store,
)
from leadflow.adapters.engines import EngineCache
from leadflow.adapters.formatting import cell, escape, human_duration, human_time, iso_time
from leadflow.errors import InvalidInput

if TYPE_CHECKING:  # each command imports what it uses (``leadflow --help`` loads none)
    from uuid import UUID

    import sqlalchemy as sa

    from leadflow.domain.pipeline import Pipeline
    from leadflow.projections import FunnelQuery, FunnelRow, Projection, ProjectionRunner
    from leadflow.projections.failures import ProjectionFailed
    from leadflow.projections.log_table import LogSource
    from leadflow.service.application import Leadflow

__all__ = [
    "Reading",
    "catch_up_after_write",
    "forget_erased",
    "funnel_table",
    "pipeline_known_at",
    "projection_runner",
    "read_query",
    "register",
    "store_projections",
]


def _log() -> Any:
    from leadflow.service.logs import get_logger

    return get_logger("leadflow.cli")


AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Business time to answer for (ISO 8601; default now)."),
]
AsKnownAt = Annotated[
    str | None,
    typer.Option(
        "--as-known-at",
        help="Count only events recorded by then: reproduces a report printed at that time.",
    ),
]
CohortFrom = Annotated[
    str | None, typer.Option("--cohort-from", help="Only leads captured on or after (YYYY-MM-DD).")
]
CohortTo = Annotated[
    str | None, typer.Option("--cohort-to", help="Only leads captured on or before (YYYY-MM-DD).")
]

_engines = EngineCache()
"""The read models' engines, per store URL (``_engines.dispose()`` closes them)."""


def _resolve(url: str | None) -> str:
    from leadflow.adapters.store import resolve_url

    return resolve_url(url or state.db)  # the global ``leadflow --db URL`` counts too


def projection_runner(url: str | None, lf: Leadflow, *, batch_size: int = 1000) -> ProjectionRunner:
    """The read models of ``lf``, the store at ``url`` (its database, its schema), under
    its pipeline in force (:func:`store_projections`)."""
    import sqlalchemy as sa

    from leadflow.adapters.store import schema_of, sqlalchemy_url
    from leadflow.projections import ProjectionRunner

    resolved = _resolve(url)

    def make() -> sa.Engine:
        target = sqlalchemy_url(resolved)
        connect_args: dict[str, Any] = {"timeout": 30} if target.startswith("sqlite") else {}
        engine = sa.create_engine(target, connect_args=connect_args)
        if target.startswith("sqlite"):
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    engine = _engines.get(resolved, make)
    return ProjectionRunner(
        engine, store_projections(lf), schema=schema_of(resolved), batch_size=batch_size
    )


def store_projections(lf: Leadflow) -> list[Projection]:
    """The built-in read models under ``lf``'s pipeline in force.

    Its closed stages decide pool membership in ``lf_leads``, as they decide claims and
    loads. Read without ``lf.pipeline``, which would activate the default on a new store:
    a read must not write.
    """
    from leadflow.projections import all_projections

    pipeline = pipeline_in_force(lf)
    return all_projections(
        pipeline.assignment.closed_stages, pipeline.main_path, pipeline.reporting.dimensions
    )


def pipeline_in_force(lf: Leadflow) -> Pipeline:
    """The pipeline in force, read without ``lf.pipeline`` (which would activate the
    default on a new store: a read must not write). Its groupings are what the read models
    keep, so what ``--by`` accepts (:meth:`~leadflow.domain.pipeline.Pipeline.groupings`)."""
    from leadflow.service.pipeline_files import default_pipeline

    return lf.pipeline_log().current or default_pipeline()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The store runs SQLite in WAL mode; NORMAL sync is SQLite's advice for WAL and what
    # the event store uses: a commit survives a process crash (even SIGKILL), so positions
    # and rows stay consistent; only an OS crash may lose the last commits, together.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    # An erased lead's notes and reasons are overwritten in place: zero the freed bytes.
    dbapi_connection.execute("PRAGMA secure_delete=ON")


def _reader(lf: Leadflow) -> Any:
    return lambda after: lf.read_events(after=after)


def log_source(lf: Leadflow) -> LogSource | None:
    """Where ``lf``'s events are, so that a first build of the read models can run inside
    the database; ``None`` when the stored state is compressed or encrypted as a whole
    (the library's ``COMPRESSOR_TOPIC`` / ``CIPHER_TOPIC``): SQL cannot read it."""
    from leadflow.projections.log_table import LogSource
    from leadflow.service.codec import EventMapper

    mapper, recorder = lf.mapper, lf.recorder
    if not isinstance(mapper, EventMapper) or mapper.compressor or mapper.cipher:
        return None
    table = getattr(recorder, "events_table_name", None)
    if table is None:
        return None
    schema = getattr(getattr(recorder, "datastore", None), "schema", None)
    return LogSource(table, schema, mapper)


@contextmanager
def _progress(label: str, total: int, start: int) -> Iterator[Any]:
    """A rich progress bar over log positions (hidden when there is little to do)."""
    if total - start < 5000:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=total - start)
        yield lambda position: bar.update(task, completed=position - start)


def pipeline_known_at(lf: Leadflow, known_at: datetime | None) -> Pipeline:
    """The pipeline whose stages, order and labels an answer uses: the version in force at
    ``known_at`` (an answer as known then is the answer given then), else the one in force."""
    if known_at is not None:
        then = lf.pipeline_log().in_force_at(known_at)
        if then is not None:
            return then
    return lf.pipeline


def catch_up(lf: Leadflow, runner: ProjectionRunner, *, strict: bool = False) -> int:
    """Bring the read models up to date before answering from them.

    A read model stopped before an event it cannot apply is said on stderr (the answer
    is then behind the log, and says so); ``strict`` (``project``): it fails the command.
    """
    from leadflow.projections.failures import ProjectionFailed

    runner.ensure_tables()
    start = min(runner.positions().values(), default=0)
    try:
        with _progress("catching up", lf.max_position(), start) as progress:
            return runner.catch_up(_reader(lf), progress, head=lf.max_position, log=log_source(lf))
    except ProjectionFailed as failed:
        if strict:
            raise
        warn_behind(failed)
        return 0


def warn_behind(failed: ProjectionFailed) -> None:
    for f in failed.failed:
        err.print(
            f"warning: read model {f.name} is behind the log: it stopped before position "
            f"{f.position} (event {f.event_id}, {f.event_type}): {escape(f.error)}; "
            "answers from it leave out that event and every later one (leadflow doctor)",
            markup=False,
        )


def catch_up_after_write(url: str | None, lf: Leadflow, *, wait: bool = False) -> None:
    """Bring the read models up to date after a write command; never fails the command.

    Does not queue behind another runner (a rebuild, a follower), which applies the new
    events, unless told to ``wait``."""
    from leadflow.projections.failures import ProjectionFailed

    try:
        from leadflow.projections.locks import ReadModelsBusy

        runner = projection_runner(url, lf)
        try:
            applied = runner.catch_up(
                _reader(lf), head=lf.max_position, wait=wait, log=log_source(lf)
            )
        except ReadModelsBusy:
            _log().debug("projections_busy")
            return
        _log().debug("projections_caught_up", events=applied)
    except ProjectionFailed as failed:
        warn_behind(failed)
    except Exception as exc:  # the write succeeded; the next read catches up again
        _log().warning("projection_catch_up_failed", error=str(exc))


def forget_erased(url: str | None, lf: Leadflow, lead_id: UUID) -> None:
    """The end of every erasure of ``lead_id`` (and the leads merged into it), whichever
    way it came in (the CLI, the HTTP API).

    The read models apply it now (waiting for a runner that holds them), so the rows that
    held the person's notes and reasons are overwritten; the HTTP API's kept requests that
    name the person's leads are removed (:func:`~leadflow.adapters.http.idempotency.
    forget_leads`); then an embedded store's write-ahead log is emptied of those rows' old
    bytes (:func:`~leadflow.adapters.store.scrub`).
    """
    from leadflow.adapters.http.database import service_engine
    from leadflow.adapters.http.idempotency import forget_leads
    from leadflow.adapters.store import scrub

    catch_up_after_write(url, lf, wait=True)
    forget_leads(service_engine(url), _person(lf, lead_id))
    scrub(_resolve(url))


def _person(lf: Leadflow, lead_id: UUID) -> set[UUID]:
    """``lead_id`` and every lead merged into it: the person an erasure erased."""
    from leadflow.domain.lead import merged_into_person

    return {lead_id, *(one.id for one in merged_into_person(lf.get_lead(lead_id), lf.get_lead))}


def _time(value: str | None, name: str, default: datetime) -> datetime:
    return parse_time(value, name, end_of_day=True) if value else default


@dataclass(frozen=True)
class Reading:
    """What a read command answers from: the store, the query, caught-up read models and
    the pipeline whose stages, order and labels the answer uses."""

    lf: Leadflow
    query: FunnelQuery
    runner: ProjectionRunner
    pipeline: Pipeline


def read_query(
    db: str | None,
    as_of: str | None,
    as_known_at: str | None,
    *,
    cohort_from: str | None = None,
    cohort_to: str | None = None,
    skip_policy: str = "passed",
    by: str | None = None,
) -> Reading:
    """Parse ``--as-of/--as-known-at`` (and a cohort, and ``--by``, checked against the
    groupings of the pipeline in force), catch the read models up, and find the pipeline
    known at ``--as-known-at``: the preamble of every funnel-like answer."""
    from leadflow.projections import FunnelQuery

    lf = store(db)
    pipeline_in_force(lf).check_grouping(by)
    now = lf.clock()
    first, last = parse_day(cohort_from, "cohort_from"), parse_day(cohort_to, "cohort_to")
    if first is not None and last is not None and last < first:
        raise InvalidInput("cohort_to", f"{last} is before cohort_from {first}")
    query = FunnelQuery(
        as_of=_time(as_of, "as_of", now),
        as_known_at=_time(as_known_at, "as_known_at", now) if as_known_at else None,
        cohort_from=first,
        cohort_to=last,
        skip_policy=skip_policy,
    )
    runner = projection_runner(db, lf)
    catch_up(lf, runner)
    return Reading(lf, query, runner, pipeline_known_at(lf, query.as_known_at))


def _print_funnel(rows: list[FunnelRow], title: str, live: int) -> None:
    out.print(funnel_table(rows, title, live))


def funnel_table(rows: list[FunnelRow], title: str, live: int) -> Table:
    """A funnel as people read it, with the names ``funnel --json`` uses."""
    table = Table(title=Text(title), caption=f"{live} live leads (merged duplicates left out)")
    for column in ("stage", "in_stage", "reached", "passed", "conversion_to_next"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in rows:
        conversion = f"{row.conversion_to_next:.1%}" if row.conversion_to_next is not None else "-"
        passed = str(row.passed) if row.passed is not None else "-"
        table.add_row(*_texts(row.stage, str(row.in_stage), str(row.reached), passed, conversion))
    return table


def register(app: typer.Typer) -> None:
    @app.command("projections")
    @handles_errors
    def projections_(db: Db = None, json_out: Json = False) -> None:
        """Each read model's log position and lag (events not yet applied)."""
        lf = store(db)
        runner = projection_runner(db, lf)
        head = lf.max_position()
        from leadflow.projections.failures import ProjectionFailed

        failed = {f.name: f for f in runner.failures()}
        rows = [
            {
                "name": name,
                "position": position,
                "lag": max(head - position, 0),
                "failure": failed[name].to_json() if name in failed else None,
            }
            for name, position in runner.positions().items()
        ]
        if json_out:
            emit({"log_position": head, "projections": rows}, True)
        else:
            table = Table(title=f"read models (log at position {head})")
            for column in ("name", "position", "lag", "stopped before"):
                table.add_column(column, justify="left" if column == "name" else "right")
            for row in rows:
                f = failed.get(str(row["name"]))
                stopped = f"{f.position} (event {f.event_id}): {f.error}" if f else "-"
                table.add_row(
                    str(row["name"]), str(row["position"]), str(row["lag"]), cell(stopped)
                )
            out.print(table)
        if failed:
            raise ProjectionFailed(list(failed.values()))

    @app.command()
    @handles_errors
    def rebuild(
        name: Annotated[
            str | None, typer.Argument(help="Read model to rebuild (default: all).")
        ] = None,
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """Drop a read model and rebuild it from the whole log."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        lf = store(db)
        runner = projection_runner(db, lf)
        names = [p.name for p in runner.projections]
        if name is not None and name not in names:
            raise InvalidInput("name", f"unknown read model {name!r}; read models: {names}")
        started = time.perf_counter()
        columns = (TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("rebuild", total=lf.max_position())
            applied = runner.rebuild(
                _reader(lf),
                [name] if name else None,
                lambda position: bar.update(task, completed=position),
                head=lf.max_position,
                log=log_source(lf),
            )
        seconds = time.perf_counter() - started
        rebuilt = [name] if name else names
        result = {"rebuilt": rebuilt, "events": applied, "seconds": seconds}
        emit(result, json_out, f"rebuilt {', '.join(rebuilt)}: {applied} events")

    @app.command()
    @handles_errors
    def project(
        follow: Annotated[
            bool, typer.Option("--follow", help="Keep polling the log for new events.")
        ] = False,
        interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 1.0,
        db: Db = None,
        from_kafka: Annotated[
            bool,
            typer.Option(
                "--from-kafka",
                help="Run as a projection worker of a consumer group (see docs/kafka.md).",
            ),
        ] = False,
        group: Annotated[
            str | None, typer.Option("--group", help="--from-kafka: the consumer group.")
        ] = None,
        into: Annotated[
            str | None,
            typer.Option(
                "--into",
                envvar="LEADFLOW_READ_DB",
                help="--from-kafka: the read-side database URL (not the store's).",
            ),
        ] = None,
        bootstrap: Annotated[
            str | None,
            typer.Option("--bootstrap", envvar="LEADFLOW_KAFKA", help="Kafka HOST:PORT."),
        ] = None,
        topic: Annotated[
            str | None, typer.Option("--topic", help="--from-kafka: the lead event topic.")
        ] = None,
        reset: Annotated[
            bool,
            typer.Option("--reset", help="--from-kafka: empty the read models, re-read the topic."),
        ] = False,
        until_caught_up: Annotated[
            bool,
            typer.Option(
                "--until-caught-up", help="--from-kafka: exit 0 once the group has the topic."
            ),
        ] = False,
        batch_size: Annotated[
            int, typer.Option("--batch-size", min=1, help="--from-kafka: most events per poll.")
        ] = 500,
        session_timeout: Annotated[
            float,
            typer.Option(
                "--session-timeout",
                min=1,
                help="--from-kafka: seconds before a dead worker's "
                "partitions move (heartbeats every sixth of it).",
            ),
        ] = 10.0,
        max_poll_interval: Annotated[
            float,
            typer.Option(
                "--max-poll-interval",
                min=1,
                help="--from-kafka: longest batch in seconds; "
                "also how long joining the group may wait.",
            ),
        ] = 30.0,
    ) -> None:
        """Catch the read models up with the log (once, or continuously with --follow).

        With --from-kafka: build the read models of a read-side database (--into) from
        the lead event topic, as one member of the consumer group --group (docs/kafka.md).
        """
        if from_kafka:
            from leadflow.adapters.cli_stream import ProjectionWorkerOptions, project_from_kafka

            if follow:
                raise InvalidInput("follow", "a --from-kafka worker always follows the topic")
            project_from_kafka(
                db,
                ProjectionWorkerOptions(
                    group=group,
                    into=into,
                    bootstrap=bootstrap,
                    topic=topic,
                    reset=reset,
                    until_caught_up=until_caught_up,
                    batch_size=batch_size,
                    session_timeout_s=session_timeout,
                    max_poll_interval_s=max_poll_interval,
                ),
            )
            return
        for name, value in (("group", group), ("into", into), ("topic", topic)):
            if value is not None:
                raise InvalidInput(name, "only with --from-kafka")
        if reset or until_caught_up:
            raise InvalidInput("reset" if reset else "until_caught_up", "only with --from-kafka")
        lf = store(db)
        runner = projection_runner(db, lf)
        log = _log()
        while True:
            applied = catch_up(lf, runner, strict=True)
            if applied:
                log.info("projections_caught_up", events=applied, positions=runner.positions())
            if not follow:
                return
            time.sleep(interval)

    @app.command("funnel")
    @handles_errors
    def funnel_(
        as_of: AsOf = None,
        as_known_at: AsKnownAt = None,
        cohort_from: CohortFrom = None,
        cohort_to: CohortTo = None,
        by: Annotated[
            str | None,
            typer.Option(
                "--by",
                help="Group by source, campaign, owner, region, cohort (capture month) or a "
                "reporting dimension of the pipeline ([reporting] dimensions).",
            ),
        ] = None,
        skip_policy: Annotated[
            str,
            typer.Option(
                "--skip-policy",
                help="passed: a lead that skipped a stage has passed it; "
                "strict: only leads that went through it, in order.",
            ),
        ] = "passed",
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """Per stage: leads in it, that reached it, that passed it; conversion to the next."""
        from leadflow.projections import funnel, funnel_by, funnel_json
        from leadflow.projections.funnel import SKIP_POLICIES, live_leads

        if skip_policy not in SKIP_POLICIES:
            raise InvalidInput(
                "skip_policy", f"{skip_policy!r} is not one of: {', '.join(SKIP_POLICIES)}"
            )
        reading = read_query(
            db,
            as_of,
            as_known_at,
            cohort_from=cohort_from,
            cohort_to=cohort_to,
            skip_policy=skip_policy,
            by=by,
        )
        query, pipeline = reading.query, reading.pipeline
        with reading.runner.engine.connect() as conn:
            live = live_leads(conn, query, by)
            if by is None:
                rows = funnel(conn, pipeline, query)
                if json_out:
                    emit(funnel_json(query, rows=rows, live=live), True)
                else:
                    _print_funnel(rows, _title(query), live.get("", 0))
                return
            groups = funnel_by(conn, pipeline, query, by)
        if json_out:
            emit(funnel_json(query, groups=groups, live=live), True)
            return
        for key, group_rows in groups:
            _print_funnel(group_rows, f"{by} = {key}: {_title(query)}", live.get(key, 0))

    @app.command()
    @handles_errors
    def history(
        lead: Annotated[str, typer.Argument(help="Lead id.", show_default=False)],
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """A lead's stage intervals: durations, owners, and the events behind each change."""
        from leadflow.projections import lead_history

        lead_id = lead_id_of(lead, db)
        lf = store(db)
        lf.get_lead(lead_id)  # not found → exit 4
        runner = projection_runner(db, lf)
        catch_up(lf, runner)
        with runner.engine.connect() as conn:
            result = lead_history(conn, lead_id, lf.clock())
        if json_out:
            emit(result, True)
            return
        table = Table(title=f"stage history of {lead_id}")
        for column in ("stage", "entered", "left", "duration", "owners", "by", "why"):
            table.add_column(column)
        for interval in result["intervals"]:
            why = interval["rule"] or interval["reason"] or interval["kind"]
            cause = interval["events"]["cause"]
            if cause:
                why = f"{why} (after {cause['type']})"
            table.add_row(
                *_texts(
                    interval["stage"],
                    _when(interval["entered_at"]),
                    _when(interval["exited_at"]) if interval["exited_at"] else "(now)",
                    _duration(interval["duration_seconds"]),
                    ", ".join(interval["owners"]) or "-",
                    interval["entered_by"],
                    str(why),
                )
            )
        out.print(table)

    @app.command()
    @handles_errors
    def audit(
        lead: Annotated[str | None, typer.Option("--lead", help="Only this lead.")] = None,
        rep: Annotated[
            str | None, typer.Option("--rep", help="Only hand-offs from or to this rep.")
        ] = None,
        from_: Annotated[
            str | None, typer.Option("--from", help="Handed off on or after (ISO 8601).")
        ] = None,
        to: Annotated[
            str | None, typer.Option("--to", help="Handed off on or before (ISO 8601).")
        ] = None,
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """The hand-off audit trail: who handed which lead to whom, and what came of it."""
        from leadflow.projections import audit_trail

        lf = store(db)
        runner = projection_runner(db, lf)
        catch_up(lf, runner)
        with runner.engine.connect() as conn:
            trail = audit_trail(
                conn,
                lead_id=lead_id_of(lead, db) if lead else None,
                rep=rep,
                since=parse_time(from_, "from") if from_ else None,
                until=parse_time(to, "to", end_of_day=True) if to else None,
                now=lf.clock(),
            )
        if json_out:
            emit(trail, True)
            return
        table = Table(title="hand-offs")
        for column in ("handed off", "lead", "from → to", "SLA due", "outcome", "by", "took"):
            table.add_column(column)
        for row in trail:
            outcome = row["outcome"] + (" (overdue)" if row["overdue"] else "")
            if row["sla_met"] is False:
                outcome += " (late)"
            if row["recycled_at"]:
                outcome += ", recycled"
            table.add_row(
                *_texts(
                    _when(row["handed_off_at"]),
                    row["lead_id"][:8],
                    f"{row['from_owner'] or '-'} → {row['to_owner']}",
                    _when(row["sla_due"]) if row["sla_due"] else "-",
                    outcome,
                    row["decided_by"] or "-",
                    _duration(row["response_seconds"])
                    if row["response_seconds"] is not None
                    else "-",
                )
            )
        out.print(table)

    report_app = typer.Typer(
        help="Reports: the HTML report (--out FILE), or one report as a table, JSON or CSV.",
        invoke_without_command=True,
    )
    app.add_typer(report_app, name="report")

    @report_app.callback()
    @handles_errors
    def report(
        ctx: typer.Context,
        output: Annotated[
            Path | None, typer.Option("--out", help="HTML file to write (the whole report).")
        ] = None,
        as_of: AsOf = None,
        as_known_at: AsKnownAt = None,
        cohort_from: CohortFrom = None,
        cohort_to: CohortTo = None,
        period: Annotated[
            str | None,
            typer.Option(
                "--period",
                help="Also: leads that entered each stage in FROM..TO (YYYY-MM-DD..YYYY-MM-DD).",
            ),
        ] = None,
        lang: Annotated[
            str, typer.Option("--lang", help="Stage labels in: en (default) or zh.")
        ] = "en",
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """One self-contained HTML report: funnel, conversion over time and by source,
        revenue, SLA, reps, time in stage.

        Or a subcommand: ``report stages``.
        """
        if ctx.invoked_subcommand is not None:
            return
        if output is None:
            raise InvalidInput("out", "give --out FILE for the HTML report, or a subcommand")
        from leadflow.adapters.cli_reports import parse_period
        from leadflow.adapters.output_paths import checked_output
        from leadflow.projections.report import LANGUAGES, render_report

        if lang not in LANGUAGES:
            raise InvalidInput("lang", f"{lang!r} is not one of: {', '.join(LANGUAGES)}")
        window = parse_period(period)
        checked_output(output, _resolve(db))
        reading = read_query(db, as_of, as_known_at, cohort_from=cohort_from, cohort_to=cohort_to)
        query = reading.query
        with reading.runner.engine.connect() as conn:
            html = render_report(conn, reading.pipeline, query, period=window, lang=lang)
        try:
            output.write_text(html, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput("out", f"cannot write {output}: {exc.strerror}") from None
        known = iso_time(query.as_known_at) if query.as_known_at else None
        emit(
            {"report": str(output), "as_of": iso_time(query.as_of), "as_known_at": known},
            json_out,
            f"wrote {output}",
        )

    from leadflow.adapters import cli_reports

    cli_reports.register(report_app)
    cli_reports.register_revenue(report_app)
    cli_reports.register_sla(report_app)
    cli_reports.register_reps(report_app)
    cli_reports.register_sources(report_app)

    @app.command("replay")
    @handles_errors
    def replay_(
        pipeline: Annotated[
            Path, typer.Option("--pipeline", help="The other pipeline (TOML) to replay under.")
        ],
        as_of: AsOf = None,
        stage: Annotated[
            str, typer.Option("--stage", help="The decision to compare: entry into this stage.")
        ] = "mql",
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """What if other rules had been in force? Recompute decisions; never writes the log."""
        from leadflow.projections.replay import replay, replay_json
        from leadflow.service.pipeline_files import load_pipeline

        other = load_pipeline(pipeline)
        if stage not in other.stages:
            raise InvalidInput("stage", f"{stage!r} is not a stage of {pipeline}")
        lf = store(db)
        when = _time(as_of, "as_of", lf.clock())
        result = replay(lf.read_events(until=when), lf.pipeline, other, when, stage=stage)
        payload = replay_json(result)
        if json_out:
            emit(payload, True)
            return
        out.print(
            f"replayed {result.leads} leads under {other.name} ({other.version}) "
            f"as of {human_time(when)}; {result.refused} recorded commands refused by it",
            markup=False,
        )
        counts = payload["summary"]
        out.print(
            f"{stage}: {counts['only_replayed']} would newly reach it, "
            f"{counts['only_actual']} would not, {counts['earlier']} earlier, "
            f"{counts['later']} later",
            markup=False,
        )
        table = Table(title="funnel delta (replayed - actual)")
        for column in ("stage", "in stage", "reached", "actual reached", "replayed reached"):
            table.add_column(column, justify="left" if column == "stage" else "right")
        for row in payload["funnel_delta"]:
            table.add_row(
                row["stage"],
                f"{row['in_stage_delta']:+d}",
                f"{row['reached_delta']:+d}",
                str(row["actual_reached"]),
                str(row["replayed_reached"]),
            )
        out.print(table)


def _title(query: FunnelQuery) -> str:
    title = f"Funnel as of {human_time(query.as_of)}"
    if query.as_known_at:
        title += f", as known at {human_time(query.as_known_at)}"
    if query.cohort_from or query.cohort_to:
        title += f", captured {query.cohort_from or '…'} to {query.cohort_to or '…'}"
    return title


def _duration(seconds: float) -> str:
    return human_duration(timedelta(seconds=seconds))


def _texts(*cells: str) -> list[Text]:
    """Table cells as Text: reasons, owners and rule ids are user text, never rich markup."""
    return [cell(value) for value in cells]


def _when(iso: str) -> str:
    """A read model's ISO time (as its JSON carries it) for people."""
    return human_time(datetime.fromisoformat(iso))
