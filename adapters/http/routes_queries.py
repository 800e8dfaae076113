"""Queries: a lead's view, history and explanation, the pool, the funnel, the event log.

Each answers what the CLI's ``--json`` prints for the same question, from the same
functions; the read models are caught up with the log first, so no answer is stale.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from leadflow.adapters.cli_support import parse_time
from leadflow.adapters.http.auth import Caller, requires, service_of
from leadflow.adapters.http.problems import PROBLEM_RESPONSES, problem_doc
from leadflow.adapters.redaction import REDACTED, redact_view
from leadflow.domain.explain import explain_lead
from leadflow.domain.permissions import grants, may_read_personal_data
from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import REP_ID
from leadflow.domain.view import LeadView
from leadflow.errors import InvalidInput
from leadflow.projections import FunnelQuery, funnel, funnel_by, funnel_json, lead_history
from leadflow.projections.leads import pool as leads_pool
from leadflow.service.application import Leadflow
from leadflow.service.reminders import reminders_for

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["queries"])

READ = Annotated[Caller, Depends(requires("read"))]
LEAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    404: problem_doc("No such lead"),
}
LeadId = Annotated[UUID, Path(description="The lead.")]


@router.get("/leads/{lead_id}", response_model=LeadView, responses=LEAD_RESPONSES)
def show(request: Request, lead_id: LeadId, caller: READ) -> LeadView:
    """The lead's current state (``leadflow show --json``). Personal values read
    ``[personal]`` unless the token may read them: a manager or admin token, or a rep
    token for a lead its rep owns."""

    def query(lf: Leadflow) -> LeadView:
        view = LeadView.of(lf.get_lead(lead_id))
        if may_read_personal_data(caller.scope, caller.actor, view.owner):
            return view
        hidden = redact_view(view.model_dump(mode="json"), _personal_attributes(lf), REDACTED)
        return LeadView.model_validate(hidden)

    return service_of(request).read(query)


def _personal_attributes(lf: Leadflow) -> list[str]:
    return lf.pipeline.personal_data.attributes


@router.get("/leads/{lead_id}/history", responses=LEAD_RESPONSES)
def history(request: Request, lead_id: LeadId, caller: READ) -> dict[str, Any]:
    """The lead's stage intervals (``leadflow history --json``)."""
    service = service_of(request)
    service.read(lambda lf: lf.get_lead(lead_id))  # 404 for an unknown lead
    runner = service.read_models()
    with runner.engine.connect() as conn:
        return lead_history(conn, lead_id, service.now())


@router.get("/leads/{lead_id}/explain", responses=LEAD_RESPONSES)
def explain(request: Request, lead_id: LeadId, caller: READ) -> dict[str, Any]:
    """How the score came to be and every automatic decision (``leadflow explain --json``);
    free-text reasons read ``[personal]`` unless the token may read personal data (as
    ``GET /v1/leads/{lead_id}``)."""

    def query(lf: Leadflow) -> dict[str, Any]:
        versions = lf.pipeline_log().versions

        def pipeline_of(version: str) -> Pipeline | None:
            return versions.get(version)

        history = lf.lead_history(lead_id)
        personal = may_read_personal_data(caller.scope, caller.actor, lf.get_lead(lead_id).owner)
        explained = explain_lead(lead_id, history, pipeline_of)
        return explained.to_json_dict(hide=None if personal else REDACTED)

    return service_of(request).read(query)


@router.get("/pool", responses=PROBLEM_RESPONSES)
def pool(
    request: Request,
    caller: READ,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many leads.")] = 50,
) -> dict[str, Any]:
    """Leads waiting in the public pool, oldest capture first (``leadflow pool --json``)."""
    runner = service_of(request).read_models()
    with runner.engine.connect() as conn:
        return leads_pool(conn, limit).to_json_dict()


@router.get("/funnel", responses=PROBLEM_RESPONSES)
def funnel_(
    request: Request,
    caller: READ,
    as_of: Annotated[
        str | None, Query(description="Business time (ISO 8601; default now).")
    ] = None,
    as_known_at: Annotated[
        str | None, Query(description="Count only events recorded by then (ISO 8601).")
    ] = None,
    cohort_from: Annotated[date | None, Query(description="Captured on or after.")] = None,
    cohort_to: Annotated[date | None, Query(description="Captured on or before.")] = None,
    by: Annotated[
        str | None,
        Query(
            description="source, campaign, owner, region, cohort or a reporting dimension of "
            "the pipeline in force."
        ),
    ] = None,
) -> dict[str, Any]:
    """Per stage: leads in it, leads that reached it, conversion (``leadflow funnel --json``)."""
    service = service_of(request)
    pipeline = service.read(lambda lf: lf.pipeline)
    pipeline.check_grouping(by)  # before catching up: the read models keep its dimensions
    now = service.now()
    query = FunnelQuery(
        as_of=parse_time(as_of, "as_of", end_of_day=True) if as_of else now,
        as_known_at=parse_time(as_known_at, "as_known_at", end_of_day=True)
        if as_known_at
        else None,
        cohort_from=cohort_from,
        cohort_to=cohort_to,
    )
    runner = service.read_models()
    with runner.engine.connect() as conn:
        if by is None:
            return funnel_json(query, rows=funnel(conn, pipeline, query))
        return funnel_json(query, groups=funnel_by(conn, pipeline, query, by))


MAX_POSITION = 2**63 - 1
"""The largest position a log can have (a signed 64-bit column)."""


class EventPage(BaseModel):
    events: list[dict[str, Any]] = Field(
        description="Events in log order, each as one line of `leadflow events --json`."
    )
    next_after: int = Field(description="Pass as `after` for the next page.")
    log_position: int = Field(description="The log's last position now.")


@router.get("/events", response_model=EventPage, responses=PROBLEM_RESPONSES)
def events(
    request: Request,
    caller: READ,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Events after this log position.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
) -> EventPage:
    """The lead event log in log order, for consumers without Kafka. Personal values read
    ``[personal]`` (as ``leadflow events --redact``) unless the token is a manager's or an
    admin's: the log spans every lead, so a rep token does not see its own leads' here."""
    redact = not grants(caller.scope, "read_personal_data")

    def query(lf: Leadflow) -> EventPage:
        page: list[dict[str, Any]] = []
        last = after
        for record in lf.read_events(after=after, batch_size=limit, redact=redact):
            page.append(record.to_json_dict())
            last = record.position
            if len(page) == limit:
                break
        head = lf.max_position()
        return EventPage(events=page, next_after=last if page else max(after, 0), log_position=head)

    return service_of(request).read(query)


@router.get("/reminders", responses=PROBLEM_RESPONSES)
def reminders(
    request: Request,
    caller: READ,
    rep: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=REP_ID.pattern,
            description="The rep (default: a rep token's own).",
        ),
    ] = None,
    since: Annotated[
        str | None, Query(description="Touches since (ISO 8601; default 7 days ago).")
    ] = None,
) -> dict[str, Any]:
    """What a rep must act on (``leadflow reminders --json``)."""
    who = rep or (caller.actor if caller.scope == "rep" else None)
    if who is None:
        raise InvalidInput("rep", "name the rep")
    service = service_of(request)
    now = service.now()
    start = parse_time(since, "since") if since else now - timedelta(days=7)
    return service.read(lambda lf: reminders_for(lf, who, now, start).to_json_dict())
