"""Console sessions over the real application (FastAPI's test client, a real store):
the cookie's flags, expiry with the token, revocation, and what a page answers without one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from leadflow.adapters.http.app import create_app
from leadflow.adapters.http.tokens import create_token, revoke_token
from leadflow.adapters.store import open_store


@pytest.fixture
def app_url(db_url: str) -> str:
    open_store(db_url).close()  # an initialised store
    return db_url


def _token(app: object, scope: str, **options: object) -> str:
    service = app.state.service  # type: ignore[attr-defined]
    rep = options.pop("rep", None)
    _, secret = create_token(
        service.engine,
        name=f"t-{scope}-{len(options)}",
        scope=scope,
        rep=rep,  # type: ignore[arg-type]
        now=datetime.now(UTC),
        **options,  # type: ignore[arg-type]
    )
    return secret


@pytest.mark.parametrize(("base", "secure"), [("https://console.test", True), ("http://x", False)])
def test_the_session_cookie_is_httponly_strict_and_secure_over_tls(
    app_url: str, base: str, secure: bool
) -> None:
    app = create_app(app_url)
    with TestClient(app, base_url=base, follow_redirects=False) as client:
        token = _token(app, "read")
        answer = client.post("/signin", content=f"token={token}&next=/leads")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/leads"
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("lf_console=")
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert ("; secure" in cookie) is secure
    assert token.lower() not in cookie


def test_revoking_the_token_ends_its_console_sessions(app_url: str) -> None:
    app = create_app(app_url)
    with TestClient(app, follow_redirects=False) as client:
        token = _token(app, "manager")
        assert client.post("/signin", content=f"token={token}").status_code == 303
        assert client.get("/funnel").status_code == 200
        token_id = token.split("_")[1]
        revoke_token(app.state.service.engine, token_id, datetime.now(UTC))
        answer = client.get("/funnel")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin")


def test_a_session_ends_when_its_token_expires(app_url: str) -> None:
    app = create_app(app_url)
    with TestClient(app, follow_redirects=False) as client:
        token = _token(app, "read", expires_in=timedelta(seconds=1))
        assert client.post("/signin", content=f"token={token}").status_code == 303
        cookie = client.cookies.get("lf_console")
        assert cookie is not None
    later = datetime.now(UTC) + timedelta(seconds=5)
    app = create_app(app_url, clock=lambda: later)
    with TestClient(app, follow_redirects=False, cookies={"lf_console": cookie}) as client:
        assert client.get("/console/live").status_code == 401


def test_an_intake_token_cannot_open_the_console(app_url: str) -> None:
    app = create_app(app_url)
    with TestClient(app, follow_redirects=False) as client:
        answer = client.post("/signin", content=f"token={_token(app, 'intake')}")
    assert answer.status_code == 401
    assert "cannot read" in answer.text
    assert "set-cookie" not in answer.headers


def test_a_sign_in_from_another_site_is_refused(app_url: str) -> None:
    app = create_app(app_url)
    with TestClient(app, follow_redirects=False) as client:
        answer = client.post(
            "/signin",
            content=f"token={_token(app, 'read')}",
            headers={"Origin": "https://evil.example"},
        )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("path", ["/funnel", "/leads", "/pool", "/reps", "/pipeline"])
def test_every_page_asks_for_a_sign_in_first(app_url: str, path: str) -> None:
    with TestClient(create_app(app_url), follow_redirects=False) as client:
        answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=")


def test_bad_input_is_answered_with_the_field_and_the_reason(app_url: str) -> None:
    app = create_app(app_url)
    with TestClient(app, follow_redirects=False) as client:
        client.post("/signin", content=f"token={_token(app, 'read')}")
        for path, field in [
            ("/funnel?as_of=yesterday", "as_of"),
            ("/funnel?by=colour", "by"),
            ("/funnel?as_of_rel=last_tuesday", "relative"),
            ("/funnel/leads?stage=mql&measure=conversion_to_next", "measure"),
            ("/leads?sort=name", "sort"),
            ("/leads?page=0", "page"),
            ("/leads/not-a-uuid", "lead_id"),
        ]:
            answer = client.get(path)
            assert answer.status_code == 400, path
            assert f"<strong>{field}</strong>" in answer.text, path
