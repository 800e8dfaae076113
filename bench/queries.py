"""Interactive reads on a large store, timed inside the server process, and that
process's peak memory under the load.

On the synthetic store (``bench.synth``, read models built first, untimed), a fresh
child process (``python -m bench.child queries``) opens the HTTP application of
``leadflow serve`` (``create_app``) in process, signs a manager token in to the console,
and sends a few hundred requests per query with varied parameters, each timed inside the
server (a timing middleware around the app: authentication, catching the read models up,
the query and the response body; no network, no client):

* ``leads`` search: the console's lead list (``GET /leads``: the search of ``leadflow
  leads`` with stage, owner, source, score filters, sorts and pages), and a contact search
  as ``leadflow leads --email/--phone --json`` runs it after its start-up (the contact in
  another spelling, normalised and looked up in the dedupe index, then the search and a
  view of each lead found), timed around those service calls in the same process;
* ``pool``: ``GET /v1/pool`` with limits from 10 to 200;
* ``show``: ``GET /v1/leads/{id}`` for leads picked at random.

Rows: p50 and p99 per query (target p99 < 50 ms), and the child's peak RSS (``VmHWM``)
at the size against the same load on a store a tenth the size, in the same run (target
< 500 MB and < 1.5x).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from bench import readside

__all__ = ["QUERIES", "run", "serve_load"]

QUERIES = ("leads (console list)", "leads --email/--phone", "pool", "show")
REQUESTS = 200
"""Timed requests per query."""
_REPS = ["rep:li", "rep:mei", "rep:jun", "rep:raj", "rep:tom", "rep:zoe", "rep:kai", "none"]
_STAGES = ["lead", "mql", "sql", "opportunity", "customer", "disqualified"]
_SOURCES = ["web_form", "partner", "event", "ads"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _list_params(rng: random.Random) -> dict[str, str]:
    """One console lead list: one to three filters, a sort, a page."""
    params: dict[str, str] = {}
    for name, pick in (
        ("stage", lambda: rng.choice(_STAGES)),
        ("owner", lambda: rng.choice(_REPS)),
        ("source", lambda: rng.choice(_SOURCES)),
        ("score_min", lambda: str(rng.choice([10, 30, 60, 90]))),
    ):
        if rng.random() < 0.45:
            params[name] = pick()
    sort = rng.choice(["captured_at", "score", "last_touch_at"])
    params["sort"] = sort
    params["order"] = rng.choice(["asc", "desc"])
    params["page"] = str(rng.choice([1, 1, 1, 2, 3, 5, 10, 20]))
    return params


def _respell(rng: random.Random, email: str, index: int) -> tuple[str, str]:
    """A contact of a synthetic lead, spelled as a person might type it."""
    if rng.random() < 0.5:
        user, domain = email.split("@")
        return "email", f"  {user.capitalize()}@{domain.upper()} "
    number = int(email.split("@")[0].removeprefix("person"))
    digits = f"{number:08d}"
    return "phone", f"+86 139 {digits[:4]} {digits[4:]}"


def serve_load(url: str, emails: list[str], requests: int = REQUESTS) -> dict[str, Any]:
    """In this process: the app of ``leadflow serve`` on ``url``, the query mix, timed."""
    import sqlalchemy as sa
    from fastapi import Request
    from fastapi.testclient import TestClient
    from starlette.responses import Response

    from leadflow.adapters.http.app import create_app
    from leadflow.adapters.http.tokens import create_token
    from leadflow.domain.view import LeadView
    from leadflow.projections.lead_search import LeadFilter, search
    from leadflow.projections.leads import LEADS
    from leadflow.service.lookup import leads_with_contact

    app = create_app(url)
    service = app.state.service
    server_ms: dict[str, list[float]] = {name: [] for name in QUERIES}
    current: list[str] = []

    @app.middleware("http")
    async def timed(request: Request, call_next: Callable[[Request], Any]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        body = b"".join([chunk async for chunk in response.body_iterator])
        elapsed = (time.perf_counter() - started) * 1000
        if current:
            server_ms[current[0]].append(elapsed)
        return Response(body, response.status_code, dict(response.headers))

    _, secret = create_token(
        service.engine, name=f"bench-{time.time_ns()}", scope="manager", now=service.now()
    )
    rng = random.Random(15)
    base = "http://testserver"
    with TestClient(app, base_url=base) as http:
        signed = http.post(
            "/signin",
            data={"token": secret, "next": "/leads"},
            headers={"Origin": base},
            follow_redirects=False,
        )
        assert signed.status_code in (302, 303), signed.text[:300]
        auth = {"Authorization": f"Bearer {secret}"}
        # Untimed: the read models are caught up with the log, the pipeline is read.
        assert http.get("/v1/pool", headers=auth).status_code == 200
        assert http.get("/leads").status_code == 200
        runner = service.read_models()
        with runner.engine.connect() as conn:
            ids = [
                str(i)
                for (i,) in conn.execute(
                    sa.select(LEADS.c.lead_id).order_by(sa.func.random()).limit(requests)
                )
            ]
        pipeline = service.read(lambda lf: lf.pipeline)

        def contact_search(kind: str, value: str) -> int:
            """What ``leadflow leads --<kind> VALUE --json`` does after its start-up."""
            with service.locked() as lf:
                found = {str(i) for i in leads_with_contact(lf, kind, value, pipeline)}
            runner = service.read_models()
            with runner.engine.connect() as conn:
                count, page = search(conn, LeadFilter(lead_ids=found), limit=50, offset=0)
            with service.locked() as lf:
                views = [LeadView.of(lf.get_lead(UUID(i))) for i in page]
            for view in views:
                view.model_dump(mode="json")
            return int(count)

        plan: list[tuple[str, Any]] = []
        for i in range(requests):
            plan.append(("leads (console list)", _list_params(rng)))
            plan.append(("leads --email/--phone", _respell(rng, rng.choice(emails), i)))
            plan.append(("pool", {"limit": str(rng.choice([10, 50, 100, 200]))}))
            plan.append(("show", ids[i % len(ids)]))
        rng.shuffle(plan)
        found_contacts = 0
        for name, arg in plan:
            current[:] = [name]
            if name == "leads (console list)":
                answer = http.get("/leads", params=arg)
                assert answer.status_code == 200, (arg, answer.text[:300])
            elif name == "pool":
                answer = http.get("/v1/pool", params=arg, headers=auth)
                assert answer.status_code == 200, answer.text[:300]
            elif name == "show":
                answer = http.get(f"/v1/leads/{arg}", headers=auth)
                assert answer.status_code == 200, answer.text[:300]
            else:
                started = time.perf_counter()
                found_contacts += contact_search(*arg)
                server_ms[name].append((time.perf_counter() - started) * 1000)
            current.clear()
    if emails and found_contacts == 0:
        raise AssertionError("no contact search found its lead")
    return {"server_ms": server_ms, "found_contacts": found_contacts}


def _ensure_built(url: str) -> None:
    """The store's read models at the log's head (built in a child process, untimed)."""
    from leadflow.adapters.cli_projections import projection_runner
    from leadflow.adapters.store import open_store

    app = open_store(url, actor="user:bench")
    try:
        positions = projection_runner(url, app).positions()
        behind = min(positions.values(), default=0) < app.max_position()
    finally:
        app.close()
    if behind:
        readside._child("rebuild", url)


def _load(size: int, shared: Path, db: str | None) -> dict[str, Any]:
    s = readside.store(size, shared, db)
    _ensure_built(s.url)
    s.built = True
    emails = shared / f"emails{size}.txt"
    emails.write_text("\n".join(s.generated.emails))
    requests = min(REQUESTS, max(20, size))  # a tiny store (the smoke test) needs fewer
    return readside._child("queries", s.url, str(emails), str(requests))


def run(size: int, shared: Path, db: str | None = None) -> list[dict[str, Any]]:
    small_size = max(size // 10, 1)
    small = _load(small_size, shared, db)
    big = _load(size, shared, db)
    rows: list[dict[str, Any]] = []
    for name in QUERIES:
        samples = big["server_ms"][name]
        p50, p99 = statistics.median(samples), _percentile(samples, 0.99)
        rows.append(
            {
                "figure": f"{name} at {size:,} leads, server side, p99 ms "
                f"(p50 {p50:.1f} ms, max {max(samples):.1f} ms, {len(samples)} requests)",
                "value": p99,
                "target": "< 50 ms",
                "met": p99 < 50,
                "unit": "ms",
            }
        )
    peak, smaller = big["peak_rss_mb"], small["peak_rss_mb"]
    rows.append(
        {
            "figure": f"peak RSS of the server under that load at {size:,} leads, MB "
            f"(vs {small_size:,})",
            "value": peak,
            "baseline": smaller,
            "ratio": peak / smaller,
            "target": "< 500 MB and < 1.5x",
            "met": peak < 500 and peak < 1.5 * smaller,
            "unit": "MB",
        }
    )
    return rows
