"""Every error as an RFC 9457 problem document (``application/problem+json``).

``type`` is a stable URI naming the kind of problem (documented in docs/http-api.md),
``title`` its short summary, ``status`` the HTTP status, ``detail`` what happened in
this case. Extension members name the field (``field``), the transition (``from``,
``to``, ``allowed``) or who may act (``actor``, ``allowed``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadflow.adapters.http.forms import FormNotFound
from leadflow.adapters.http.tokens import TokenNotFound, TokenRefused
from leadflow.adapters.store import StoreUnavailable
from leadflow.domain.permissions import ScopeNotGranted
from leadflow.errors import (
    ConcurrencyConflict,
    IllegalTransition,
    InvalidInput,
    LeadflowError,
    LeadNotFound,
    NotPermitted,
    PipelineInvalid,
)

__all__ = [
    "PROBLEM_RESPONSES",
    "WRITE_RESPONSES",
    "Problem",
    "ProblemError",
    "install_problem_handlers",
    "problem_doc",
    "problem_for",
    "problem_response",
]

MEDIA_TYPE = "application/problem+json"
BASE = "urn:leadflow:problem:"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None


class ProblemError(Exception):
    """Raised by the HTTP layer for a problem of its own (rate limit, idempotency …)."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    status: int,
    kind: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {"type": BASE + kind, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_for(exc: Exception) -> JSONResponse | None:
    """The problem document of a leadflow error or a :class:`ProblemError` (else ``None``)."""
    if isinstance(exc, ProblemError):
        return problem_response(
            exc.status, exc.kind, exc.title, exc.detail, exc.headers, **exc.extensions
        )
    if isinstance(exc, LeadflowError):
        return _leadflow_problem(exc)
    return None


def _leadflow_problem(exc: LeadflowError) -> JSONResponse:
    if isinstance(exc, InvalidInput):
        return problem_response(422, "invalid-input", "Invalid input", str(exc), field=exc.field)
    if isinstance(exc, IllegalTransition):
        transition: dict[str, Any] = {"from": exc.from_, "to": exc.to, "allowed": exc.allowed}
        return problem_response(
            422,
            "illegal-transition",
            "Illegal transition",
            str(exc),
            **transition,
        )
    if isinstance(exc, PipelineInvalid):
        return problem_response(
            422,
            "invalid-pipeline",
            "Invalid pipeline",
            str(exc),
            problems=[{"field": k, "reason": r} for k, r in exc.problems],
        )
    if isinstance(exc, LeadNotFound):
        return problem_response(404, "not-found", "Not found", str(exc))
    if isinstance(exc, TokenNotFound | FormNotFound):
        return problem_response(404, "not-found", "Not found", str(exc))
    if isinstance(exc, ConcurrencyConflict):
        return problem_response(409, "conflict", "Concurrency conflict", str(exc))
    if isinstance(exc, ScopeNotGranted):
        return problem_response(403, "scope", "Scope does not permit", str(exc), scopes=exc.allowed)
    if isinstance(exc, NotPermitted):
        return problem_response(
            403, "not-permitted", "Not permitted", str(exc), actor=exc.actor, allowed=exc.allowed
        )
    if isinstance(exc, TokenRefused):
        return problem_response(
            401,
            "unauthorized",
            "Unauthorized",
            exc.reason,
            headers={"WWW-Authenticate": 'Bearer realm="leadflow"'},
        )
    if isinstance(exc, StoreUnavailable):
        return problem_response(503, "unavailable", "Store unavailable", str(exc))
    return problem_response(400, "error", "Request failed", str(exc))


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(part) for part in first.get("loc", ())]
    # ("body", "email") names the field "email"; ("query", "limit") names "limit".
    field = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    message = "unknown field" if first.get("type") == "extra_forbidden" else first["msg"]
    return problem_response(
        422,
        "invalid-input",
        "Invalid input",
        f"{field or 'body'}: {message}",
        field=field or "body",
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def on_leadflow(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LeadflowError)
        return _leadflow_problem(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_problem(exc)

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status, exc.kind, exc.title, exc.detail, exc.headers, **exc.extensions
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(
            exc.status_code,
            kind,
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            dict(exc.headers or {}),
        )

    app.add_exception_handler(LeadflowError, on_leadflow)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI response: a problem document (``application/problem+json``)."""
    return {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": Problem.model_json_schema()}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: problem_doc("Missing, unknown, expired or revoked token"),
    403: problem_doc("The token's scope (or the rules on who acts) does not permit it"),
    422: problem_doc("Invalid input or an illegal transition; names the field or the rule"),
}
"""The problems every authenticated endpoint may answer (in the OpenAPI schema)."""

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    409: problem_doc("Concurrency conflict (after retries), or the Idempotency-Key is in use"),
}
"""The problems every write may answer."""
