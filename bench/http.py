"""``POST /v1/leads`` on a real ``leadflow serve`` (SQLite store) with 1, 8 and 32
concurrent clients: captures per second and p50/p99 latency, beside the same captures
through the in-process Python API (the baseline, measured in the same run).

The clients are threads in this process, each with its own keep-alive connection; the
server is a child process. On a 2-core machine they compete for the same cores, so the
figures are a floor for a server on its own machine.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from leadflow.adapters.store import open_store

CLIENTS = (1, 8, 32)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _in_process(size: int, workdir: Path) -> float:
    app = open_store(f"sqlite:///{workdir / 'api.db'}", actor="user:bench")
    app.pipeline  # noqa: B018  (the first read activates the default pipeline)
    started = time.perf_counter()
    for i in range(size):
        app.capture(email=f"api{i}@example.com", source="web")
    rate = size / (time.perf_counter() - started)
    app.close()
    return rate


def _serve(
    workdir: Path, url: str | None = None, scope: str = "intake", workers: int = 1
) -> tuple[subprocess.Popen[bytes], str, str]:
    """A ``leadflow serve`` child (``workers`` processes) on the store at ``url`` (default:
    a new SQLite file), and a token of ``scope``."""
    url = url or f"sqlite:///{workdir / 'http.db'}"
    leadflow = str(Path(sys.executable).with_name("leadflow"))
    created = subprocess.run(
        [
            leadflow,
            "token",
            "create",
            "--name",
            "bench",
            "--scope",
            scope,
            "--db",
            url,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    token = json.loads(created.stdout)["token"]
    port = _free_port()
    log = (workdir / "serve.log").open("wb")
    command = [leadflow, "serve", "--port", str(port), "--db", url, "--no-webhooks"]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base, token
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("leadflow serve did not start")


def _load(base: str, token: str, clients: int, size: int, tag: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = max(1, size // clients)
    start = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        mine = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            http.get("/healthz")  # connect before the clock starts
            start.wait()
            for i in range(per_client):
                body = {"email": f"{tag}-{n}-{i}@example.com", "source": "web"}
                began = time.perf_counter()
                response = http.post("/v1/leads", json=body)
                mine.append(time.perf_counter() - began)
                assert response.status_code == 201, response.text
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(size: int, workdir: Path) -> list[dict[str, Any]]:
    baseline = _in_process(size, workdir)
    rows: list[dict[str, Any]] = [
        {"figure": "in-process Python API (Leadflow.capture), captures/s", "value": baseline}
    ]
    process, base, token = _serve(workdir)
    try:
        _load(base, token, 1, 50, "warm")
        for clients in CLIENTS:
            rate, latencies = _load(base, token, clients, size, f"c{clients}")
            rows.append(
                {
                    "figure": f"POST /v1/leads, {clients} client(s), captures/s "
                    f"(p50 {statistics.median(latencies) * 1000:.1f} ms, "
                    f"p99 {_percentile(latencies, 0.99) * 1000:.1f} ms)",
                    "value": rate,
                    "baseline": baseline,
                    "ratio": rate / baseline,
                }
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
    return rows
