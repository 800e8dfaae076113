"""``leadflow pipeline diff A B``: what changed between two pipeline versions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from leadflow.adapters.cli_support import Db, Json, emit, handles_errors, out, store

__all__ = ["register"]


def _shown(value: Any) -> str:
    import orjson

    if value is None:
        return "(absent)"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def register(pipeline_app: typer.Typer) -> None:
    @pipeline_app.command("diff")
    @handles_errors
    def pipeline_diff(
        a: Annotated[str, typer.Argument(help="A version (hash or 4+ leading characters).")],
        b: Annotated[
            str | None,
            typer.Argument(help="Another version (default: the one in force)."),
        ] = None,
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """Every setting that differs between two activated pipeline versions."""
        from rich.table import Table
        from rich.text import Text

        from leadflow.domain.pipeline_change import diff

        lf = store(db)
        plog = lf.pipeline_log()
        first = plog.find(a)
        second = plog.find(b) if b else lf.pipeline
        changes = diff(first, second)
        if json_out:
            emit(
                {
                    "from": first.version,
                    "to": second.version,
                    "changes": [
                        {"key": c.key, "before": c.before, "after": c.after} for c in changes
                    ],
                },
                True,
            )
            return
        table = Table(title=Text(f"pipeline {first.version} → {second.version}"))
        for column in ("setting", "before", "after"):
            table.add_column(column)
        for change in changes:
            table.add_row(Text(change.key), Text(_shown(change.before)), Text(_shown(change.after)))
        out.print(table if changes else "no differences", markup=False)
