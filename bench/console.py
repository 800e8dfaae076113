"""``python -m bench.console --db sqlite:///demo.db``: how fast the web console's pages load.

On a store you name (the figures in docs/performance.md are for ``leadflow demo --leads
10000 --seed 3``), it starts a real ``leadflow serve``, signs in with headless Chromium
(Debian's ``/usr/bin/chromium`` through Playwright) and times, over ``--repeat`` loads,
each page from navigation start to the ``load`` event (the browser's own Navigation
Timing), beside the same measure for the sign-in page (a page that reads no store) in the
same browser: the ratio is the cost of the store's answer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
PAGES = {
    "funnel (now)": "/funnel",
    "funnel as of 2026-03-31": "/funnel?as_of=2026-03-31",
    "funnel as of / as known at": "/funnel?as_of=2026-03-31&as_known_at=2026-02-01",
    "funnel by source": "/funnel?as_of=2026-03-31&by=source",
    "funnel by owner": "/funnel?by=owner",
    "cell: reached lead by 2026-03-31": "/funnel/leads?stage=lead&measure=reached&as_of=2026-03-31",
    "lead list": "/leads",
    "pool": "/pool",
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _load_ms(page: Any, url: str) -> float:
    page.goto(url, wait_until="load")
    timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
    entry = json.loads(timing)
    return float(entry["loadEventEnd"] - entry["startTime"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    made = subprocess.run(
        [
            *(str(BIN / "leadflow"), "token", "create", "--name", f"bench-{time.time_ns()}"),
            *("--scope", "manager", "--json", "--db", args.db),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    token = json.loads(made.stdout)["token"]
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [str(BIN / "leadflow"), "serve", "--port", str(args.port), "--db", args.db],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.goto(base + "/signin")
            page.fill("#token", token)
            page.click("#sign-in")
            page.wait_for_url("**/funnel")
            baseline = [_load_ms(page, base + "/signin") for _ in range(args.repeat)]
            base_ms = statistics.median(baseline)
            print(f"{'page':40} {'median ms':>10} {'max ms':>8} {'x sign-in page':>15}")
            print(f"{'sign-in page (baseline)':40} {base_ms:10.1f} {max(baseline):8.1f} {1:15.1f}")
            for name, path in PAGES.items():
                _load_ms(page, base + path)  # the first load catches the read models up
                times = [_load_ms(page, base + path) for _ in range(args.repeat)]
                median = statistics.median(times)
                print(f"{name:40} {median:10.1f} {max(times):8.1f} {median / base_ms:15.1f}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
