"""CLI commands of the HTTP service and what reaches reps through it: ``serve``, API
tokens (``token create|list|revoke``), web forms (``form create|list``), webhooks
(``webhook create|list|deliveries|run``) and ``reminders``.

Registered on the main app by :func:`register` (see ``cli._register_plugins``).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from leadflow.adapters.cli_support import Db, Json, emit, handles_errors, out, state
from leadflow.errors import LeadNotFound

if TYPE_CHECKING:  # imported when a command runs: ``--help`` loads no store
    import sqlalchemy as sa

__all__ = ["register"]

token_app = typer.Typer(help="API tokens of the HTTP service.", no_args_is_help=True)
form_app = typer.Typer(help="Web forms (POST /v1/forms/FORM_ID).", no_args_is_help=True)
webhook_app = typer.Typer(help="Webhooks: the event log over HTTP.", no_args_is_help=True)

P = ParamSpec("P")
R = TypeVar("R")


def _not_found_is_4(func: Callable[P, R]) -> Callable[P, R]:
    """An unknown token id exits 4, like an unknown lead."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from leadflow.adapters.http.tokens import TokenNotFound

        try:
            return func(*args, **kwargs)
        except TokenNotFound as exc:
            raise LeadNotFound(exc.token_id) from None

    return wrapper


def _now() -> datetime:
    return datetime.now(UTC)


def _engine(db: str | None) -> sa.Engine:
    """The service's tables (tokens, forms, webhooks) of the store at ``db``; they live beside
    the log, so a store not made yet is made first, as ``serve`` does."""
    from leadflow.adapters.http.database import service_engine
    from leadflow.adapters.store import open_store, resolve_url, store_exists

    url = resolve_url(db or state.db)
    if not store_exists(url):
        open_store(url).close()
    return service_engine(url)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).", min=0, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Processes (each with its own caches; all write one store).")
    ] = 1,
    log_level: Annotated[str, typer.Option("--access-log-level", help="uvicorn's log level.")] = (
        "warning"
    ),
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            "--forwarded-allow-ips",
            help="Proxies whose X-Forwarded-For names the client (rate limits use it).",
        ),
    ] = "127.0.0.1",
    webhooks: Annotated[
        bool, typer.Option("--webhooks/--no-webhooks", help="Deliver webhooks from this process.")
    ] = True,
    webhook_backoff: Annotated[
        float, typer.Option(help="Seconds before the first webhook retry (doubling).")
    ] = 1.0,
    webhook_max_backoff: Annotated[
        float, typer.Option(help="Longest wait between webhook retries, in seconds.")
    ] = 300.0,
    db: Db = None,
) -> None:
    """Run the HTTP API (FastAPI on uvicorn): /v1, /openapi.json, /docs, /healthz.

    With --webhooks (the default) one thread of this process delivers the webhooks,
    whatever the number of workers (run it in one serve only, or use `webhook run`).
    """
    import uvicorn

    from leadflow.adapters.http.database import service_engine
    from leadflow.adapters.store import open_store, resolve_url

    url = resolve_url(db or state.db)
    open_store(url).close()  # create the store (and fail early if it is unreachable)
    service_engine(url)
    os.environ["LEADFLOW_DB"] = url
    stop = _start_deliverer(url, webhook_backoff, webhook_max_backoff) if webhooks else None
    try:
        _run_uvicorn(uvicorn, host, port, workers, log_level, forwarded_allow_ips)
    finally:
        if stop is not None:
            stop.set()


def _start_deliverer(url: str, base: float, max_backoff: float) -> threading.Event:
    from leadflow.adapters.http.database import service_engine
    from leadflow.adapters.http.webhooks import Deliverer
    from leadflow.adapters.store import open_store

    stop = threading.Event()
    deliverer = Deliverer(
        open_store(url, actor="system:webhooks"),
        service_engine(url),
        base=base,
        max_backoff=max_backoff,
    )
    threading.Thread(target=deliverer.run, args=(stop,), name="webhooks", daemon=True).start()
    return stop


def _run_uvicorn(
    uvicorn: Any, host: str, port: int, workers: int, log_level: str, forwarded: str
) -> None:
    uvicorn.run(
        "leadflow.adapters.http.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
        forwarded_allow_ips=forwarded,
    )


