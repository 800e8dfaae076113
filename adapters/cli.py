"""The ``leadflow`` command line.

Exit codes: 0 ok, 2 invalid input or illegal transition, 3 concurrency conflict,
4 not found. ``--json`` prints machine-readable output (errors too, as
``{"error": {...}}``). Logs go to stderr, one structured event per line.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from leadflow.adapters.cli_support import (
    Actor,
    At,
    Db,
    Json,
    LeadArg,
    OptReason,
    Reason,
    emit,
    err,
    handles_errors,
    lead_id_of,
    out,
    parse_time,
    report,
    state,
    store,
    when,
)
from leadflow.adapters.formatting import cell, escape, human_duration, human_time
from leadflow.errors import InvalidInput

# Only what declaring the commands needs is imported above: ``leadflow --help`` loads no
# domain, store or read model. Each command imports what it uses, in its body.

__all__ = ["app", "handles_errors", "main", "parse_time"]

app = typer.Typer(
    name="leadflow",
    help="Event-sourced lead lifecycle engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
pipeline_app = typer.Typer(help="Show, validate and activate pipelines.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")


@app.callback()
def _global(
    db: Db = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning (default), error.")
    ] = None,
) -> None:
    """leadflow: every lead action is an immutable event; everything else is derived."""
    from leadflow.adapters.logging_setup import configure_logging

    state.db = db
    configure_logging(log_level)


# -- set-up -----------------------------------------------------------------------------


@app.command()
@handles_errors
def init(
    pipeline: Annotated[
        Path | None, typer.Option("--pipeline", help="Pipeline TOML (default: the shipped one).")
    ] = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Create the store (if needed) and put a pipeline in force."""
    from leadflow.service.pipeline_files import load_pipeline

    lf = store(db, actor, create=True)
    chosen = load_pipeline(pipeline) if pipeline else None
    changed = lf.activate_pipeline(chosen) if chosen else False
    current = lf.pipeline
    from leadflow.adapters.cli_personal_data import key_status

    keys = key_status(lf)
    emit(
        {"pipeline": current.name, "version": current.version, "activated": changed, **keys},
        json_out,
        f"pipeline {current.name!r} version {current.version} in force\n"
        f"master key: {keys['master_key']} (keep it apart from the store's backups)\n"
        f"keystore: {keys['keystore']}",
    )


@pipeline_app.command("validate")
@handles_errors
def pipeline_validate(file: Path, json_out: Json = False) -> None:
    """Check a pipeline file; errors name the offending key."""
    from leadflow.service.pipeline_files import load_pipeline

    checked = load_pipeline(file)
    emit({"valid": True, "version": checked.version}, json_out, f"valid: version {checked.version}")


@pipeline_app.command("activate")
@handles_errors
def pipeline_activate(
    file: Path,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="OLD=NEW: move the leads in a stage the new version drops (repeatable).",
        ),
    ] = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Put a new pipeline version in force (recorded as an event)."""
    from leadflow.service.pipeline_files import load_pipeline

    lf = store(db, actor)
    checked = load_pipeline(file)
    changed = lf.activate_pipeline(checked, mapping=mapping or [])
    emit(
        {"version": checked.version, "activated": changed},
        json_out,
        f"version {checked.version} " + ("activated" if changed else "already in force"),
    )


@pipeline_app.command("show")
@handles_errors
def pipeline_show(
    version: Annotated[
        str | None,
        typer.Option("--version", help="A past version (its hash, or 4+ leading characters)."),
    ] = None,
    toml: Annotated[
        bool, typer.Option("--toml", help="Print it as a file `pipeline activate` accepts.")
    ] = False,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """The pipeline in force (or a past version) and the versions activated before it."""
    from rich.table import Table

    from leadflow.service.pipeline_files import pipeline_toml

    lf = store(db)
    plog = lf.pipeline_log()
    current = plog.find(version) if version else lf.pipeline
    if toml:
        out.print(pipeline_toml(current), markup=False, end="")
        return
    if json_out:
        emit(
            {
                "version": current.version,
                "history": plog.history,
                "pipeline": current.model_dump(mode="json"),
            },
            True,
        )
        return
    table = Table(title=f"{current.name} (version {current.version})")
    for column in ("stage", "label", "team", "SLA", "may move to"):
        table.add_column(column)
    for name, stage in current.stages.items():
        label = " / ".join([stage.label, *stage.labels.values()])
        moves = ", ".join(f"{t} ({k.value})" for t, k in stage.transitions.items())
        sla = human_duration(stage.sla) if stage.sla else "-"
        table.add_row(cell(name), cell(label), cell(stage.team or "-"), cell(sla), cell(moves))
    out.print(table)


# -- lead commands --------------------------------------------------------------------


def _parse_attrs(values: list[str] | None) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput("attr", f"{item!r} is not KEY=VALUE")
        if key.strip() in attrs:
            raise InvalidInput(f"attr.{key.strip()}", "given more than once")
        attrs[key.strip()] = value.strip()
    return attrs


@app.command()
@handles_errors
def capture(
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone number (normalised to E.164).")] = None,
    wechat: Annotated[str | None, typer.Option(help="WeChat id.")] = None,
    name: Annotated[str | None, typer.Option(help="Person's name.")] = None,
    company: Annotated[str | None, typer.Option(help="Company.")] = None,
    source: Annotated[str | None, typer.Option(help="Where the lead came from.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign.")] = None,
    attr: Annotated[
        list[str] | None, typer.Option("--attr", help="Profile attribute KEY=VALUE (repeatable).")
    ] = None,
    stage: Annotated[
        str | None, typer.Option(help="Entry stage (default: the pipeline's).")
    ] = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Capture a new lead; prints its id."""
    result = store(db, actor).capture(
        email=email,
        phone=phone,
        wechat=wechat,
        name=name,
        company=company,
        source=source,
        campaign=campaign,
        attributes=_parse_attrs(attr),
        stage=stage,
        at=when(at),
    )
    if json_out:
        emit({"lead_id": str(result.lead_id)}, True)
    else:
        report(result, False)


