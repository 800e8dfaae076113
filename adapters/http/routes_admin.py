"""Health, the roster (manager), API tokens and webhooks (admin) and the pipeline (read;
admin puts one in force)."""

# No ``from __future__ import annotations``: the endpoints made in loops annotate their
# body with a local class, which FastAPI must see as a class, not a string.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from leadflow.adapters.http.auth import Caller, requires, service_of
from leadflow.adapters.http.bodies import CommandResponse, body_model, command_response
from leadflow.adapters.http.idempotency import once
from leadflow.adapters.http.problems import (
    PROBLEM_RESPONSES,
    WRITE_RESPONSES,
    ProblemError,
    problem_doc,
)
from leadflow.adapters.http.tokens import create_token, list_tokens, parse_expires, revoke_token
from leadflow.adapters.http.webhooks import create_webhook, deliveries, list_webhooks
from leadflow.domain.commands import AddRep, Command, DefineTeam, RecordAbsence, Redistribute
from leadflow.domain.pipeline import parse_pipeline_toml
from leadflow.errors import InvalidInput

__all__ = ["health", "router"]

router = APIRouter(prefix="/v1", tags=["roster and tokens"])
health = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(description="ok, or unavailable when the store cannot be read.")
    log_position: int | None
    read_models: list[dict[str, Any]] = Field(description="Each read model's position and lag.")
    max_lag: int | None = Field(description="The most events any read model has not applied.")


@health.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(request: Request) -> Response:
    """Is the store reachable, and how far behind the log are the read models (no token)."""
    service = service_of(request)
    try:
        with service.locked() as lf:
            head = lf.max_position()
            positions = service.runner().positions()
    except Exception as exc:  # any failure to read the store is "unavailable"
        body = Health(status="unavailable", log_position=None, read_models=[], max_lag=None)
        return JSONResponse({**body.model_dump(), "detail": str(exc)[:500]}, status_code=503)
    rows: list[dict[str, Any]] = [
        {"name": name, "position": position, "lag": max(head - position, 0)}
        for name, position in positions.items()
    ]
    lag = max((row["lag"] for row in rows), default=0)
    return JSONResponse(
        Health(status="ok", log_position=head, read_models=rows, max_lag=lag).model_dump()
    )


# -- the roster --------------------------------------------------------------------------

ROSTER_COMMANDS: dict[str, tuple[str, type[Command], tuple[str, ...]]] = {
    "add_rep": ("/reps", AddRep, ()),
    "record_absence": ("/reps/{rep}/absences", RecordAbsence, ("rep",)),
    "redistribute": ("/reps/{rep}/redistribute", Redistribute, ("rep",)),
    "define_team": ("/teams", DefineTeam, ()),
}


def _roster_endpoint(path: str, command: type[Command], from_path: tuple[str, ...]) -> None:
    body_type = body_model(command, without=from_path)

    def endpoint(
        request: Request,
        body: body_type,  # type: ignore[valid-type]
        caller: Annotated[Caller, Depends(requires(command.NAME))],
    ) -> Response:
        service = service_of(request)
        data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        data.update({name: request.path_params[name] for name in from_path})

        def run() -> Response:
            with service.locked() as lf:
                result = lf.execute(command, data, actor=caller.actor)
            return JSONResponse(command_response(result))

        return once(service, request, caller.token_id, data, run)

    endpoint.__name__ = command.NAME
    endpoint.__doc__ = command.__doc__
    if from_path:
        # The path parameter, documented (FastAPI reads it from the signature).
        def with_rep(
            request: Request,
            body: body_type,  # type: ignore[valid-type]
            rep: Annotated[str, Path(description="The rep (rep:<name>).", max_length=200)],
            caller: Annotated[Caller, Depends(requires(command.NAME))],
        ) -> Response:
            return endpoint(request, body, caller)

        with_rep.__name__ = command.NAME
        with_rep.__doc__ = command.__doc__
        target: Any = with_rep
    else:
        target = endpoint
    router.post(path, response_model=CommandResponse, responses=WRITE_RESPONSES)(target)


for _name, (_path, _command, _from_path) in ROSTER_COMMANDS.items():
    _roster_endpoint(_path, _command, _from_path)


@router.get("/reps", responses=PROBLEM_RESPONSES)
def reps(request: Request, caller: Annotated[Caller, Depends(requires("read"))]) -> dict[str, Any]:
    """Reps with team, capacity, weight and open leads (``leadflow rep list --json``)."""

    def query(lf: Any) -> dict[str, Any]:
        roster = lf.roster()
        return {
            "roster_version": roster.version,
            "reps": [
                {
                    "rep": rep,
                    "team": info.team,
                    "capacity": info.capacity,
                    "weight": info.weight,
                    "open_leads": roster.load(rep),
                    "absences": [[s.isoformat(), e.isoformat()] for s, e in info.absences],
                }
                for rep, info in sorted(roster.reps.items())
            ],
        }

    result: dict[str, Any] = service_of(request).read(query)
    return result


# -- tokens --------------------------------------------------------------------------------


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scope: str = Field(description="intake, read, rep, manager or admin.", max_length=20)
    rep: str | None = Field(default=None, max_length=200)
    actor: str | None = Field(default=None, max_length=200)
    expires: str | None = Field(default=None, description="A duration: 90d, 12h …", max_length=20)


class CreatedToken(BaseModel):
    id: str
    token: str = Field(description="The secret, shown once.")


