"""CLI commands for the lead policies: ``sweep``, ``explain`` and ``qualify``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.table import Table
from rich.text import Text

from leadflow.adapters.cli_support import (
    Actor,
    At,
    Db,
    Json,
    LeadArg,
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
from leadflow.adapters.formatting import human_time, iso_time

if TYPE_CHECKING:  # each command imports what it uses (``leadflow --help`` loads none)
    from leadflow.domain.explain import ExplainedDecision
    from leadflow.domain.pipeline import Pipeline

__all__ = ["register"]


def _fmt_score(value: float) -> str:
    return f"{value:g}"


def _cells(*values: str) -> list[Text]:
    """Table cells as Text: reasons and rule ids are user text, never rich markup."""
    return [Text(value) for value in values]


def _details(decision: ExplainedDecision) -> str:
    """``key=value, …`` with times for people and nested values as JSON (no Python reprs)."""
    from leadflow.domain.events import EVENT_TYPES, time_fields

    times = time_fields(EVENT_TYPES[decision.type].DATA) if decision.type in EVENT_TYPES else ()
    shown = []
    for key, value in decision.details.items():
        if key in times and isinstance(value, str):
            text = human_time(datetime.fromisoformat(value))
        elif isinstance(value, str):
            text = value
        else:
            text = orjson.dumps(value).decode()
        shown.append(f"{key}={text}")
    return ", ".join(shown)


def register(app: typer.Typer) -> None:

    @app.command()
    @handles_errors
    def sweep(
        now: Annotated[
            str | None,
            typer.Option("--now", help="Fire rules due at or before this instant (default now)."),
        ] = None,
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """Run the time-driven rules: decay, no follow-up, SLAs, stalled stages.

        Idempotent: a second sweep at the same --now records nothing.
        """
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        lf = store(db, "system:sweep")
        at = parse_time(now, "now") if now else None
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            transient=True,
            disable=json_out,
        ) as progress:
            task = progress.add_task("reading", total=None)

            def show(phase: str, done: int, total: int) -> None:
                progress.update(task, description=phase, completed=done, total=total)

            result = lf.sweep(at, progress=show)
        summary = {
            "now": iso_time(result.now),
            "leads": result.leads,
            "changed": result.changed,
            "events": len(result.events),
            "by_rule": result.by_rule,
            "failed": {str(k): v for k, v in result.failed.items()},
        }
        if json_out:
            emit(summary, True)
            return
        out.print(
            f"swept {result.leads} leads as of {human_time(result.now)}: "
            f"{len(result.events)} events on {result.changed} leads",
            markup=False,
        )
        for rule, count in sorted(result.by_rule.items()):
            out.print(f"  {rule}: {count}", markup=False)
        for lead_id, error in result.failed.items():
            err.print(f"  failed {lead_id}: {error}", markup=False)

    @app.command()
    @handles_errors
    def explain(lead: LeadArg, db: Db = None, json_out: Json = False) -> None:
        """How the lead's score came to be, and every automatic decision, from its events."""
        from leadflow.domain.explain import explain_lead

        lf = store(db)
        lead_id = lead_id_of(lead, db)
        versions = lf.pipeline_log().versions

        def pipeline_of(version: str) -> Pipeline | None:
            return versions.get(version)

        explanation = explain_lead(lead_id, lf.lead_history(lead_id), pipeline_of)
        if json_out:
            emit(explanation.to_json_dict(), True)
            return
        table = Table(title=f"score of {lead_id}: {_fmt_score(explanation.score)}")
        for column in ("#", "time", "rule", "kind", "delta", "score", "why"):
            table.add_column(
                column, justify="right" if column in ("#", "delta", "score") else "left"
            )
        for step in explanation.steps:
            why = step.reason
            if step.cause:
                why += f" ← #{step.cause.sequence} {step.cause.type}"
            if step.due_at:
                why += f" (deadline {human_time(step.due_at)})"
            table.add_row(
                *_cells(
                    str(step.sequence),
                    human_time(step.occurred_at),
                    step.rule or step.actor,
                    step.kind,
                    f"{step.delta:+g}",
                    _fmt_score(step.score),
                    why,
                )
            )
        out.print(table)
        for promo in explanation.promotions:
            threshold = "?" if promo.threshold is None else _fmt_score(promo.threshold)
            out.print(
                f"#{promo.sequence} {human_time(promo.occurred_at)} {promo.rule}: "
                f"{promo.from_stage} → {promo.stage} at score {_fmt_score(promo.score)} "
                f"(threshold {threshold}, pipeline {promo.pipeline_version})",
                markup=False,
            )
        if explanation.decisions:
            decisions = Table(title="other automatic decisions")
            for column in ("#", "time", "event", "rule", "deadline", "details"):
                decisions.add_column(column)
            for d in explanation.decisions:
                decisions.add_row(
                    *_cells(
                        str(d.sequence),
                        human_time(d.occurred_at),
                        d.type,
                        d.rule,
                        human_time(d.due_at) if d.due_at else "",
                        _details(d),
                    )
                )
            out.print(decisions)
        if not explanation.consistent:
            err.print("warning: the recorded deltas do not add up to the score", markup=False)

    @app.command()
    @handles_errors
    def qualify(
        lead: LeadArg,
        budget: Annotated[bool | None, typer.Option("--budget/--no-budget")] = None,
        authority: Annotated[bool | None, typer.Option("--authority/--no-authority")] = None,
        need: Annotated[bool | None, typer.Option("--need/--no-need")] = None,
        timeline: Annotated[bool | None, typer.Option("--timeline/--no-timeline")] = None,
        note: Annotated[str | None, typer.Option(help="What was learned.")] = None,
        at: At = None,
        db: Db = None,
        json_out: Json = False,
        actor: Actor = None,
    ) -> None:
        """Record BANT answers (budget, authority, need, timeline)."""
        result = store(db, actor).qualify(
            lead_id_of(lead, db),
            budget=budget,
            authority=authority,
            need=need,
            timeline=timeline,
            note=note,
            at=when(at),
        )
        report(result, json_out)
