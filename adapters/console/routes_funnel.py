"""The funnel as of any instant and as known at any other, and the leads behind each cell.

The numbers are ``leadflow funnel --json``'s: the same :class:`FunnelQuery` handed to
the same :func:`~leadflow.projections.funnel` / :func:`~leadflow.projections.funnel_by`
and shaped by the same :func:`~leadflow.projections.funnel_json`. A cell's lead list
is :func:`leadflow.projections.funnel_cells.cell_leads` over the same query.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from leadflow.adapters.console.charts import funnel_chart
from leadflow.adapters.console.instants import RELATIVE, resolve_instant
from leadflow.adapters.console.web import Viewer, error_page, render, sign_in_redirect, viewer_of
from leadflow.domain.pipeline import Pipeline
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.i18n import stage_labels
from leadflow.projections import FunnelQuery, funnel, funnel_by, funnel_json
from leadflow.projections.funnel_cells import MEASURES, FunnelCell, cell_leads
from leadflow.projections.leads import LEADS

__all__ = ["SKIP_POLICIES", "router"]

router = APIRouter(include_in_schema=False)

_QUERY_FIELDS = {f.name for f in dataclasses.fields(FunnelQuery)}
SKIP_POLICIES: tuple[str, ...] = ("passed", "strict") if "skip_policy" in _QUERY_FIELDS else ()
"""The skip policies the funnel queries know (none before they have one)."""
PAGE = 100


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, f"{value!r} is not a date (YYYY-MM-DD)") from None


def funnel_query(
    params: dict[str, str], now: datetime, pipeline: Pipeline
) -> tuple[FunnelQuery, str | None]:
    """The query a console URL names (the same fields as ``leadflow funnel``); ``by`` is
    one of ``pipeline``'s groupings (the pipeline in force)."""
    as_of = resolve_instant(params.get("as_of"), params.get("as_of_rel"), now, "as_of") or now
    known = resolve_instant(
        params.get("as_known_at"), params.get("as_known_at_rel"), now, "as_known_at"
    )
    by = pipeline.check_grouping(params.get("by") or None)
    options: dict[str, Any] = {
        "as_of": as_of,
        "as_known_at": known,
        "cohort_from": _day(params.get("cohort_from"), "cohort_from"),
        "cohort_to": _day(params.get("cohort_to"), "cohort_to"),
    }
    policy = params.get("skip_policy") or None
    if policy is not None:
        if policy not in SKIP_POLICIES:
            raise InvalidInput("skip_policy", f"{policy!r} is not one of: {SKIP_POLICIES}")
        options["skip_policy"] = policy
    return FunnelQuery(**options), by


def _absolute(q: FunnelQuery, by: str | None) -> dict[str, str]:
    """The query as absolute URL parameters (what a cell's link and a bookmark carry)."""
    params = {"as_of": q.as_of.isoformat()}
    if q.as_known_at is not None:
        params["as_known_at"] = q.as_known_at.isoformat()
    if q.cohort_from is not None:
        params["cohort_from"] = q.cohort_from.isoformat()
    if q.cohort_to is not None:
        params["cohort_to"] = q.cohort_to.isoformat()
    policy = getattr(q, "skip_policy", None)
    if policy is not None and policy != "passed":
        params["skip_policy"] = policy
    if by is not None:
        params["by"] = by
    return params


def funnel_answer(
    viewer: Viewer, q: FunnelQuery, by: str | None
) -> tuple[dict[str, Any], Pipeline]:
    """``leadflow funnel --json`` for this query, and the pipeline it was counted under."""
    service = viewer.service
    runner = service.read_models()
    pipeline = service.read(lambda lf: lf.pipeline)
    with runner.engine.connect() as conn:
        if by is None:
            return funnel_json(q, rows=funnel(conn, pipeline, q)), pipeline
        return funnel_json(q, groups=funnel_by(conn, pipeline, q, by)), pipeline


