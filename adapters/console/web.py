"""What every console page shares: who is looking, templates, errors, headers, forms.

* :func:`viewer_of` finds the session behind the request's cookie (or ``None``: the page
  redirects to sign-in). The :class:`Viewer` answers what the token may do from
  :data:`leadflow.domain.permissions.SCOPES` (:func:`~leadflow.domain.permissions.grants`),
  so a button is drawn exactly when the API would accept the write.
* Templates are Jinja2 with autoescaping on for every file: a user string is escaped by
  construction, never by remembering to.
* Every response carries a Content-Security-Policy that allows only the server's own
  script and style (``'self'``), no inline script, no frames, forms only to the server.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadflow.adapters.console.sessions import Session, session_of
from leadflow.adapters.http.auth import service_of
from leadflow.adapters.http.service import Service
from leadflow.domain.durations import span
from leadflow.domain.permissions import grants, may_read_personal_data
from leadflow.errors import (
    IllegalTransition,
    InvalidInput,
    LeadflowError,
    LeadNotFound,
    NotPermitted,
)
from leadflow.i18n import LANGUAGES, Texts, texts_for

__all__ = [
    "COOKIE",
    "CSP",
    "Viewer",
    "error_page",
    "form_of",
    "redirect",
    "render",
    "secure",
    "sign_in_redirect",
    "viewer_of",
]

COOKIE = "lf_console"
LANG_COOKIE = "lf_lang"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
MAX_FORM_BYTES = 16_384

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("leadflow.adapters.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: Any) -> str:
    """A time for a page: ISO 8601, UTC for a stored time without an offset."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return "" if value is None else str(value)


def _data(value: Any) -> str:
    """A payload value for a page: JSON for lists and objects, else as it is."""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def _span(value: Any) -> str:
    return span(value) if isinstance(value, timedelta) else ("" if value is None else str(value))


_env.filters["when"] = _when
_env.filters["span"] = _span
_env.filters["data"] = _data


@dataclass(frozen=True)
class Viewer:
    """The signed-in token, its session and the language of the page."""

    session: Session
    service: Service
    lang: str
    texts: Texts = field(repr=False)

    @property
    def scope(self) -> str:
        return self.session.token.scope

    @property
    def actor(self) -> str:
        return self.session.token.actor

    @property
    def is_rep(self) -> bool:
        return self.scope == "rep"

    def may(self, action: str) -> bool:
        return grants(self.scope, action)

    def sees_personal_data(self, owner: str | None) -> bool:
        return may_read_personal_data(self.scope, self.actor, owner)

    def sees_lead(self, owner: str | None, in_pool: bool) -> bool:
        """A rep token sees its own leads and the pool; other scopes see every lead."""
        return not self.is_rep or in_pool or owner == self.actor


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "en"
    return lang if lang in LANGUAGES else "en"


def viewer_of(request: Request) -> Viewer | None:
    service = service_of(request)
    session = session_of(service.engine, request.cookies.get(COOKIE), service.now())
    if session is None or not grants(session.token.scope, "read"):
        return None
    lang = _lang(request)
    return Viewer(session, service, lang, texts_for(lang))


def secure(response: Response, request: Request | None = None) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    if request is not None and "lang" in request.query_params:
        lang = _lang(request)
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/", httponly=True
        )
    return response


def _url(path: str, params: Mapping[str, Any] | None = None, **changes: Any) -> str:
    """``path`` with the query ``params`` updated by ``changes`` (``None`` drops a key)."""
    merged = {k: v for k, v in (params or {}).items() if v not in (None, "")}
    for key, value in changes.items():
        if value in (None, ""):
            merged.pop(key, None)
        else:
            merged[key] = value
    return f"{path}?{urlencode(merged)}" if merged else path


def render(
    request: Request, template: str, viewer: Viewer | None, status: int = 200, **context: Any
) -> HTMLResponse:
    page = _env.get_template(template).render(
        request_path=request.url.path,
        query=dict(request.query_params),
        url=_url,
        viewer=viewer,
        t=viewer.texts if viewer is not None else texts_for(_lang(request)),
        lang=viewer.lang if viewer is not None else _lang(request),
        languages=LANGUAGES,
        **context,
    )
    return secure(HTMLResponse(page, status_code=status), request)  # type: ignore[return-value]


def redirect(location: str, status: int = 303) -> Response:
    return secure(RedirectResponse(location, status_code=status))


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return redirect(_url("/signin", next=target))


_STATUS: list[tuple[type[Exception], int]] = [
    (LeadNotFound, 404),
    (NotPermitted, 403),
    (InvalidInput, 400),
    (IllegalTransition, 409),
]


def error_page(request: Request, viewer: Viewer | None, exc: LeadflowError) -> HTMLResponse:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 409)
    field_name = exc.field if isinstance(exc, InvalidInput) else None
    return render(request, "error.html", viewer, status=status, message=str(exc), field=field_name)


def form_of(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the last value of a repeated key)."""
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("form", f"at most {MAX_FORM_BYTES} bytes")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("form", "not a URL-encoded UTF-8 form") from None


def same_origin(request: Request) -> bool:
    """A write must come from a page of this server (``Origin``, when the browser sends it,
    names this host), on top of the CSRF token and the SameSite=Strict cookie."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return hmac.compare_digest(origin, expected)
