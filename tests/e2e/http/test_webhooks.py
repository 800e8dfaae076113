"""Webhooks: a receiver gets every event, once per id at least, in each lead's order,
through its own downtime and errors, each signed; an event it keeps refusing becomes a
dead letter."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import orjson
import pytest

from leadflow.adapters.http.webhooks import verify

from support.server import Server, free_port, leadflow_cli


class Receiver:
    """An HTTP endpoint that records what it is sent; it can be stopped and restarted
    on the same port, and told to fail the next requests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        self.always_fail = False
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    failing = receiver.always_fail or receiver.fail_next > 0
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                    if not failing:
                        receiver.received.append((dict(self.headers.items()), body))
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [orjson.loads(body) for _, body in self.received]


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    fast = ["--webhook-backoff", "0.05", "--webhook-max-backoff", "0.4"]
    running = Server(module_db_url, extra_args=fast)
    running.start(tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    hook.start()
    try:
        yield hook
    finally:
        if hook._httpd is not None:
            hook.stop()


def _wait_for(condition: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _work_some_leads(server: Server, token: str, count: int) -> None:
    with server.client(token) as client:
        for _ in range(count):
            lead = client.post("/v1/leads", json={"email": f"{uuid4().hex}@example.com"}).json()
            path = f"/v1/leads/{lead['lead_id']}"
            assert client.post(f"{path}/activity", json={"activity": "call"}).status_code == 200
            assert client.post(f"{path}/promote", json={"stage": "mql"}).status_code == 200


def _log_after(server: Server, token: str, position: int) -> list[dict[str, Any]]:
    with server.client(token) as client:
        page = client.get("/v1/events", params={"after": position, "limit": 1000}).json()
    events: list[dict[str, Any]] = page["events"]
    return events


def test_every_event_arrives_signed_and_in_lead_order_through_receiver_downtime(
    server: Server, receiver: Receiver
) -> None:
    token = server.token("manager", name=f"hooks-{uuid4().hex[:6]}")
    hook = leadflow_cli(
        server.db_url, "webhook", "create", "--url", receiver.url, "--events", "*",
        "--max-attempts", "100",
    )  # fmt: skip
    _work_some_leads(server, token, 5)
    receiver.fail_next = 3  # it answers 500 three times
    _work_some_leads(server, token, 5)
    receiver.stop()  # down: connections are refused
    _work_some_leads(server, token, 5)
    time.sleep(1.5)
    receiver.start()
    # The default pipeline omits personal data from the stream: a webhook is sent what a
    # reader without personal-data rights reads on /v1/events.
    reader = server.token("read", name=f"hooks-read-{uuid4().hex[:6]}")
    expected = _log_after(server, reader, hook["position"])
    assert len(expected) >= 15 * 3
    want = {e["id"] for e in expected}
    _wait_for(lambda: want <= {e["id"] for e in receiver.events()})

    got = receiver.events()
    assert {e["id"] for e in got} == want  # every event, nothing else
    by_id = {e["id"]: e for e in expected}
    for event in got:
        assert event == by_id[event["id"]]  # a redelivery is the same event
    seen: dict[str, int] = {}
    for event in got:  # first arrivals per lead are in the lead's order
        if event["version"] <= seen.get(event["lead_id"], 0):
            continue
        assert event["version"] == seen.get(event["lead_id"], 0) + 1, event
        seen[event["lead_id"]] = event["version"]
    now = time.time()
    for headers, body in receiver.received:
        assert verify(hook["secret"], headers["Leadflow-Signature"], body, now, tolerance=600)
        assert not verify("whsec_wrong", headers["Leadflow-Signature"], body, now)
        assert headers["Leadflow-Event-Id"] == orjson.loads(body)["id"]


def test_a_webhook_is_sent_no_personal_data_unless_the_pipeline_streams_it(
    server: Server, receiver: Receiver
) -> None:
    token = server.token("manager", name=f"pd-{uuid4().hex[:6]}")
    leadflow_cli(
        server.db_url, "webhook", "create", "--url", receiver.url, "--events", "LeadCaptured",
    )  # fmt: skip
    email = f"{uuid4().hex}@example.com"
    with server.client(token) as client:
        created = client.post("/v1/leads", json={"email": email, "name": "Wen Hook"})
        assert created.status_code in (200, 201), created.text
    lead_id = created.json()["lead_id"]
    _wait_for(lambda: any(e["lead_id"] == lead_id for e in receiver.events()))
    (event,) = [e for e in receiver.events() if e["lead_id"] == lead_id]
    assert event["data"]["email"] == "[personal]"
    assert event["data"]["name"] == "[personal]"
    bodies = b"".join(body for _, body in receiver.received)
    assert email.encode() not in bodies
    assert b"Wen Hook" not in bodies


def test_an_event_refused_every_time_becomes_a_dead_letter(
    server: Server, receiver: Receiver
) -> None:
    token = server.token("manager", name=f"dead-{uuid4().hex[:6]}")
    receiver.always_fail = True
    hook = leadflow_cli(
        server.db_url, "webhook", "create", "--url", receiver.url, "--events", "LeadCaptured",
        "--max-attempts", "3",
    )  # fmt: skip
    _work_some_leads(server, token, 2)

    def dead() -> list[dict[str, Any]]:
        rows = leadflow_cli(server.db_url, "webhook", "deliveries", "--webhook", hook["id"])
        return [r for r in rows if r["state"] == "dead"]

    _wait_for(lambda: len(dead()) == 2)
    assert {r["type"] for r in dead()} == {"LeadCaptured"}
    assert all(r["attempts"] == 3 and r["last_error"] == "HTTP 500" for r in dead())
    (listed,) = [w for w in leadflow_cli(server.db_url, "webhook", "list") if w["id"] == hook["id"]]
    assert listed["position"] == max(r["position"] for r in dead())  # it went on
    assert "secret" not in listed


def test_an_admin_manages_webhooks_over_http(server: Server, receiver: Receiver) -> None:
    with server.client(server.token("admin", name=f"hook-admin-{uuid4().hex[:6]}")) as admin:
        created = admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["DealWon"]})
        assert created.status_code == 201, created.text
        assert created.json()["secret"].startswith("whsec_")
        bad = admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["Nope"]})
        assert bad.status_code == 422
        assert bad.json()["field"] == "events"
        listed = {w["id"]: w for w in admin.get("/v1/webhooks").json()}
        assert listed[created.json()["id"]]["events"] == ["DealWon"]
        assert "secret" not in listed[created.json()["id"]]
        assert admin.get("/v1/webhooks/deliveries").status_code == 200
