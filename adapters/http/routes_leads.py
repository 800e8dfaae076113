"""Writes on leads: capture (``POST /v1/leads``) and every lead command of the CLI

# No ``from __future__ import annotations``: the endpoints made in loops annotate their
# body with a local class, which FastAPI must see as a class, not a string.
(``POST /v1/leads/{lead_id}/<command>``), each through :meth:`Leadflow.run`.

The actor of every event is the calling token's identity. Each write takes an
``Idempotency-Key`` (:mod:`.idempotency`).
"""

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from leadflow.adapters.cli_projections import forget_erased
from leadflow.adapters.http.auth import Caller, requires, service_of
from leadflow.adapters.http.bodies import (
    CaptureResponse,
    CommandResponse,
    body_model,
    command_response,
)
from leadflow.adapters.http.idempotency import once
from leadflow.adapters.http.problems import WRITE_RESPONSES, problem_doc
from leadflow.adapters.http.service import Service
from leadflow.domain.commands import (
    AcceptHandOff,
    AssignLead,
    CaptureLead,
    ChangeStage,
    ChangeStatus,
    ChurnLead,
    ClaimLead,
    Command,
    ConvertLead,
    DisqualifyLead,
    ErasePersonalData,
    HandOffLead,
    LoseDeal,
    MergeLeads,
    RecordActivity,
    RecordQualification,
    RejectHandOff,
    ReleaseLead,
    SetScore,
    UnmergeLead,
    UpdateProfile,
    WinDeal,
)
from leadflow.service.application import Leadflow
from leadflow.service.group_commit import Decision
from leadflow.service.unit_of_work import CommandResult

__all__ = ["LEAD_COMMANDS", "capture_result", "router"]

router = APIRouter(prefix="/v1", tags=["leads"])

LEAD_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WRITE_RESPONSES,
    404: problem_doc("No such lead"),
}

LEAD_COMMANDS: dict[str, tuple[type[Command], tuple[str, ...]]] = {
    "activity": (RecordActivity, ()),
    "score": (SetScore, ()),
    "promote": (ChangeStage, ()),
    "status": (ChangeStatus, ()),
    "assign": (AssignLead, ()),
    "claim": (ClaimLead, ("owner",)),
    "release": (ReleaseLead, ()),
    "handoff": (HandOffLead, ()),
    "accept": (AcceptHandOff, ()),
    "reject": (RejectHandOff, ()),
    "qualify": (RecordQualification, ()),
    "convert": (ConvertLead, ()),
    "win": (WinDeal, ()),
    "lose": (LoseDeal, ()),
    "churn": (ChurnLead, ()),
    "disqualify": (DisqualifyLead, ()),
    "merge": (MergeLeads, ()),
    "unmerge": (UnmergeLead, ()),
    "update": (UpdateProfile, ()),
    "erase": (ErasePersonalData, ()),
}
"""``POST /v1/leads/{lead_id}/<path>``: the command and the body fields one may leave out
(``claim``'s owner is the caller's rep)."""


def capture_result(result: CommandResult) -> tuple[int, dict[str, Any]]:
    """201 for a new lead, 200 when dedupe matched an existing one."""
    created = any(
        e.type == "LeadCaptured" and e.aggregate_id == result.lead_id for e in result.events
    )
    return (201 if created else 200), {**command_response(result), "created": created}


CaptureBody = body_model(CaptureLead)


@router.post(
    "/leads",
    status_code=201,
    response_model=CaptureResponse,
    responses={
        **LEAD_WRITE_RESPONSES,
        200: {"description": "Dedupe matched an existing lead", "model": CaptureResponse},
    },
    summary="Capture a lead",
)
def capture(
    request: Request,
    body: CaptureBody,  # type: ignore[valid-type]
    caller: Annotated[Caller, Depends(requires("capture"))],
) -> Response:
    """A new lead (201), or a touch on the lead that holds the contact (200)."""
    service = service_of(request)
    data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def decision(lf: Leadflow) -> Decision:
        pipeline = lf.pipeline
        command = lf.validate_capture(data, pipeline)
        return command, command.occurred_at, pipeline

    def run() -> Response:
        result = service.commands.run(decision, caller.actor)
        status, payload = capture_result(result)
        return JSONResponse(payload, status_code=status)

    return once(service, request, caller.token_id, data, run)


def _fill(command: type[Command], data: dict[str, Any], caller: Caller) -> dict[str, Any]:
    if command is ClaimLead and data.get("owner") is None:
        data["owner"] = caller.actor
    return data


def _lead_command_endpoint(path: str, command: type[Command], optional: tuple[str, ...]) -> None:
    body_type = body_model(command, optional=optional)

    def endpoint(
        request: Request,
        body: body_type,  # type: ignore[valid-type]
        lead_id: Annotated[UUID, Path(description="The lead.")],
        caller: Annotated[Caller, Depends(requires(command.NAME))],
    ) -> Response:
        service = service_of(request)
        data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        return once(
            service,
            request,
            caller.token_id,
            data,
            _runner(service, command, {**_fill(command, data, caller), "lead_id": lead_id}, caller),
        )

    endpoint.__name__ = f"lead_{path}"
    endpoint.__doc__ = command.__doc__
    router.post(
        f"/leads/{{lead_id}}/{path}",
        response_model=CommandResponse,
        responses=LEAD_WRITE_RESPONSES,
        summary=f"{path}: {command.NAME.replace('_', ' ')}",
    )(endpoint)


def _runner(
    service: Service, command: type[Command], data: dict[str, Any], caller: Caller
) -> Callable[[], Response]:
    def decision(lf: Leadflow) -> Decision:
        pipeline = lf.pipeline
        return lf.validate(command, data, pipeline), None, pipeline

    def run() -> Response:
        result = service.commands.run(decision, caller.actor)
        if command is ErasePersonalData:
            with service.locked() as lf:
                forget_erased(service.url, lf)  # as the CLI's erase does
        return JSONResponse(command_response(result))

    return run


for _path, (_command, _optional) in LEAD_COMMANDS.items():
    _lead_command_endpoint(_path, _command, _optional)
