"""The public pool (a rep token claims from it) and the reps: load, capacity, absences,
performance, SLA breaches and escalations.

A claim is the ``claim`` command run as the token's rep, after the same scope check as
``POST /v1/leads/{id}/claim`` (:func:`leadflow.domain.permissions.check_scope`); every
other rule (the daily limit, reclaim delay, a lead already taken) is the domain's.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from leadflow.adapters.console.web import (
    Viewer,
    error_page,
    form_of,
    redirect,
    render,
    same_origin,
    sign_in_redirect,
    viewer_of,
)
from leadflow.domain.commands import ClaimLead
from leadflow.domain.permissions import check_scope
from leadflow.domain.pool import claim_day
from leadflow.errors import InvalidInput, LeadflowError, NotPermitted
from leadflow.i18n import stage_labels
from leadflow.projections import HANDOFFS, rep_performance
from leadflow.projections.leads import pool as leads_pool

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

POOL_PAGE = 100


def _pool_context(viewer: Viewer) -> dict[str, Any]:
    service = viewer.service
    runner = service.read_models()
    with runner.engine.connect() as conn:
        page = leads_pool(conn, POOL_PAGE).to_json_dict()

    def limits(lf: Any) -> tuple[Any, int | None, int | None]:
        pipeline = lf.pipeline
        limit = pipeline.pool.daily_claim_limit
        used = None
        if viewer.is_rep:
            used = lf.roster().claims_on(viewer.actor, claim_day(service.now(), pipeline))
        return pipeline, limit, used

    pipeline, limit, used = service.read(limits)
    labels = stage_labels(pipeline, viewer.lang)
    return {
        "pool": page,
        "limit": limit,
        "used": used,
        "labels": labels,
        "can_claim": viewer.is_rep and viewer.may("claim"),
        "log_position": service.read(lambda lf: lf.max_position()),
    }


@router.get("/pool")
def pool_page(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return sign_in_redirect(request)
    try:
        context = _pool_context(viewer)
    except LeadflowError as exc:
        return error_page(request, viewer, exc)
    claimed = request.query_params.get("claimed")
    return render(request, "pool.html", viewer, claimed=claimed, error=None, **context)


@router.post("/pool/{lead_id}/claim")
async def claim(request: Request, lead_id: str) -> Response:
    viewer = await run_in_threadpool(viewer_of, request)
    if viewer is None:
        return sign_in_redirect(request)
    try:
        form = form_of(await request.body())
    except InvalidInput as exc:
        return error_page(request, viewer, exc)
    if not viewer.session.csrf_ok(form.get("csrf")) or not same_origin(request):
        return render(
            request, "error.html", viewer, status=403, message="bad CSRF token", field=None
        )

    def run() -> None:
        token = viewer.session.token
        check_scope(f"token {token.token_id} ({token.name})", token.scope, ClaimLead.NAME)
        try:
            lid = UUID(lead_id)
        except ValueError:
            raise InvalidInput("lead_id", f"{lead_id!r} is not a lead id (a UUID)") from None
        with viewer.service.locked() as lf:
            lf.execute(ClaimLead, {"lead_id": lid, "owner": viewer.actor}, actor=viewer.actor)

    try:
        await run_in_threadpool(run)
    except LeadflowError as exc:
        context = await run_in_threadpool(_pool_context, viewer)
        status = 403 if isinstance(exc, NotPermitted) else 409
        if isinstance(exc, InvalidInput):
            status = 400
        return render(
            request, "pool.html", viewer, status=status, claimed=None, error=str(exc), **context
        )
    return redirect(f"/pool?claimed={lead_id}")


@router.get("/reps")
def reps_page(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return sign_in_redirect(request)
    service = viewer.service
    try:
        roster = service.read(lambda lf: lf.roster())
        runner = service.read_models()
        with runner.engine.connect() as conn:
            performance = {p.rep: dataclasses.asdict(p) for p in rep_performance(conn)}
            h = HANDOFFS
            breaches: dict[str, int] = {}
            escalations: dict[str, int] = {}
            for owner, breached, escalated in conn.execute(
                sa.select(
                    h.c.to_owner, sa.func.count(h.c.breached_at), sa.func.count(h.c.escalated_to)
                ).group_by(h.c.to_owner)
            ):
                breaches[owner], escalations[owner] = int(breached), int(escalated)
    except LeadflowError as exc:
        return error_page(request, viewer, exc)
    reps = [
        {
            "rep": rep,
            "team": info.team,
            "capacity": info.capacity,
            "weight": info.weight,
            "load": roster.load(rep),
            "absences": [(s.isoformat(), e.isoformat()) for s, e in info.absences],
            "performance": performance.get(rep),
            "breaches": int(breaches.get(rep, 0)),
            "escalations": int(escalations.get(rep, 0)),
        }
        for rep, info in sorted(roster.reps.items())
    ]
    return render(request, "reps.html", viewer, reps=reps)