@token_app.command("create")
@handles_errors
def token_create(
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    scope: Annotated[str, typer.Option("--scope", help="intake, read, rep, manager or admin.")],
    rep: Annotated[str | None, typer.Option("--rep", help="The rep a rep token acts as.")] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Identity of a non-rep token (default api:NAME)."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime: 90d, 12h … (default: none).")
    ] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Create a token; its secret is printed once (only a hash is kept)."""
    from leadflow.adapters.http.tokens import create_token, parse_expires

    token, secret = create_token(
        _engine(db),
        name=name,
        scope=scope,
        rep=rep,
        actor=actor,
        expires_in=parse_expires(expires) if expires else None,
        now=_now(),
    )
    emit(
        {"id": token.token_id, "token": secret},
        json_out,
        f"{secret}\n(token {token.token_id}, scope {token.scope}, acts as {token.actor}; "
        "the secret is shown only now)",
    )


@token_app.command("list")
@handles_errors
def token_list(db: Db = None, json_out: Json = False) -> None:
    """Every token, without its secret."""
    from rich.table import Table
    from rich.text import Text

    from leadflow.adapters.http.tokens import list_tokens

    tokens = list_tokens(_engine(db))
    if json_out:
        emit([t.to_json_dict() for t in tokens], True)
        return
    table = Table(title="API tokens")
    for column in ("id", "name", "scope", "acts as", "created", "expires", "revoked"):
        table.add_column(column, no_wrap=column == "id")
    for t in tokens:
        table.add_row(
            *[
                Text(cell)
                for cell in (
                    t.token_id,
                    t.name,
                    t.scope,
                    t.actor,
                    t.created_at.isoformat(timespec="seconds"),
                    t.expires_at.isoformat(timespec="seconds") if t.expires_at else "-",
                    t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "-",
                )
            ]
        )
    out.print(table)


@token_app.command("revoke")
@handles_errors
@_not_found_is_4
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id.")],
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Revoke a token: the service refuses it (401) from now on."""
    from leadflow.adapters.http.tokens import revoke_token

    token = revoke_token(_engine(db), token_id, _now())
    emit(token.to_json_dict(), json_out, f"token {token.token_id} revoked")