def _local(at: datetime) -> str:
    """An instant as ``<input type=datetime-local>`` shows it (UTC, to the second)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@router.get("/funnel")
def funnel_page(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return sign_in_redirect(request)
    params = dict(request.query_params)
    try:
        in_force = viewer.service.read(lambda lf: lf.pipeline)
        q, by = funnel_query(params, viewer.service.now(), in_force)
        answer, pipeline = funnel_answer(viewer, q, by)
    except LeadflowError as exc:
        return error_page(request, viewer, exc)
    labels = stage_labels(pipeline, viewer.lang)
    chart = None if by else funnel_chart(answer["stages"], labels, pipeline.main_path)
    rows = (
        answer["stages"] if by is None else [r for g in answer["groups"][:1] for r in g["stages"]]
    )
    measures = [
        m
        for m in ("in_stage", "reached", "passed")
        if m in MEASURES or any(m in r for r in rows[:1])
    ]
    return render(
        request,
        "funnel.html",
        viewer,
        answer=answer,
        chart=chart,
        labels=labels,
        by=by,
        params=params,
        absolute=_absolute(q, by),
        inputs={
            "as_of": _local(q.as_of),
            "as_known_at": _local(q.as_known_at) if q.as_known_at else None,
        },
        relative=RELATIVE,
        groupings=pipeline.groupings(),
        skip_policies=SKIP_POLICIES,
        measures=measures,
        cell_measures=MEASURES,
        main_path=pipeline.main_path,
    )


@router.get("/funnel/leads")
def cell_page(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return sign_in_redirect(request)
    params = dict(request.query_params)
    try:
        q, by = funnel_query(
            params, viewer.service.now(), viewer.service.read(lambda lf: lf.pipeline)
        )
        measure = params.get("measure", "")
        if measure not in MEASURES:
            raise InvalidInput("measure", f"{measure!r} is not one of: {', '.join(MEASURES)}")
        stage = params.get("stage", "")
        key = params.get("key") if by is not None else None
        if by is not None and key is None:
            raise InvalidInput("key", "a breakdown cell names its group")
        page = _page(params.get("page"))
        service = viewer.service
        runner = service.read_models()
        pipeline = service.read(lambda lf: lf.pipeline)
        if stage not in pipeline.stages:
            raise InvalidInput("stage", f"{stage!r} is not a stage of the pipeline in force")
        with runner.engine.connect() as conn:
            ids = cell_leads(conn, pipeline, q, FunnelCell(stage, measure, by, key))
            visible = _visible(conn, viewer, ids)
    except LeadflowError as exc:
        return error_page(request, viewer, exc)
    shown = visible[(page - 1) * PAGE : page * PAGE]
    return render(
        request,
        "cell.html",
        viewer,
        stage=stage,
        label=stage_labels(pipeline, viewer.lang)[stage],
        measure=measure,
        by=by,
        key=key,
        q=q,
        total=len(ids),
        visible=len(visible),
        leads=shown,
        page=page,
        pages=max(1, -(-len(visible) // PAGE)),
        params=params,
        back=_absolute(q, by),
    )


def _page(value: str | None) -> int:
    if not value:
        return 1
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise InvalidInput("page", "a page number from 1")
    return int(value)


def _visible(conn: Any, viewer: Viewer, ids: list[str]) -> list[dict[str, Any]]:
    """The cell's leads this viewer may see, with their row of ``lf_leads``, in id order."""
    import sqlalchemy as sa

    t = LEADS
    rows: dict[str, Any] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in conn.execute(sa.select(t).where(t.c.lead_id.in_(chunk))):
            rows[row.lead_id] = row
    out = []
    for lead_id in ids:
        row = rows.get(lead_id)
        if row is None or not viewer.sees_lead(row.owner, bool(row.in_pool)):
            continue
        out.append(dict(row._mapping))
    return out
