"""What every ``leadflow`` command shares: the common options, the error-to-exit-code
mapping, opening the store, and output.

A leaf module: ``cli`` and each command plugin import it, and it imports none of them
(the read-model catch-up after a write is imported when it runs), so any of them can be
imported first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar
from uuid import UUID

import orjson
import typer

from leadflow.adapters.formatting import SafeConsole
from leadflow.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    KeyUnavailable,
    LeadflowError,
    LeadNotFound,
    NotPermitted,
    PipelineInvalid,
    StoreNotFound,
)

if TYPE_CHECKING:  # imported when a command opens the store: ``--help`` never does
    from leadflow.service.application import CommandResult, Leadflow

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "EXIT_NOT_PERMITTED",
    "Actor",
    "At",
    "Db",
    "Json",
    "LeadArg",
    "OptReason",
    "Reason",
    "emit",
    "err",
    "handles_errors",
    "lead_id_of",
    "out",
    "parse_time",
    "report",
    "state",
    "store",
    "when",
]

out = SafeConsole(soft_wrap=True)
err = SafeConsole(stderr=True, soft_wrap=True)

EXIT_INVALID, EXIT_CONFLICT, EXIT_NOT_FOUND, EXIT_NOT_PERMITTED = 2, 3, 4, 6

P = ParamSpec("P")
R = TypeVar("R")

Db = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="LEADFLOW_DB", help="Store URL: sqlite:///file.db or postgresql://…"
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
Actor = Annotated[
    str | None, typer.Option("--actor", envvar="LEADFLOW_ACTOR", help="Who acts (user id).")
]
At = Annotated[
    str | None,
    typer.Option("--at", help="When it happened (ISO 8601; default now). May backdate."),
]
LeadArg = Annotated[str, typer.Argument(help="Lead id.", show_default=False)]
Reason = Annotated[str, typer.Option("--reason", help="Why.")]
OptReason = Annotated[str | None, typer.Option("--reason", help="Why.")]


# -- plumbing ---------------------------------------------------------------------------


class _State:
    db: str | None = None
    opened: tuple[str | None, Leadflow, int] | None = None
    """The store the running command opened (URL as given, application, log position)."""
    stores: list[Leadflow] = []
    """Every store the running command opened: closed when it ends (their connections
    too, which matters when many commands run in one process: tests, an HTTP server)."""


state = _State()


def parse_time(value: str, field: str, *, end_of_day: bool = False) -> datetime:
    """ISO 8601; a time without an offset is UTC; a bare date is midnight UTC. Times
    outside :data:`~leadflow.domain.bounds.EARLIEST` .. ``LATEST`` are refused."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            parsed = datetime.combine(day, time.max if end_of_day else time.min, UTC)
        else:
            parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not an ISO 8601 date or time") from None
    from leadflow.domain.bounds import check_time

    return check_time(field, parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def parse_day(value: str | None, field: str) -> date | None:
    """A day (YYYY-MM-DD) given as an option, within the bounds of every time."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a date (YYYY-MM-DD)") from None
    from leadflow.domain.bounds import check_day

    return check_day(field, day)


PREFIX_MIN = 8
"""The shortest id prefix a command accepts for a lead (what ``audit`` prints)."""
_HEX = frozenset("0123456789abcdef-")


def lead_id_of(value: str, db: str | None = None) -> UUID:
    """The lead a command's argument names: its id, or a unique prefix of it (8+ chars).

    The one place lead arguments are resolved. A prefix is looked up in ``lf_leads``
    (caught up first) of the store the command opened (else ``db``): none is exit 4, more
    than one exit 2 listing the candidates.
    """
    text = value.strip().lower()
    try:
        return UUID(text)
    except ValueError:
        pass
    if len(text) < PREFIX_MIN or not set(text) <= _HEX:
        raise InvalidInput(
            "lead_id",
            f"{value!r} is not a lead id (a UUID, or at least {PREFIX_MIN} of its leading "
            "characters)",
        )
    if state.opened is None:
        store(db)
    assert state.opened is not None
    url, lf, _ = state.opened
    from leadflow.adapters.cli_projections import catch_up, projection_runner
    from leadflow.projections.lead_search import ids_starting_with

    runner = projection_runner(url, lf)
    catch_up(lf, runner)
    with runner.engine.connect() as conn:
        found = ids_starting_with(conn, text, limit=11)
    if not found:
        raise LeadNotFound(value)
    if len(found) > 1:
        listed = ", ".join(found[:10]) + (", …" if len(found) > 10 else "")
        raise InvalidInput("lead_id", f"{value!r} is ambiguous: it starts {listed}")
    return UUID(found[0])


def _fail(code: int, exc: Exception, as_json: bool) -> NoReturn:
    if as_json:
        payload: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, InvalidInput):
            payload["field"] = exc.field
            payload["reason"] = exc.reason
        if isinstance(exc, IllegalTransition):
            payload.update(**{"from": exc.from_, "to": exc.to, "allowed": exc.allowed})
        if isinstance(exc, NotPermitted):
            payload.update(actor=exc.actor, allowed=exc.allowed)
        out.print(orjson.dumps({"error": payload}).decode(), markup=False)
    err.print(f"error: {exc}", markup=False)
    raise typer.Exit(code)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Map leadflow's errors to the documented exit codes."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("json_out", False))
        state.opened = None
        state.stores = []
        try:
            result = func(*args, **kwargs)
            _after_write()
            return result
        except (InvalidInput, IllegalTransition, PipelineInvalid) as exc:
            _fail(EXIT_INVALID, exc, as_json)
        except Conflict as exc:
            _fail(EXIT_CONFLICT, exc, as_json)
        except (LeadNotFound, StoreNotFound) as exc:
            _fail(EXIT_NOT_FOUND, exc, as_json)
        except (NotPermitted, KeyUnavailable) as exc:
            _fail(EXIT_NOT_PERMITTED, exc, as_json)
        except LeadflowError as exc:
            _fail(1, exc, as_json)
        finally:
            _close_stores()

    return wrapper


def _close_stores() -> None:
    opened, state.stores = state.stores, []
    for lf in opened:
        try:
            lf.close()
        except Exception as exc:  # closing never hides the command's own outcome
            err.print(f"warning: closing the store: {exc}")


def store(db: str | None, actor: str | None = None, *, create: bool = False) -> Leadflow:
    """The store the command works on. Only ``init``, ``demo`` and ``import`` create one
    (``create``); any other command on a URL with no store exits 4."""
    from leadflow.adapters.store import open_store

    lf = open_store(db or state.db, actor=actor, create=create)
    state.stores.append(lf)
    state.opened = (db or state.db, lf, lf.max_position())
    return lf


def _after_write() -> None:
    """After a command that recorded events, bring the read models up to date."""
    if state.opened is None:
        return
    url, lf, position = state.opened
    state.opened = None
    if lf.max_position() > position:
        from leadflow.adapters.cli_projections import catch_up_after_write

        catch_up_after_write(url, lf)


def when(at: str | None) -> datetime | None:
    """``--at``: absent means now; given, it must be a time (``--at ""`` is refused)."""
    return parse_time(at, "at") if at is not None else None


def emit(value: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        out.print(orjson.dumps(value, default=str).decode(), markup=False)
    else:
        out.print(text if text is not None else str(value), markup=False)


def report(result: CommandResult, as_json: bool) -> None:
    if as_json:
        emit(
            {
                "lead_id": str(result.lead_id),
                "version": result.version,
                "events": [
                    {"position": e.position, "type": e.type, "actor": e.actor}
                    for e in result.events
                ],
            },
            True,
        )
        return
    for e in result.events:
        err.print(f"  recorded {e.type} at position {e.position} by {e.actor}", markup=False)
    out.print(str(result.lead_id), markup=False)
