"""``Idempotency-Key`` on every write: a retried request is answered, not run again.

The first request with a key (per token) records the key with a fingerprint of the
request (method, path and the parsed body, canonically serialised) as ``running``,
runs, and stores its response in ``lf_idempotency_keys``. Then, for at least
:data:`RETENTION`, in any process and after restarts:

- the same key with the same request gets the stored response again (with
  ``Idempotent-Replayed: true``), and nothing is recorded;
- the same key with a different request is refused with 422;
- the same key while the first request still runs is refused with 409 (retry later).

A response that says "try again" (409 conflict, 429, 5xx) is not kept: the key is
released, so the retry runs. A ``running`` key older than :data:`ABANDONED` was left by
a process that died mid-request and is taken over.

One window remains: a process killed after its command was saved and before its
response was stored leaves the key ``running``; the retry after :data:`ABANDONED` runs
the command again (a capture then dedupes into a touch on the same lead).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import Response

from leadflow.adapters.http.problems import ProblemError, problem_for
from leadflow.adapters.http.service import Service
from leadflow.adapters.http.tables import IDEMPOTENCY, as_utc

__all__ = ["ABANDONED", "HEADER", "RETENTION", "forget_leads", "once"]

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)
ABANDONED = timedelta(minutes=5)
_KEPT_HEADERS = ("content-type", "location", "retry-after")


def _key_of(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise ProblemError(
            422,
            "invalid-input",
            "Invalid input",
            f"{HEADER}: 1-255 printable ASCII characters",
            field=HEADER,
        )
    return key


def fingerprint(request: Request, body: Any) -> str:
    canonical = orjson.dumps(
        {"method": request.method, "path": request.url.path, "body": body},
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return hashlib.sha256(canonical).hexdigest()


def once(
    service: Service,
    request: Request,
    principal: str,
    body: Any,
    run: Callable[[], Response],
) -> Response:
    """Run the write ``run`` once per ``Idempotency-Key`` (or every time without one)."""
    key = _key_of(request)
    if key is None:
        return run()
    digest = fingerprint(request, body)
    stored = _claim(service, principal, key, digest)
    if stored is not None:
        return stored
    try:
        response = run()
    except Exception as exc:
        problem = problem_for(exc)
        if problem is None:
            _release(service, principal, key)
            raise
        response = problem
    if response.status_code in (409, 429) or response.status_code >= 500:
        _release(service, principal, key)
    else:
        _store(service, principal, key, response)
    return response


def _claim(service: Service, principal: str, key: str, digest: str) -> Response | None:
    """Take the key (``None``: run the request), or answer from what it holds."""
    now = service.now()
    where = sa.and_(IDEMPOTENCY.c.principal == principal, IDEMPOTENCY.c.idempotency_key == key)
    with service.engine.begin() as conn:
        conn.execute(IDEMPOTENCY.delete().where(IDEMPOTENCY.c.created_at < now - RETENTION))
        try:
            with conn.begin_nested():
                conn.execute(
                    IDEMPOTENCY.insert().values(
                        principal=principal,
                        idempotency_key=key,
                        request_sha256=digest,
                        state="running",
                        created_at=now,
                    )
                )
            return None
        except sa.exc.IntegrityError:
            pass
        row = conn.execute(IDEMPOTENCY.select().where(where)).one()
        created = as_utc(row.created_at)
        assert created is not None
        if row.state == "running" and created < now - ABANDONED:
            conn.execute(
                IDEMPOTENCY.update()
                .where(where)
                .values(request_sha256=digest, created_at=now, state="running")
            )
            return None
    if row.request_sha256 != digest:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "Idempotency key reused",
            f"{HEADER} {key!r} was used with a different request",
            field=HEADER,
        )
    if row.state == "running":
        raise ProblemError(
            409,
            "idempotency-key-in-use",
            "Request in progress",
            f"a request with {HEADER} {key!r} is still running; retry later",
            headers={"Retry-After": "1"},
        )
    headers = json.loads(row.headers or "{}")
    headers["Idempotent-Replayed"] = "true"
    return Response(row.body, status_code=row.status, headers=headers)


def _store(service: Service, principal: str, key: str, response: Response) -> None:
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    with service.engine.begin() as conn:
        conn.execute(
            IDEMPOTENCY.update()
            .where(IDEMPOTENCY.c.principal == principal, IDEMPOTENCY.c.idempotency_key == key)
            .values(
                state="done",
                status=response.status_code,
                body=bytes(response.body),
                headers=json.dumps(headers),
            )
        )


def _release(service: Service, principal: str, key: str) -> None:
    with service.engine.begin() as conn:
        conn.execute(
            IDEMPOTENCY.delete().where(
                IDEMPOTENCY.c.principal == principal, IDEMPOTENCY.c.idempotency_key == key
            )
        )


def forget_leads(engine: sa.Engine, lead_ids: Collection[UUID]) -> int:
    """Remove every kept request whose response names one of ``lead_ids`` (the end of an
    erasure): its fingerprint is a hash of the request, which held the person's values,
    and a guess of the whole request could be checked against it. Returns how many."""
    needles = [str(lead_id).encode() for lead_id in lead_ids]
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(IDEMPOTENCY.c.principal, IDEMPOTENCY.c.idempotency_key, IDEMPOTENCY.c.body)
        ).all()
        doomed = [
            (row.principal, row.idempotency_key)
            for row in rows
            if row.body is not None and any(needle in row.body for needle in needles)
        ]
        for principal, key in doomed:
            conn.execute(
                IDEMPOTENCY.delete().where(
                    IDEMPOTENCY.c.principal == principal, IDEMPOTENCY.c.idempotency_key == key
                )
            )
    return len(doomed)
