"""Sign in with an API token, sign out, and the console's home."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from leadflow.adapters.console.sessions import SESSION_LIFETIME, end_session, open_session
from leadflow.adapters.console.web import (
    COOKIE,
    form_of,
    redirect,
    render,
    same_origin,
    viewer_of,
)
from leadflow.adapters.http.auth import service_of
from leadflow.adapters.http.tokens import TokenRefused, authenticate
from leadflow.domain.permissions import grants
from leadflow.errors import InvalidInput

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no ``//host``): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/funnel"
    return target


@router.get("/")
def home(request: Request) -> Response:
    return redirect("/funnel" if viewer_of(request) else "/signin")


@router.get("/favicon.ico")
def favicon() -> Response:
    """No icon (and no 404 in the browser's console)."""
    return Response(status_code=204)


@router.get("/signin")
def sign_in_page(request: Request) -> Response:
    return render(
        request, "signin.html", None, next=_safe_next(request.query_params.get("next")), error=None
    )


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    service = service_of(request)
    try:
        form = form_of(await request.body())
    except InvalidInput as exc:
        return render(request, "signin.html", None, status=400, next="/funnel", error=str(exc))
    target = _safe_next(form.get("next"))
    secret = form.get("token", "").strip()

    def open_() -> tuple[str | None, str | None]:
        try:
            token = authenticate(service.engine, secret, service.now())
        except TokenRefused as exc:
            return None, exc.reason
        if not grants(token.scope, "read"):
            return None, f"a {token.scope!r} token cannot read: the console needs read access"
        _, cookie = open_session(service.engine, token, service.now())
        return cookie, None

    if not same_origin(request):
        return render(
            request, "signin.html", None, status=403, next=target, error="cross-site sign-in"
        )
    cookie, error = await run_in_threadpool(open_)
    if cookie is None:
        return render(request, "signin.html", None, status=401, next=target, error=error)
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    service = service_of(request)
    form = form_of(await request.body())
    viewer = await run_in_threadpool(viewer_of, request)
    if viewer is not None and viewer.session.csrf_ok(form.get("csrf")) and same_origin(request):
        await run_in_threadpool(
            end_session, service.engine, request.cookies.get(COOKIE), service.now()
        )
    elif viewer is not None:
        return render(
            request, "error.html", viewer, status=403, message="bad CSRF token", field=None
        )
    response = redirect("/signin")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