@form_app.command("create")
@handles_errors
def form_create(
    form_id: Annotated[str, typer.Argument(metavar="FORM_ID", help="a-z, 0-9, _ and -.")],
    field: Annotated[
        list[str],
        typer.Option(
            "--field",
            help="FORM_FIELD=LEAD_FIELD (email, phone, wechat, name, company, campaign or "
            "attributes.KEY); repeatable.",
        ),
    ],
    source: Annotated[str | None, typer.Option(help="Source of its leads.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign of its leads.")] = None,
    thank_you: Annotated[
        str | None, typer.Option("--thank-you", help="Where visitors go afterwards (URL).")
    ] = None,
    honeypot: Annotated[
        str, typer.Option(help="Hidden field people leave empty ('' for none).")
    ] = "website",
    min_fill: Annotated[
        float, typer.Option("--min-fill", help="Seconds a person needs at least (0: off).")
    ] = 3.0,
    form_rate: Annotated[
        str, typer.Option("--form-rate", help="Submissions per window for the form.")
    ] = "50/10s",
    client_rate: Annotated[
        str, typer.Option("--client-rate", help="Submissions per window per client address.")
    ] = "5/1m",
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Create or replace a web form: which form field fills which lead field, spam rules."""
    from leadflow.adapters.http.forms import FormDefinition, RateLimit, save_form
    from leadflow.errors import InvalidInput

    fields: dict[str, str] = {}
    for item in field:
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise InvalidInput("field", f"{item!r} is not FORM_FIELD=LEAD_FIELD")
        fields[name.strip()] = target.strip()
    form = FormDefinition.checked(
        {
            "form_id": form_id,
            "fields": fields,
            "source": source,
            "campaign": campaign,
            "thank_you_url": thank_you,
            "honeypot": honeypot or None,
            "min_fill_seconds": min_fill,
            "form_rate": RateLimit.parse(form_rate, "form_rate"),
            "client_rate": RateLimit.parse(client_rate, "client_rate"),
        }
    )
    created = save_form(_engine(db), form, _now())
    emit(
        {**form.model_dump(mode="json"), "created": created},
        json_out,
        f"form {form.form_id} {'created' if created else 'replaced'}: "
        f"POST /v1/forms/{form.form_id}",
    )


@form_app.command("list")
@handles_errors
def form_list(db: Db = None, json_out: Json = False) -> None:
    """Every form with its counts (captured, matched, spam, rate limited, invalid)."""
    from leadflow.adapters.http.forms import counts, list_forms

    engine = _engine(db)
    rows = [
        {**form.model_dump(mode="json"), "counts": counts(engine, form.form_id)}
        for form in list_forms(engine)
    ]
    if json_out:
        emit(rows, True)
        return
    for row in rows:
        tally = ", ".join(f"{k}={v}" for k, v in sorted(row["counts"].items())) or "no submissions"
        out.print(f"{row['form_id']}  source={row['source'] or '-'}  {tally}", markup=False)


@webhook_app.command("create")
@handles_errors
def webhook_create(
    url: Annotated[str, typer.Option("--url", help="Where to POST each event.")],
    events: Annotated[
        str, typer.Option("--events", help="Event types, comma-separated (* for all).")
    ],
    max_attempts: Annotated[
        int, typer.Option(help="Failures before an event becomes a dead letter.")
    ] = 10,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Deliver the whole log, not only new events.")
    ] = False,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Create a webhook; prints its signing secret (keep it: receivers verify with it)."""
    from leadflow.adapters.http.webhooks import create_webhook
    from leadflow.adapters.store import open_store

    lf = open_store(db or state.db)
    webhook = create_webhook(
        _engine(db),
        lf,
        url=url,
        events=events.split(","),
        max_attempts=max_attempts,
        from_start=from_start,
        now=_now(),
    )
    emit(
        {**webhook.to_json_dict(), "secret": webhook.secret},
        json_out,
        f"webhook {webhook.webhook_id} from position {webhook.position}; "
        f"signing secret {webhook.secret}",
    )


@webhook_app.command("list")
@handles_errors
def webhook_list(db: Db = None, json_out: Json = False) -> None:
    """Every webhook with its position in the log (without its secret)."""
    from leadflow.adapters.http.webhooks import list_webhooks

    hooks = [w.to_json_dict() for w in list_webhooks(_engine(db))]
    if json_out:
        emit(hooks, True)
        return
    for w in hooks:
        out.print(
            f"{w['id']}  {w['url']}  events={','.join(w['events'])}  position={w['position']}",
            markup=False,
        )


@webhook_app.command("deliveries")
@handles_errors
def webhook_deliveries(
    webhook: Annotated[str | None, typer.Option("--webhook", help="Only this webhook.")] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Deliveries that failed: those being retried, and the dead letters."""
    from leadflow.adapters.http.webhooks import deliveries

    rows = deliveries(_engine(db), webhook)
    if json_out:
        emit(rows, True)
        return
    for r in rows:
        out.print(
            f"{r['webhook_id']}  #{r['position']}  {r['type']}  {r['state']}  "
            f"attempts={r['attempts']}  {r['last_error']}",
            markup=False,
        )


@webhook_app.command("run")
@handles_errors
def webhook_run(
    follow: Annotated[bool, typer.Option("--follow", help="Keep delivering new events.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 0.5,
    backoff: Annotated[float, typer.Option(help="Seconds before the first retry.")] = 1.0,
    max_backoff: Annotated[float, typer.Option(help="Longest wait between retries.")] = 300.0,
    db: Db = None,
) -> None:
    """Deliver the webhooks from this process (once, or continuously with --follow)."""
    from leadflow.adapters.http.webhooks import Deliverer
    from leadflow.adapters.store import open_store

    deliverer = Deliverer(
        open_store(db or state.db, actor="system:webhooks"),
        _engine(db),
        base=backoff,
        max_backoff=max_backoff,
    )
    if not follow:
        while deliverer.run_once():
            pass
        return
    stop = threading.Event()
    try:
        deliverer.run(stop, interval)
    except KeyboardInterrupt:
        stop.set()


def reminders(
    rep: Annotated[str, typer.Option("--rep", help="The rep (rep:<name>).")],
    since: Annotated[
        str | None, typer.Option(help="Touches since (ISO 8601; default 7 days ago).")
    ] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """What a rep must act on: deadlines a sweep reminded them of, and duplicate touches."""
    from datetime import timedelta

    from leadflow.adapters.cli_support import parse_time, store
    from leadflow.service.reminders import reminders_for

    lf = store(db)
    now = lf.clock()
    start = parse_time(since, "since") if since else now - timedelta(days=7)
    found = reminders_for(lf, rep, now, start)
    if json_out:
        emit(found.to_json_dict(), True)
        return
    for row in found.due:
        out.print(
            f"due {row['deadline_at']}  {row['deadline']}  lead {row['lead_id']}", markup=False
        )
    for row in found.touches:
        out.print(
            f"touch {row['touched_at']}  lead {row['lead_id']}  source={row['source'] or '-'}",
            markup=False,
        )
    if not found.due and not found.touches:
        out.print(f"nothing due for {rep}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("reminders")(handles_errors(reminders))
    app.add_typer(token_app, name="token")
    app.add_typer(form_app, name="form")
    app.add_typer(webhook_app, name="webhook")
    app.command("serve")(handles_errors(serve))
