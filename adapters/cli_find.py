"""``leadflow leads`` (find leads) and ``leadflow update`` (edit a lead's profile).

Registered on the main app by :func:`register` (see ``cli._register_plugins``).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from leadflow.adapters.cli_support import (
    Actor,
    At,
    Db,
    Json,
    LeadArg,
    emit,
    handles_errors,
    lead_id_of,
    out,
    parse_day,
    report,
    store,
    when,
)
from leadflow.errors import InvalidInput

__all__ = ["register"]

PAGE_MAX = 1000


def register(app: typer.Typer) -> None:
    @app.command("leads")
    @handles_errors
    def leads(
        stage: Annotated[str | None, typer.Option(help="In this stage now.")] = None,
        status: Annotated[str | None, typer.Option(help="With this status now.")] = None,
        owner: Annotated[
            str | None, typer.Option(help="Owned by this rep now; 'none': owned by nobody.")
        ] = None,
        source: Annotated[str | None, typer.Option(help="Captured from this source.")] = None,
        campaign: Annotated[str | None, typer.Option(help="Captured in this campaign.")] = None,
        score_min: Annotated[float | None, typer.Option("--score-min")] = None,
        score_max: Annotated[float | None, typer.Option("--score-max")] = None,
        captured_from: Annotated[
            str | None, typer.Option("--captured-from", help="Captured on or after (YYYY-MM-DD).")
        ] = None,
        captured_to: Annotated[
            str | None, typer.Option("--captured-to", help="Captured on or before (YYYY-MM-DD).")
        ] = None,
        email: Annotated[str | None, typer.Option(help="Holds this email (any spelling).")] = None,
        phone: Annotated[str | None, typer.Option(help="Holds this phone (any spelling).")] = None,
        wechat: Annotated[str | None, typer.Option(help="Holds this WeChat id.")] = None,
        merged: Annotated[
            bool, typer.Option("--merged", help="Include merged duplicates.")
        ] = False,
        sort: Annotated[
            str,
            typer.Option(help="captured, score, last-touch; a leading '-' sorts descending."),
        ] = "captured",
        limit: Annotated[int, typer.Option(help=f"Page size (1-{PAGE_MAX}).")] = 50,
        offset: Annotated[int, typer.Option(help="Leads to skip (paging).")] = 0,
        db: Db = None,
        json_out: Json = False,
    ) -> None:
        """Find leads by stage, status, owner, source, campaign, score, capture day, contact."""
        from rich.table import Table
        from rich.text import Text

        from leadflow.adapters.cli_projections import catch_up, projection_runner
        from leadflow.domain.view import LeadView
        from leadflow.projections.lead_search import SORTS, LeadFilter, search
        from leadflow.service.lookup import leads_with_contact

        if sort not in SORTS:
            raise InvalidInput("sort", f"{sort!r} is not one of: {', '.join(SORTS)}")
        if not 1 <= limit <= PAGE_MAX:
            raise InvalidInput("limit", f"must be between 1 and {PAGE_MAX}")
        if offset < 0:
            raise InvalidInput("offset", "must be 0 or more")
        if score_min is not None and score_max is not None and score_min > score_max:
            raise InvalidInput("score_min", "is above score_max")
        lf = store(db)
        pipeline = lf.pipeline_log().current or lf.pipeline
        for name, value, known in (
            ("stage", stage, pipeline.stages),
            ("status", status, pipeline.statuses),
        ):
            if value is not None and value not in known:
                raise InvalidInput(name, f"unknown {name} {value!r}; {name}s: {', '.join(known)}")
        ids: set[str] | None = None
        for kind, value in (("email", email), ("phone", phone), ("wechat", wechat)):
            if value is not None:
                found = {str(i) for i in leads_with_contact(lf, kind, value, pipeline)}
                ids = found if ids is None else ids & found
        lead_filter = LeadFilter(
            stage=stage,
            status=status,
            owner=owner,
            source=source,
            campaign=campaign,
            score_min=score_min,
            score_max=score_max,
            captured_from=parse_day(captured_from, "captured_from"),
            captured_to=parse_day(captured_to, "captured_to"),
            lead_ids=ids,
            merged=merged,
        )
        runner = projection_runner(db, lf)
        catch_up(lf, runner)
        with runner.engine.connect() as conn:
            count, page = search(conn, lead_filter, sort=sort, limit=limit, offset=offset)
        views = [LeadView.of(lf.get_lead(UUID(i))) for i in page]
        if json_out:
            emit({"count": count, "leads": [v.model_dump(mode="json") for v in views]}, True)
            return
        table = Table(title=Text(f"{count} leads" + (f" (from {offset + 1})" if offset else "")))
        for column in ("lead", "name", "company", "stage", "status", "owner", "score", "source"):
            table.add_column(column, justify="right" if column == "score" else "left")
        for v in views:
            table.add_row(
                *(
                    Text(cell)
                    for cell in (
                        str(v.lead_id),
                        v.name or "-",
                        v.company or "-",
                        v.stage,
                        v.status,
                        v.owner or "-",
                        f"{v.score:g}",
                        v.source or "-",
                    )
                )
            )
        out.print(table)

    @app.command("update")
    @handles_errors
    def update(
        lead: LeadArg,
        name: Annotated[str | None, typer.Option(help="Person's name.")] = None,
        company: Annotated[str | None, typer.Option(help="Company.")] = None,
        email: Annotated[str | None, typer.Option(help="Email address.")] = None,
        phone: Annotated[str | None, typer.Option(help="Phone number.")] = None,
        wechat: Annotated[str | None, typer.Option(help="WeChat id.")] = None,
        attr: Annotated[
            list[str] | None,
            typer.Option("--attr", help="Attribute KEY=VALUE (repeatable); KEY= clears it."),
        ] = None,
        at: At = None,
        db: Db = None,
        json_out: Json = False,
        actor: Actor = None,
    ) -> None:
        """Change a lead's profile; a new contact goes through the same dedupe checks as a
        capture (one another lead holds is refused: merge the two instead)."""
        changes: dict[str, str | None] = {}
        for key, value in (
            ("name", name),
            ("company", company),
            ("email", email),
            ("phone", phone),
            ("wechat", wechat),
        ):
            if value is not None:
                changes[key] = value
        for item in attr or []:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise InvalidInput("attr", f"{item!r} is not KEY=VALUE")
            changes[f"attributes.{key.strip()}"] = value.strip() or None
        if not changes:
            raise InvalidInput(
                "changes",
                "give at least one of --name, --company, --email, --phone, --wechat, --attr",
            )
        lf = store(db, actor)
        report(lf.update_profile(lead_id_of(lead, db), changes, at=when(at)), json_out)
