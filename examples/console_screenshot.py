"""Screenshot the web console's funnel page for the README (docs/images/console-funnel.png).

    .venv/bin/python examples/console_screenshot.py [--leads 300] [--out docs/images]

It builds a demo store in a temporary folder (``leadflow demo``), makes a ``read``
token, starts a real ``leadflow serve`` on a free port, signs in with headless Chromium
(Debian's ``/usr/bin/chromium``, driven by Playwright; no browser is downloaded) and
saves the funnel as of the end of Q1 2026 of the demo year, plus the funnel broken down
by source, a lead's timeline and the pipeline in Chinese. Anyone can rerun it: the demo
is deterministic, so the numbers are the same each time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
LEADFLOW = str(BIN / "leadflow")
CHROMIUM = os.environ.get("LEADFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AS_OF = "2026-03-31T23:59:59"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("leadflow serve exited")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("leadflow serve did not answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        db = f"sqlite:///{Path(folder) / 'demo.db'}"
        subprocess.run(
            [LEADFLOW, "demo", "--leads", str(args.leads), "--db", db],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        made = subprocess.run(
            [
                LEADFLOW,
                "token",
                "create",
                "--name",
                "shot",
                "--scope",
                "manager",
                "--json",
                "--db",
                db,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        token = json.loads(made.stdout)["token"]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [LEADFLOW, "serve", "--port", str(port), "--db", db],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(base, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(base + "/signin")
                page.fill("#token", token)
                page.click("#sign-in")
                page.goto(f"{base}/funnel?as_of={AS_OF}")
                page.screenshot(path=str(args.out / "console-funnel.png"), full_page=True)
                page.goto(f"{base}/funnel?as_of={AS_OF}&by=source")
                page.screenshot(path=str(args.out / "console-funnel-by-source.png"), full_page=True)
                page.click("#funnel-table a.cell[data-measure='reached'] >> nth=3")
                page.click("#cell-leads a.lead-link >> nth=0")
                page.screenshot(path=str(args.out / "console-lead.png"))
                page.goto(f"{base}/pipeline?lang=zh")
                page.screenshot(path=str(args.out / "console-pipeline-zh.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    for name in (
        "console-funnel",
        "console-funnel-by-source",
        "console-lead",
        "console-pipeline-zh",
    ):
        print(args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