@app.command()
@handles_errors
def activity(
    lead: LeadArg,
    kind: Annotated[str, typer.Argument(help="page_visit, form_submit, email_open, call, …")],
    detail: Annotated[str | None, typer.Option(help="Page, subject, outcome…")] = None,
    ref: Annotated[str | None, typer.Option(help="External reference.")] = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Record behaviour (page visit, download, …) or a follow-up (call, meeting, …)."""
    result = store(db, actor).record_activity(
        lead_id_of(lead), kind, detail=detail, ref=ref, at=when(at)
    )
    report(result, json_out)


@app.command()
@handles_errors
def assign(
    lead: LeadArg,
    owner: Annotated[str, typer.Argument(help="Rep id.")],
    reason: OptReason = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Assign a lead to a rep (a manager's decision)."""
    report(store(db, actor).assign(lead_id_of(lead), owner, reason=reason, at=when(at)), json_out)


@app.command()
@handles_errors
def claim(
    lead: LeadArg,
    rep: Annotated[str, typer.Argument(help="Rep id claiming the lead.")],
    at: At = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """A rep claims a lead from the public pool."""
    report(store(db).claim(lead_id_of(lead), rep, at=when(at)), json_out)


@app.command()
@handles_errors
def promote(
    lead: LeadArg,
    stage: Annotated[str, typer.Argument(help="Target stage.")],
    reason: OptReason = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Move a lead to another stage (any transition the pipeline allows)."""
    report(
        store(db, actor).change_stage(lead_id_of(lead), stage, reason=reason, at=when(at)), json_out
    )


@app.command()
@handles_errors
def status(
    lead: LeadArg,
    new_status: Annotated[str, typer.Argument(metavar="STATUS", help="Target status.")],
    reason: OptReason = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Set a lead's status."""
    report(
        store(db, actor).change_status(lead_id_of(lead), new_status, reason=reason, at=when(at)),
        json_out,
    )


@app.command()
@handles_errors
def score(
    lead: LeadArg,
    value: Annotated[float, typer.Argument(help="New score.")],
    reason: Reason,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Set a lead's score by hand (scoring rules do this automatically)."""
    report(store(db, actor).set_score(lead_id_of(lead), value, reason, at=when(at)), json_out)


@app.command()
@handles_errors
def handoff(
    lead: LeadArg,
    to: Annotated[str, typer.Argument(help="Sales rep receiving the lead.")],
    note: Annotated[str | None, typer.Option(help="Context for sales.")] = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Hand a lead off to sales; sales must accept or reject within the hand-off SLA."""
    report(store(db, actor).hand_off(lead_id_of(lead), to, note=note, at=when(at)), json_out)


@app.command()
@handles_errors
def accept(
    lead: LeadArg, at: At = None, db: Db = None, json_out: Json = False, actor: Actor = None
) -> None:
    """Sales accepts a hand-off."""
    report(store(db, actor).accept_handoff(lead_id_of(lead), at=when(at)), json_out)


@app.command()
@handles_errors
def convert(
    lead: LeadArg,
    target: Annotated[str, typer.Argument(help="opportunity or customer")],
    account: Annotated[str, typer.Option("--account", help="Account reference.")],
    opportunity: Annotated[
        str | None, typer.Option("--opportunity", help="Opportunity reference.")
    ] = None,
    amount: Annotated[float | None, typer.Option(help="Deal amount.")] = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Convert a lead to an opportunity or a customer."""
    result = store(db, actor).convert(
        lead_id_of(lead), target, account, opportunity_ref=opportunity, amount=amount, at=when(at)
    )
    report(result, json_out)


@app.command()
@handles_errors
def win(
    lead: LeadArg,
    amount: Annotated[float | None, typer.Option(help="Deal amount.")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO currency code.")] = None,
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """The deal was won."""
    result = store(db, actor).win(lead_id_of(lead), amount=amount, currency=currency, at=when(at))
    report(result, json_out)


def _reasoned_command(name: str, method: str, doc: str) -> None:
    def command(
        lead: LeadArg,
        reason: Reason,
        at: At = None,
        db: Db = None,
        json_out: Json = False,
        actor: Actor = None,
    ) -> None:
        lf = store(db, actor)
        report(getattr(lf, method)(lead_id_of(lead), reason, at=when(at)), json_out)

    command.__doc__ = doc
    app.command(name)(handles_errors(command))


_reasoned_command("release", "release", "Send a lead back to the public pool.")
_reasoned_command(
    "reject", "reject_handoff", "Sales rejects a hand-off (the pipeline recycles it to marketing)."
)
_reasoned_command("lose", "lose", "The deal was lost.")
_reasoned_command("churn", "churn", "A customer churned.")
_reasoned_command("disqualify", "disqualify", "Disqualify a lead.")


@app.command()
@handles_errors
def merge(
    duplicate: Annotated[str, typer.Argument(help="The duplicate lead.")],
    into: Annotated[str, typer.Argument(help="The lead that survives.")],
    at: At = None,
    db: Db = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Merge a duplicate lead into another; both keep their history."""
    report(store(db, actor).merge(lead_id_of(duplicate), lead_id_of(into), at=when(at)), json_out)


# -- reading ------------------------------------------------------------------------------


def _shown(value: object) -> str | None:
    """A field of a lead's view as one line for people; ``None`` when it is empty."""
    from leadflow.domain.view import PendingHandOff

    if value is None or value is False or value in ("", [], {}):
        return None
    if isinstance(value, datetime):
        return human_time(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, PendingHandOff):
        due = f", due {human_time(value.sla_due)}" if value.sla_due else ""
        return (
            f"to {value.to_owner} from {value.from_owner or 'the pool'} "
            f"at {human_time(value.handed_off_at)}{due}"
        )
    if isinstance(value, dict):
        return ", ".join(f"{k}={_answer(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return _answer(value)


def _answer(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@app.command()
@handles_errors
def show(lead: LeadArg, db: Db = None, json_out: Json = False) -> None:
    """A lead's current state, derived from its events."""
    from leadflow.domain.view import LeadView

    found = store(db).get_lead(lead_id_of(lead))
    for bad in found.unreadable:  # recorded by an older release: named, never a traceback
        err.print(
            f"warning: {bad.describe()}; this view leaves it out, and the lead can only be "
            "shown and erased until it is repaired (see leadflow doctor)",
            markup=False,
        )
    view = LeadView.of(found)
    if json_out:
        emit(view.model_dump(mode="json"), True)
        return
    width = max(len(key) for key in LeadView.model_fields)
    for key in LeadView.model_fields:
        shown = _shown(getattr(view, key))
        if shown is not None:
            # markup=False: names and reasons are user text, never rich markup.
            out.print(f"{key:<{width}}  {escape(shown)}")


@app.command()
@handles_errors
def events(
    lead: Annotated[str | None, typer.Option("--lead", help="Only this lead's events.")] = None,
    type_: Annotated[
        list[str] | None, typer.Option("--type", help="Only events of this type (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="occurred_at on or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="occurred_at on or before (ISO 8601).")] = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact", help='Personal values as "[personal]" (for analysts; needs no key).'
        ),
    ] = False,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """The lead event log in log order (``--json``: one object per line)."""
    lf = store(db)
    records = lf.read_events(
        redact=redact,
        lead_id=lead_id_of(lead) if lead else None,
        types=type_ or (),
        since=parse_time(since, "since") if since else None,
        until=parse_time(until, "until", end_of_day=True) if until else None,
    )
    write = sys.stdout.write
    for record in records:
        if json_out:
            write(orjson.dumps(record.to_json_dict()).decode() + "\n")
        else:
            summary = ", ".join(
                f"{k}={v}" for k, v in record.data.items() if v not in (None, {}, [])
            )
            write(
                f"{record.position:>8}  {human_time(record.occurred_at):<23}  "
                f"{record.lead_id}  {record.type:<18} {escape(record.actor):<28} "
                f"{escape(summary)}\n"
            )
    sys.stdout.flush()


def _register_plugins() -> None:
    from leadflow.adapters import (
        cli_demo,
        cli_doctor,
        cli_find,
        cli_leads,
        cli_personal_data,
        cli_pipelines,
        cli_policies,
        cli_projections,
        cli_serve,
        cli_stream,
    )

    cli_demo.register(app)
    cli_doctor.register(app)
    cli_personal_data.register(app)
    cli_pipelines.register(pipeline_app)
    cli_find.register(app)
    cli_policies.register(app)
    cli_leads.register(app)
    cli_projections.register(app)
    cli_stream.register(app)
    cli_serve.register(app)


if __name__ != "__main__":
    # Plugins import this module by name; under ``python -m`` that is a second copy of it
    # (below), which registers them on its own app.
    _register_plugins()


def main() -> None:
    app()


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy: plugins register on the former.
    from leadflow.adapters.cli import main as _main

    _main()
