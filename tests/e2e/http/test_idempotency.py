"""``Idempotency-Key``: a retried write is answered with the first response and records
nothing again, across restarts; a reused key with another body is refused; concurrent
requests with one key run once."""

from __future__ import annotations

import threading
from typing import Any
from uuid import uuid4

import httpx
import pytest

from support.server import Server


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    return server.token("manager", name="idem")


def _events_of(client: httpx.Client, lead_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.get("/v1/events", params={"after": after, "limit": 1000}).json()
        found += [e for e in page["events"] if e["lead_id"] == lead_id]
        if not page["events"]:
            return found
        after = page["next_after"]


def test_a_replayed_key_returns_the_first_response_and_records_nothing_again(
    server: Server, token: str
) -> None:
    body = {"email": f"{uuid4().hex}@example.com", "name": "Replay"}
    key = {"Idempotency-Key": uuid4().hex}
    with server.client(token) as client:
        first = client.post("/v1/leads", json=body, headers=key)
        again = client.post("/v1/leads", json=body, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        events = _events_of(client, first.json()["lead_id"])
    assert [e["type"] for e in events] == ["LeadCaptured"]  # no second capture, no touch


def test_the_key_survives_a_restart(server: Server, token: str) -> None:
    body = {"email": f"{uuid4().hex}@example.com"}
    key = {"Idempotency-Key": uuid4().hex}
    with server.client(token) as client:
        first = client.post("/v1/leads", json=body, headers=key)
    server.restart()
    with server.client(token) as client:
        again = client.post("/v1/leads", json=body, headers=key)
        assert again.status_code == 201
        assert again.json()["lead_id"] == first.json()["lead_id"]
        assert len(_events_of(client, first.json()["lead_id"])) == 1


def test_the_same_key_with_another_body_is_refused(server: Server, token: str) -> None:
    key = {"Idempotency-Key": uuid4().hex}
    with server.client(token) as client:
        first = client.post("/v1/leads", json={"email": f"{uuid4().hex}@example.com"}, headers=key)
        other = client.post("/v1/leads", json={"email": f"{uuid4().hex}@example.com"}, headers=key)
    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json()["type"] == "urn:leadflow:problem:idempotency-key-reused"
    assert other.json()["field"] == "Idempotency-Key"


def test_a_command_is_idempotent_too(server: Server, token: str) -> None:
    with server.client(token) as client:
        lead = client.post("/v1/leads", json={"email": f"{uuid4().hex}@example.com"}).json()
        key = {"Idempotency-Key": uuid4().hex}
        path = f"/v1/leads/{lead['lead_id']}/activity"
        first = client.post(path, json={"activity": "call"}, headers=key)
        again = client.post(path, json={"activity": "call"}, headers=key)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        types = [e["type"] for e in _events_of(client, lead["lead_id"])]
    assert types.count("ActivityRecorded") == 1


def test_an_error_is_kept_as_the_answer_to_its_key(server: Server, token: str) -> None:
    key = {"Idempotency-Key": uuid4().hex}
    with server.client(token) as client:
        first = client.post("/v1/leads", json={"email": "not an email"}, headers=key)
        again = client.post("/v1/leads", json={"email": "not an email"}, headers=key)
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()


def test_a_bad_key_is_refused(server: Server, token: str) -> None:
    with server.client(token) as client:
        response = client.post(
            "/v1/leads", json={"email": "x@example.com"}, headers={"Idempotency-Key": "x" * 256}
        )
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


@pytest.mark.parametrize("attempt", range(5))
def test_two_concurrent_requests_with_one_key_make_one_lead(
    server: Server, token: str, attempt: int
) -> None:
    body = {"email": f"{uuid4().hex}@example.com"}
    key = {"Idempotency-Key": uuid4().hex}
    start = threading.Barrier(2)
    responses: list[httpx.Response] = []

    def post() -> None:
        with server.client(token) as client:
            start.wait()
            responses.append(client.post("/v1/leads", json=body, headers=key))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in responses)
    assert statuses in ([201, 201], [201, 409]), [r.text for r in responses]
    created = {r.json()["lead_id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["type"] == "urn:leadflow:problem:idempotency-key-in-use"
    with server.client(token) as client:
        assert [e["type"] for e in _events_of(client, created.pop())] == ["LeadCaptured"]
