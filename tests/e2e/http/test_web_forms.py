"""Web-to-lead: the example HTML form (examples/web-form.html), filled in and sent by
headless Chromium, makes a lead and lands on the thank-you page; the honeypot, the
minimum fill time and the rate limits work, and spam is answered like a lead."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from support.server import Server, free_port, leadflow_cli
from support.stores import service_unavailable

EXAMPLE = Path(__file__).parents[3] / "examples" / "web-form.html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class _Site(http.server.SimpleHTTPRequestHandler):
    """The website the form is published on: the page, and its thank-you page."""

    page = b""

    def do_GET(self) -> None:
        body = self.page if self.path.startswith("/contact") else b"<h1>Thanks!</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(server: Server) -> Iterator[str]:
    port = free_port()
    html = EXAMPLE.read_text(encoding="utf-8").replace("http://127.0.0.1:8000", server.base_url)
    handler = type("Site", (_Site,), {"page": html.encode()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    leadflow_cli(
        server.db_url,
        "form",
        "create",
        "contact",
        "--field",
        "email=email",
        "--field",
        "full_name=name",
        "--field",
        "company=company",
        "--field",
        "message=attributes.message",
        "--source",
        "website",
        "--campaign",
        "spring-launch",
        "--thank-you",
        f"http://127.0.0.1:{port}/thanks",
        "--min-fill",
        "1",
        "--client-rate",
        "100/1m",
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        service_unavailable("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def reader(server: Server) -> str:
    """A manager's token: the tests read the personal values the form sent, which a ``read``
    token sees as ``[personal]`` (tests/e2e/http/test_personal_data_access.py)."""
    return server.token("manager", name="forms-reader")


def _form_leads(server: Server, token: str) -> list[dict[str, Any]]:
    with server.client(token) as client:
        page = client.get("/v1/events", params={"limit": 1000}).json()
    return [
        e for e in page["events"] if e["type"] == "LeadCaptured" and e["actor"] == "form:contact"
    ]


def _counts(server: Server) -> dict[str, int]:
    (form,) = leadflow_cli(server.db_url, "form", "list")
    counts: dict[str, int] = form["counts"]
    return counts


def _fill(page: Any, email: str) -> None:
    page.fill("#full_name", "Ada Lovelace")
    page.fill("#email", email)
    page.fill("#company", "Analytical Engines")
    page.fill("#message", "Call me <b>please</b>")


def test_the_example_form_sent_by_a_browser_makes_a_lead(
    server: Server, site: str, browser: Any, reader: str
) -> None:
    before = len(_form_leads(server, reader))
    page = browser.new_page()
    page.goto(f"{site}/contact")
    _fill(page, "ada@example.com")
    page.wait_for_timeout(1200)  # a person takes longer than --min-fill
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{site}/thanks"
    leads = _form_leads(server, reader)
    assert len(leads) == before + 1
    data = leads[-1]["data"]
    assert data["email"] == "ada@example.com"
    assert data["name"] == "Ada Lovelace"
    assert data["source"] == "website"
    assert data["campaign"] == "spring-launch"
    assert data["attributes"] == {"message": "Call me <b>please</b>"}
    assert _counts(server)["captured"] >= 1


def test_a_filled_honeypot_is_answered_like_a_lead_and_makes_none(
    server: Server, site: str, browser: Any, reader: str
) -> None:
    before, spam = len(_form_leads(server, reader)), _counts(server).get("spam_honeypot", 0)
    page = browser.new_page()
    page.goto(f"{site}/contact")
    _fill(page, "bot@example.com")
    page.fill("#website", "http://spam.example", force=True)  # hidden from people
    page.wait_for_timeout(1200)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{site}/thanks"
    assert len(_form_leads(server, reader)) == before
    assert _counts(server)["spam_honeypot"] == spam + 1


def test_a_form_sent_faster_than_a_person_can_is_spam(
    server: Server, site: str, browser: Any, reader: str
) -> None:
    before, spam = len(_form_leads(server, reader)), _counts(server).get("spam_too_fast", 0)
    page = browser.new_page()
    page.goto(f"{site}/contact")
    _fill(page, "quick@example.com")
    with page.expect_navigation():
        page.click("button[type=submit]")  # well under a second after the page was shown
    assert page.url == f"{site}/thanks"
    assert len(_form_leads(server, reader)) == before
    assert _counts(server)["spam_too_fast"] == spam + 1


def _post(client: httpx.Client, form_id: str, address: str, **fields: str) -> httpx.Response:
    return client.post(
        f"/v1/forms/{form_id}",
        data={"_lf_fill_ms": "5000", **fields},
        headers={"X-Forwarded-For": address},
    )


def test_the_rate_limits_per_client_and_per_form_answer_429_with_retry_after(
    server: Server,
) -> None:
    leadflow_cli(
        server.db_url,
        "form",
        "create",
        "limited",
        "--field",
        "email=email",
        "--client-rate",
        "3/1m",
        "--form-rate",
        "5/1m",
    )
    with httpx.Client(base_url=server.base_url) as client:
        one = [_post(client, "limited", "203.0.113.1", email=f"{uuid4().hex}@example.com")]
        one += [_post(client, "limited", "203.0.113.1", email=f"{uuid4().hex}@example.com")]
        one += [_post(client, "limited", "203.0.113.1", email=f"{uuid4().hex}@example.com")]
        assert [r.status_code for r in one] == [200, 200, 200]
        refused = _post(client, "limited", "203.0.113.1", email="x@example.com")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["type"] == "urn:leadflow:problem:rate-limited"
        other = [
            _post(client, "limited", "203.0.113.2", email=f"{uuid4().hex}@example.com")
            for _ in range(3)
        ]
        # another client may still send, until the form's own limit (5 a minute) is met
        assert [r.status_code for r in other] == [200, 200, 429]
    counts = [f for f in leadflow_cli(server.db_url, "form", "list") if f["form_id"] == "limited"]
    assert counts[0]["counts"] == {"captured": 5, "rate_limited": 2}


def test_an_unknown_form_is_404_and_a_json_body_is_415(server: Server) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        assert client.post("/v1/forms/nope", data={"email": "a@example.com"}).status_code == 404
        assert client.post("/v1/forms/contact", json={"email": "a@example.com"}).status_code == 415


def test_invalid_input_from_a_form_names_the_field(server: Server) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        response = _post(client, "contact", "198.51.100.7", email="not-an-email")
    assert response.status_code == 422
    assert response.json()["field"] == "email"