TokenId = Annotated[str, Path(max_length=32)]


@router.post("/tokens", status_code=201, response_model=CreatedToken, responses=WRITE_RESPONSES)
def token_create(
    request: Request, body: NewToken, caller: Annotated[Caller, Depends(requires("tokens"))]
) -> Response:
    """A new API token; its secret is in this response only."""
    service = service_of(request)
    data = body.model_dump()

    def run() -> Response:
        expires = parse_expires(body.expires) if body.expires else None
        token, secret = create_token(
            service.engine,
            name=body.name,
            scope=body.scope,
            rep=body.rep,
            actor=body.actor,
            expires_in=expires,
            now=service.now(),
        )
        return JSONResponse({"id": token.token_id, "token": secret}, status_code=201)

    return once(service, request, caller.token_id, data, run)


@router.get("/tokens", responses=PROBLEM_RESPONSES)
def token_list(
    request: Request, caller: Annotated[Caller, Depends(requires("tokens"))]
) -> list[dict[str, Any]]:
    """Every token, without its secret."""
    return [token.to_json_dict() for token in list_tokens(service_of(request).engine)]


@router.delete(
    "/tokens/{token_id}", responses={**PROBLEM_RESPONSES, 404: problem_doc("No such token")}
)
def token_revoke(
    request: Request, token_id: TokenId, caller: Annotated[Caller, Depends(requires("tokens"))]
) -> dict[str, Any]:
    """Revoke a token: it is refused (401) from now on."""
    service = service_of(request)
    return revoke_token(service.engine, token_id, service.now()).to_json_dict()


# -- the pipeline ----------------------------------------------------------------------------


@router.get("/pipeline", responses=PROBLEM_RESPONSES)
def pipeline_show(
    request: Request, caller: Annotated[Caller, Depends(requires("read"))]
) -> dict[str, Any]:
    """The pipeline in force and the versions before it (``leadflow pipeline show --json``)."""

    def query(lf: Any) -> dict[str, Any]:
        current = lf.pipeline
        return {
            "version": current.version,
            "history": lf.pipeline_log().history,
            "pipeline": current.model_dump(mode="json"),
        }

    result: dict[str, Any] = service_of(request).read(query)
    return result


MAX_PIPELINE = 256 * 1024


@router.put(
    "/pipeline",
    responses={**WRITE_RESPONSES, 413: problem_doc("Body over 256 KiB")},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/toml": {"schema": {"type": "string"}}},
        }
    },
)
async def pipeline_activate(
    request: Request, caller: Annotated[Caller, Depends(requires("pipeline"))]
) -> Response:
    """Put a pipeline (TOML, as ``leadflow pipeline activate FILE``) in force; validation
    errors name each key (422, ``problems``)."""
    raw = await request.body()
    if len(raw) > MAX_PIPELINE:
        raise ProblemError(413, "too-large", "Request too large", "a pipeline is at most 256 KiB")
    service = service_of(request)

    def run() -> Response:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("body", "a pipeline is UTF-8 TOML text") from None
        pipeline = parse_pipeline_toml(text, "request body")
        with service.locked() as lf:
            activated = lf.activate_pipeline(pipeline, actor=caller.actor)
        return JSONResponse({"version": pipeline.version, "activated": activated})

    return await run_in_threadpool(
        once, service, request, caller.token_id, {"toml": raw.decode("utf-8", "replace")}, run
    )


# -- webhooks --------------------------------------------------------------------------------


class NewWebhook(BaseModel):
    url: str = Field(max_length=2000, description="Where to POST each event (http or https).")
    events: list[str] = Field(min_length=1, max_length=100, description="Event types, or *.")
    max_attempts: int = Field(default=10, ge=1, le=100)
    from_start: bool = Field(default=False, description="Deliver the whole log, not only new.")


@router.post("/webhooks", status_code=201, responses=WRITE_RESPONSES)
def webhook_create(
    request: Request, body: NewWebhook, caller: Annotated[Caller, Depends(requires("webhooks"))]
) -> Response:
    """A new webhook; the answer holds its signing secret (shown only now)."""
    service = service_of(request)

    def run() -> Response:
        webhook = service.read(
            lambda lf: create_webhook(
                service.engine,
                lf,
                url=body.url,
                events=body.events,
                max_attempts=body.max_attempts,
                from_start=body.from_start,
                now=service.now(),
            )
        )
        return JSONResponse({**webhook.to_json_dict(), "secret": webhook.secret}, status_code=201)

    return once(service, request, caller.token_id, body.model_dump(), run)


@router.get("/webhooks", responses=PROBLEM_RESPONSES)
def webhook_list(
    request: Request, caller: Annotated[Caller, Depends(requires("webhooks"))]
) -> list[dict[str, Any]]:
    """Every webhook with its position in the log (without its secret)."""
    return [w.to_json_dict() for w in list_webhooks(service_of(request).engine)]


@router.get("/webhooks/deliveries", responses=PROBLEM_RESPONSES)
def webhook_deliveries(
    request: Request,
    caller: Annotated[Caller, Depends(requires("webhooks"))],
    webhook: Annotated[
        str | None, Query(max_length=32, pattern="^[0-9a-f]+$", description="Only this webhook.")
    ] = None,
) -> list[dict[str, Any]]:
    """Failed deliveries: those being retried, and the dead letters."""
    return deliveries(service_of(request).engine, webhook)
