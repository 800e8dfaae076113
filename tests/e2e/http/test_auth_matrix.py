"""Who may call what: every endpoint of the live OpenAPI schema, called with no token, an unknown,
an expired and a revoked token, and a token of each scope."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import httpx
import pytest

from support.server import Server

READERS = {"read", "rep", "manager", "admin"}
WORKERS = {"rep", "manager", "admin"}
MANAGERS = {"manager", "admin"}
ADMIN = {"admin"}
SCOPES = ("intake", "read", "rep", "manager", "admin")

REP_WORK = (
    "activity",
    "score",
    "promote",
    "status",
    "claim",
    "release",
    "handoff",
    "accept",
    "reject",
    "qualify",
    "convert",
    "win",
    "lose",
    "churn",
    "disqualify",
    "update",
)

ALLOWED: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/leads"): {"intake", "rep", "manager", "admin"},
    ("GET", "/v1/leads/{lead_id}"): READERS,
    ("GET", "/v1/leads/{lead_id}/history"): READERS,
    ("GET", "/v1/leads/{lead_id}/explain"): READERS,
    ("GET", "/v1/pool"): READERS,
    ("GET", "/v1/funnel"): READERS,
    ("GET", "/v1/events"): READERS,
    ("GET", "/v1/reps"): READERS,
    ("GET", "/v1/reminders"): READERS,
    **{("POST", f"/v1/leads/{{lead_id}}/{path}"): WORKERS for path in REP_WORK},
    ("POST", "/v1/leads/{lead_id}/assign"): MANAGERS,
    ("POST", "/v1/leads/{lead_id}/merge"): MANAGERS,
    ("POST", "/v1/leads/{lead_id}/unmerge"): MANAGERS,
    ("POST", "/v1/leads/{lead_id}/erase"): ADMIN,
    ("POST", "/v1/reps"): MANAGERS,
    ("POST", "/v1/reps/{rep}/absences"): MANAGERS,
    ("POST", "/v1/reps/{rep}/redistribute"): MANAGERS,
    ("POST", "/v1/teams"): MANAGERS,
    ("POST", "/v1/tokens"): ADMIN,
    ("GET", "/v1/tokens"): ADMIN,
    ("DELETE", "/v1/tokens/{token_id}"): ADMIN,
    ("POST", "/v1/forms"): ADMIN,
    ("GET", "/v1/forms"): ADMIN,
}
"""The specification: which scopes may call each endpoint."""

PUBLIC = {("GET", "/healthz"), ("POST", "/v1/forms/{form_id}")}
"""No token: health, and the web forms (a page holds no secret)."""

BODIES: dict[str, dict[str, Any]] = {
    "/v1/leads": {"email": "matrix@example.com"},
    "activity": {"activity": "call"},
    "score": {"score": 10, "reason": "matrix"},
    "promote": {"stage": "mql"},
    "status": {"status": "working"},
    "assign": {"owner": "rep:ann"},
    "claim": {},
    "release": {"reason": "matrix"},
    "handoff": {"to_owner": "rep:ann"},
    "accept": {},
    "reject": {"reason": "matrix"},
    "qualify": {"budget": True},
    "convert": {"target": "opportunity", "account_ref": "ACME"},
    "win": {},
    "lose": {"reason": "matrix"},
    "churn": {"reason": "matrix"},
    "disqualify": {"reason": "matrix"},
    "merge": {"into_lead_id": str(uuid4())},
    "unmerge": {"reason": "matrix"},
    "update": {"changes": {"company": "ACME"}},
    "erase": {"reason": "matrix"},
    "/v1/reps": {"rep": "rep:matrix"},
    "/v1/reps/{rep}/absences": {
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-01-02T00:00:00+00:00",
    },
    "/v1/reps/{rep}/redistribute": {"reason": "matrix"},
    "/v1/teams": {"team": "matrix"},
    "/v1/tokens": {"name": "made-by-matrix", "scope": "read"},
    "/v1/forms": {"form_id": "matrix", "fields": {"email": "email"}},
}


def _request(method: str, template: str, lead_id: str) -> tuple[str, str, dict[str, Any] | None]:
    path = (
        template.replace("{lead_id}", lead_id)
        .replace("{rep}", "rep:ann")
        .replace("{token_id}", "0000000000000000")
    )
    if method != "POST":
        return method, path, None
    key = template if template in BODIES else template.rsplit("/", 1)[-1]
    assert key in BODIES, template
    return method, path, BODIES[key]


@pytest.fixture(scope="module")
def credentials(server: Server) -> dict[str, str]:
    admin = server.token("admin", name="matrix-admin")
    with server.client(admin) as client:
        assert client.post("/v1/reps", json={"rep": "rep:ann"}).status_code == 200
    tokens = {
        "unknown": "lf_0123456789abcdef_" + "x" * 43,
        "malformed": "not-a-token",
        "expired": server.token("admin", name="matrix-expired", expires="1s"),
        "revoked": server.token("admin", name="matrix-revoked"),
        **{
            scope: server.token(scope, name=f"matrix-{scope}") for scope in SCOPES if scope != "rep"
        },
        "rep": server.token("rep", name="matrix-rep", rep="rep:ann"),
    }
    revoked_id = tokens["revoked"].split("_")[1]
    with server.client(admin) as client:
        assert client.delete(f"/v1/tokens/{revoked_id}").status_code == 200
    time.sleep(1.1)  # the 1 s token has expired
    return tokens


@pytest.fixture(scope="module")
def lead_id(server: Server, credentials: dict[str, str]) -> str:
    with server.client(credentials["intake"]) as client:
        response = client.post("/v1/leads", json={"email": "matrix-lead@example.com"})
    assert response.status_code == 201, response.text
    lead: str = response.json()["lead_id"]
    return lead


def _operations(server: Server) -> set[tuple[str, str]]:
    schema = httpx.get(f"{server.base_url}/openapi.json").json()
    return {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_the_matrix_names_every_endpoint_of_the_live_schema(server: Server) -> None:
    assert _operations(server) == set(ALLOWED) | PUBLIC


@pytest.mark.parametrize("who", ["none", "unknown", "malformed", "expired", "revoked"])
def test_without_a_valid_token_every_endpoint_answers_401(
    server: Server, credentials: dict[str, str], lead_id: str, who: str
) -> None:
    headers = {} if who == "none" else {"Authorization": f"Bearer {credentials[who]}"}
    with httpx.Client(base_url=server.base_url, headers=headers) as client:
        for method, template in sorted(ALLOWED):
            method, path, body = _request(method, template, lead_id)
            response = client.request(method, path, json=body)
            assert response.status_code == 401, (method, path, response.text)
            problem = response.json()
            assert problem["type"] == "urn:leadflow:problem:unauthorized"
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_reaches_exactly_its_endpoints(
    server: Server, credentials: dict[str, str], lead_id: str, scope: str
) -> None:
    reached, refused = set(), set()
    with server.client(credentials[scope]) as client:
        for method, template in sorted(ALLOWED):
            method, path, body = _request(method, template, lead_id)
            response = client.request(method, path, json=body)
            assert response.status_code < 500, (method, path, response.text)
            if response.status_code == 403 and response.json()["type"].endswith(":scope"):
                refused.add((method, template))
            else:
                assert response.status_code != 401, (method, path, response.text)
                reached.add((method, template))
    expected = {op for op, scopes in ALLOWED.items() if scope in scopes}
    assert reached == expected
    assert refused == set(ALLOWED) - expected


def test_health_needs_no_token(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/healthz")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert {row["name"] for row in health["read_models"]} >= {"leads"}
