"""The lead list (filters in the URL) and a lead's timeline.

The timeline is the lead's events in log order, each with business and recording time,
actor, rule and pipeline version; the score explained step by step
(:func:`leadflow.domain.explain.explain_lead`, what ``leadflow explain`` prints); its
hand-offs with their SLA outcome (:func:`leadflow.projections.audit_trail`). With an
*as known at* instant, the events recorded after it are marked, and the lead is shown
as it was known then: folded from the events recorded by that instant only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from leadflow.adapters.console.instants import RELATIVE, resolve_instant
from leadflow.adapters.console.lead_list import FILTERS, SORT_COLUMNS, lead_list
from leadflow.adapters.console.web import error_page, render, sign_in_redirect, viewer_of
from leadflow.adapters.redaction import HIDDEN, redact_event_data, redact_view
from leadflow.domain.explain import explain_lead
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.view import LeadView
from leadflow.errors import InvalidInput, LeadflowError, LeadNotFound, NotPermitted
from leadflow.i18n import stage_labels
from leadflow.projections import audit_trail
from leadflow.projections.reference import leads_from_events
from leadflow.service.application import Leadflow

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

BACKDATED = timedelta(minutes=5)
"""An event recorded this long after it occurred is shown as backdated (a correction)."""


@router.get("/leads")
def leads_page(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return sign_in_redirect(request)
    params = dict(request.query_params)
    try:
        runner = viewer.service.read_models()
        with runner.engine.connect() as conn:
            page = lead_list(conn, params, viewer.actor if viewer.is_rep else None)
        pipeline = viewer.service.read(lambda lf: lf.pipeline)
    except LeadflowError as exc:
        return error_page(request, viewer, exc)
    labels = stage_labels(pipeline, viewer.lang)
    return render(
        request,
        "leads.html",
        viewer,
        page=page,
        params=params,
        filters=FILTERS,
        sorts=list(SORT_COLUMNS),
        labels=labels,
        stages=list(pipeline.stages),
    )


def _lead_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput("lead_id", f"{value!r} is not a lead id (a UUID)") from None


@router.get("/leads/{lead_id}")
def lead_page(request: Request, lead_id: str) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return sign_in_redirect(request)
    params = dict(request.query_params)
    service = viewer.service
    try:
        lid = _lead_id(lead_id)
        known_at = resolve_instant(
            params.get("as_known_at"), params.get("as_known_at_rel"), service.now(), "as_known_at"
        )

        def read(lf: Leadflow) -> tuple[Any, ...]:
            lead = lf.get_lead(lid)
            records = list(lf.read_events(lead_id=lid))
            versions = lf.pipeline_log().versions

            def pipeline_of(version: str) -> Pipeline | None:
                return versions.get(version)

            explained = explain_lead(lid, lf.lead_history(lid), pipeline_of)
            return lead, records, explained, lf.pipeline

        lead, records, explanation, pipeline = service.read(read)
        view = LeadView.of(lead).model_dump(mode="json")
        in_pool = view["owner"] is None
        if not viewer.sees_lead(view["owner"], in_pool):
            raise NotPermitted(viewer.actor, f"see lead {lid}", [], "a rep sees its own leads")
        runner = service.read_models()
        with runner.engine.connect() as conn:
            handoffs = audit_trail(conn, lead_id=lid, now=service.now())
    except LeadNotFound as exc:
        return error_page(request, viewer, exc)
    except LeadflowError as exc:
        return error_page(request, viewer, exc)
    personal = viewer.sees_personal_data(view["owner"])
    explained = explanation.to_json_dict(hide=None if personal else HIDDEN)
    attributes = pipeline.personal_data.attributes
    events = []
    for record in records:
        item = record.to_json_dict()
        item["sequence"] = record.sequence
        item["rule"] = record.data.get("rule")
        item["pipeline_version"] = record.data.get("pipeline_version")
        item["later"] = known_at is not None and record.recorded_at > known_at
        item["backdated"] = record.recorded_at - record.occurred_at > BACKDATED
        if not personal:
            item["data"] = redact_event_data(item["data"], record.personal)
        events.append(item)
    known_view = None
    if known_at is not None:
        folded = leads_from_events(r for r in records if r.recorded_at <= known_at).get(lid)
        if folded is not None:
            known_view = LeadView.of(folded).model_dump(mode="json")
            if not personal:
                known_view = redact_view(known_view, attributes)
    if not personal:
        view = redact_view(view, attributes)
    labels = stage_labels(pipeline, viewer.lang)
    return render(
        request,
        "lead.html",
        viewer,
        lead=view,
        known_view=known_view,
        known_at=known_at,
        events=events,
        explained=explained,
        handoffs=handoffs,
        labels=labels,
        personal=personal,
        relative=RELATIVE,
        params=params,
        later=sum(1 for e in events if e["later"]),
    )
