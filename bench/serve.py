"""Commands per second through ``leadflow serve`` with 8 concurrent clients, mixed:
each client captures a lead, records an activity on it and promotes it (``POST
/v1/leads``, ``/activity``, ``/promote``), each request timed (p50, p99). The server saves
concurrent commands by group commit (``leadflow.service.group_commit``).

Baseline, in the same run: the plain eventsourcing library doing the same commands in one
process (``bench.plain``), on the same database (SQLite file, or PostgreSQL with
``--db``). Also the in-process Python API with one writer (trusted cache, personal data
sealed as ``open_store`` does) against the same baseline, and the HTTP floor: the same
requests answered by a bare FastAPI app with no store (``bench.http_floor``). The clients
are threads of this process and the server a child process: on a 2-core machine they
share the cores, so the figures are a floor.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from bench import readside
from bench.commands import _leadflow_run
from bench.http import _free_port, _percentile, _serve
from bench.plain import PlainApp
from leadflow.adapters.store import data_keys, persistence_env
from leadflow.service.application import Leadflow

__all__ = ["run"]

CLIENTS = 8
WORKERS = int(os.environ.get("LEADFLOW_BENCH_WORKERS", "1"))
"""``leadflow serve --workers``: each worker a process with its own group commit."""


def _plain(url: str, size: int) -> float:
    env = _schema_made(url)
    module = "eventsourcing.sqlite" if url.startswith("sqlite") else "eventsourcing.postgres"
    plain = PlainApp({**env, "PERSISTENCE_MODULE": module})
    rate = _leadflow_run(plain, size)
    plain.close()
    return rate


def _schema_made(url: str) -> dict[str, str]:
    """The store's environment, its PostgreSQL schema created (the library does not)."""
    env = persistence_env(url)
    if not url.startswith("sqlite"):
        import psycopg

        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{env["POSTGRES_SCHEMA"]}"')
    return env


def _in_process(url: str, size: int) -> float:
    env = {**_schema_made(url), "AGGREGATE_CACHE_FASTFORWARD": "n"}
    app = Leadflow(env, actor="u:b", keys=data_keys(url))
    app.pipeline  # noqa: B018  (the first read activates the default pipeline)
    rate = _leadflow_run(app, size)
    app.close()
    return rate


def _mixed(base: str, token: str, size: int) -> tuple[float, list[float]]:
    """Each of :data:`CLIENTS` threads, on its own keep-alive connection, captures a lead,
    records an activity on it and promotes it, ``size // CLIENTS`` times; each request
    timed. The clients use the standard library's ``http.client`` (httpx costs several
    times its CPU per request, which on this machine's two cores the server would lose)."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = max(1, size // CLIENTS)
    start = threading.Barrier(CLIENTS + 1)
    where = urlsplit(base)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(http: HTTPConnection, path: str, body: dict[str, str]) -> tuple[int, bytes]:
        http.request("POST", path, body=orjson.dumps(body), headers=headers)
        answer = http.getresponse()
        return answer.status, answer.read()

    def client(n: int) -> None:
        mine = []
        http = HTTPConnection(where.hostname or "127.0.0.1", where.port)
        http.request("GET", "/healthz")  # connect before the clock starts
        http.getresponse().read()
        start.wait()
        for i in range(per_client):
            began = time.perf_counter()
            status, created = post(http, "/v1/leads", {"email": f"m{n}-{i}@example.com"})
            mine.append(time.perf_counter() - began)
            assert status == 201, created
            lead = orjson.loads(created)["lead_id"]
            for path, body in (
                ("activity", {"activity": "page_visit"}),
                ("promote", {"stage": "mql"}),
            ):
                began = time.perf_counter()
                status, answer = post(http, f"/v1/leads/{lead}/{path}", body)
                mine.append(time.perf_counter() - began)
                assert status == 200, answer
        http.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - began), latencies


def _floor(size: int) -> tuple[float, list[float]]:
    """The same load on ``bench.http_floor`` (no store): what HTTP leaves on these cores."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.http_floor:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"]
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        return _mixed(base, "floor", size)
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(size: int, shared: Path, db: str | None = None) -> list[dict[str, Any]]:
    workdir = shared / "serve-work"
    workdir.mkdir(exist_ok=True)
    baseline = _plain(readside._fresh_url(db, workdir, "plain"), size)
    in_process = _in_process(readside._fresh_url(db, workdir, "api"), size)
    floor, floor_latencies = _floor(size)
    url = readside._fresh_url(db, workdir, "serve")
    _schema_made(url)  # `leadflow token create` makes the service tables, not the schema
    process, base, token = _serve(workdir, url, "admin", WORKERS)
    try:
        rate, latencies = _mixed(base, token, size)
    finally:
        process.terminate()
        process.wait(timeout=30)
    p50, p99 = statistics.median(latencies) * 1000, _percentile(latencies, 0.99) * 1000
    f50, f99 = statistics.median(floor_latencies) * 1000, _percentile(floor_latencies, 0.99) * 1000
    return [
        {"figure": "plain eventsourcing, one process, commands/s", "value": baseline},
        {
            "figure": "in-process Python API, one writer (trusted cache), commands/s",
            "value": in_process,
            "baseline": baseline,
            "ratio": in_process / baseline,
            "target": ">= 3x",
            "met": in_process >= 3 * baseline,
        },
        {
            "figure": f"leadflow serve ({WORKERS} worker(s)), {CLIENTS} clients, "
            "capture/activity/promote, "
            f"commands/s (p50 {p50:.1f} ms, p99 {p99:.1f} ms)",
            "value": rate,
            "baseline": baseline,
            "ratio": rate / baseline,
            "target": ">= 5,000/s, >= 5x, p99 < 25 ms",
            "met": rate >= 5000 and rate >= 5 * baseline and p99 < 25,
        },
        {
            "figure": f"HTTP floor: bare FastAPI, no store, same {CLIENTS} clients and "
            f"requests, requests/s (p50 {f50:.1f} ms, p99 {f99:.1f} ms)",
            "value": floor,
            "baseline": baseline,
            "ratio": floor / baseline,
        },
        {
            "figure": "leadflow serve as a share of the HTTP floor (same run)",
            "value": rate / floor,
        },
    ]
