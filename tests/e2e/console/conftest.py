"""A real ``leadflow serve`` on a demo store, and headless Chromium (Debian's package,
driven by Playwright) signed in to its console with real API tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.cli import capture, demo_store
from support.server import Server
from support.stores import service_unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS_NAME = "<script>alert(1)</script>"
XSS_SOURCE = "[/]"
XSS_CAMPAIGN = '"><img src=x onerror=alert(2)>'


@dataclass(frozen=True)
class Console:
    server: Server
    tokens: dict[str, str]
    """scope (and ``rep``: rep:kai) → secret."""
    xss_lead: str

    @property
    def url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("console")
    db_url = demo_store(folder)
    xss_lead = capture(
        db_url,
        "--email",
        "xss@example.com",
        "--name",
        XSS_NAME,
        "--source",
        XSS_SOURCE,
        "--campaign",
        XSS_CAMPAIGN,
    )
    server = Server(db_url).start(folder / "serve.log")
    try:
        tokens = {
            "read": server.token("read", name="console-read"),
            "manager": server.token("manager", name="console-manager"),
            "rep": server.token("rep", name="console-rep", rep="rep:kai"),
        }
        yield Console(server, tokens, xss_lead)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        service_unavailable("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(browser: Any, console: Console, scope: str) -> Any:
    """A new browser context signed in with the token of ``scope``; returns its page."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(console.url + "/signin")
    page.fill("#token", console.tokens[scope])
    page.click("#sign-in")
    page.wait_for_url("**/funnel")
    return page
