"""``leadflow doctor``: what in a store is not as it should be, event by event.

The log never forgets: an event recorded by an older release, before a bound was
enforced (a score stored as ``null`` for NaN, a time before 1970, a NUL in a name), stays
readable but may stop a read model. Doctor names such events, and every event a read
model stopped before (``lf_projection_failures``), with the read models' lag. Exit 0
when nothing is wrong, 1 otherwise; ``--json`` prints ``{"log_position", "read_models",
"failures", "suspect_events", "unfinished_erasures"}``. An unfinished erasure
(``service/erasure_audit.py``) is a person whose erasure stopped before every lead was
erased or every data key destroyed: erasing again finishes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from leadflow.adapters.cli_support import Db, Json, emit, handles_errors, out, store
from leadflow.adapters.formatting import cell
from leadflow.errors import UndecodableEvent

if TYPE_CHECKING:  # imported when the command runs: ``leadflow --help`` loads none
    from leadflow.service.application import Leadflow
    from leadflow.service.codec import EventRecord

__all__ = ["register", "suspect_values"]

_NUMBERS = {"LeadScored": ("score", "delta"), "RepJoined": ("weight",)}
"""Numbers an event of this type must carry (a NaN once written as ``null``)."""


def suspect_values(record: EventRecord) -> Iterator[tuple[str, str]]:
    """``(field, why)`` for each value of ``record`` outside today's bounds."""
    from leadflow.domain.bounds import EARLIEST, TEXT_MAX, text_problem

    for name in ("occurred_at", "recorded_at"):
        when: datetime = getattr(record, name)
        if when < EARLIEST:
            yield name, f"{when.isoformat()} is before {EARLIEST.date().isoformat()}"
    if (problem := text_problem(record.actor, TEXT_MAX)) is not None:
        yield "actor", problem
    for field in _NUMBERS.get(record.type, ()):
        if field in record.data and record.data[field] is None:
            yield f"data.{field}", "a number stored as null (NaN or infinity when recorded)"
    yield from _walk("data", record.data)


def _walk(path: str, value: Any) -> Iterator[tuple[str, str]]:
    from leadflow.domain.bounds import TEXT_MAX, text_problem

    if isinstance(value, dict):
        if len(value) > 1000:
            yield path, f"{len(value)} entries"
        for key, item in value.items():
            yield from _walk(f"{path}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(f"{path}[{i}]", item)
    elif isinstance(value, float) and not math.isfinite(value):
        yield path, f"{value!r} is not a finite number"
    elif isinstance(value, str) and (problem := text_problem(value, TEXT_MAX)) is not None:
        yield path, problem


def _suspects(lf: Leadflow) -> Iterator[dict[str, Any]]:
    """Every event outside the bounds, and every event that cannot be read at all
    (reading goes on after it)."""
    after = 0
    while True:
        try:
            for record in lf.read_events(after=after):
                after = record.position
                for field, why in suspect_values(record):
                    yield {
                        "position": record.position,
                        "event_id": str(record.id),
                        "lead_id": str(record.lead_id),
                        "type": record.type,
                        "field": field,
                        "reason": why,
                    }
            return
        except UndecodableEvent as bad:
            yield {
                "position": bad.position,
                "event_id": "(unreadable)",
                "lead_id": str(bad.aggregate_id),
                "type": bad.topic.rsplit(":", 1)[-1],
                "field": "(event)",
                "reason": bad.error,
            }
            after = bad.position


def register(app: typer.Typer) -> None:
    @app.command()
    @handles_errors
    def doctor(db: Db = None, json_out: Json = False) -> None:
        """Name the events a read model stopped before, values outside the bounds, and
        erasures left unfinished."""
        from leadflow.adapters.cli_projections import projection_runner
        from leadflow.service.erasure_audit import unfinished_erasures

        lf = store(db)
        head = lf.max_position()
        runner = projection_runner(db, lf)
        positions = runner.positions()
        failures = [f.to_json() for f in runner.failures()]
        suspects = list(_suspects(lf))
        erasures = [left.to_json() for left in unfinished_erasures(lf)]
        read_models = [
            {"name": name, "position": position, "lag": max(head - position, 0)}
            for name, position in positions.items()
        ]
        if json_out:
            emit(
                {
                    "log_position": head,
                    "read_models": read_models,
                    "failures": failures,
                    "suspect_events": suspects,
                    "unfinished_erasures": erasures,
                },
                True,
            )
        else:
            _print(head, read_models, failures, suspects, erasures)
        if failures or suspects or erasures:
            raise typer.Exit(1)


def _print(
    head: int,
    read_models: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    suspects: list[dict[str, Any]],
    erasures: list[dict[str, Any]],
) -> None:
    table = Table(title=f"read models (log at position {head})")
    for column in ("name", "position", "lag"):
        table.add_column(column)
    for row in read_models:
        table.add_row(cell(row["name"]), cell(row["position"]), cell(row["lag"]))
    out.print(table)
    if failures:
        table = Table(title="read models stopped before an event")
        for column in ("read model", "position", "event", "type", "error"):
            table.add_column(column)
        for f in failures:
            table.add_row(
                *(cell(f[k]) for k in ("name", "position", "event_id", "event_type", "error"))
            )
        out.print(table)
    if suspects:
        table = Table(title="events with values outside the bounds")
        for column in ("position", "event", "type", "field", "why"):
            table.add_column(column)
        for s in suspects:
            table.add_row(
                *(cell(s[k]) for k in ("position", "event_id", "type", "field", "reason"))
            )
        out.print(table)
    if erasures:  # lines, not a table: whole lead ids, to paste into `leadflow erase`
        out.print("erasures left unfinished (run `leadflow erase LEAD` again):", markup=False)
        for e in erasures:
            left = []
            if e["not_erased"]:
                left.append("leads not erased: " + ", ".join(e["not_erased"]))
            if e["keys_left"]:
                left.append("data keys not destroyed: " + ", ".join(e["keys_left"]))
            out.print(f"  lead {e['lead_id']}: " + "; ".join(left), markup=False, soft_wrap=True)
    if not failures and not suspects and not erasures:
        out.print("no problems found")
