"""Web-to-lead: ``POST /v1/forms/{form_id}`` takes a plain HTML form (urlencoded, no
token), and the forms' administration (``/v1/forms``, admin scope).

Order of checks on a submission: the form exists (404); the client's and then the
form's rate limit (429 with ``Retry-After``, counted); spam (the same answer as
success, counted, no lead); then the capture, through the same use case as
``POST /v1/leads``, with ``form:<form_id>`` as the actor.
"""

import time
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from leadflow.adapters.http.auth import Caller, requires, service_of
from leadflow.adapters.http.forms import (
    FormDefinition,
    count,
    counts,
    get_form,
    list_forms,
    mapped_capture,
    save_form,
    spam_reason,
)
from leadflow.adapters.http.idempotency import once
from leadflow.adapters.http.problems import (
    PROBLEM_RESPONSES,
    ProblemError,
    problem_doc,
    problem_for,
)
from leadflow.adapters.http.routes_leads import capture_result
from leadflow.adapters.http.service import Service
from leadflow.errors import LeadflowError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["web forms"])

MAX_BODY = 64 * 1024
FormId = Annotated[str, Path(max_length=64, description="The form (`leadflow form create`).")]

THANKS = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Thank you</title>
<p>Thank you. We will be in touch.</p></html>"""


@router.post(
    "/forms/{form_id}",
    status_code=303,
    responses={
        200: {"description": "Taken (no thank-you URL configured)", "content": {"text/html": {}}},
        303: {"description": "Taken: go to the form's thank-you URL"},
        404: problem_doc("No such form"),
        413: problem_doc("Body over 64 KiB"),
        415: problem_doc("Not application/x-www-form-urlencoded"),
        409: problem_doc("The Idempotency-Key is in use"),
        422: problem_doc("Invalid input (names the field)"),
        429: problem_doc("Rate limit; see Retry-After"),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                }
            },
        }
    },
    summary="Submit a web form",
)
async def submit(request: Request, form_id: FormId) -> Response:
    """A visitor's form: a lead (or a touch on the lead they already are), then the
    thank-you page. Spam gets the same answer and creates nothing."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the form as application/x-www-form-urlencoded",
        )
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ProblemError(413, "too-large", "Request too large", "a form body is at most 64 KiB")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProblemError(
            422, "invalid-input", "Invalid input", f"body: {exc}", field="body"
        ) from None
    submitted = dict(pairs)  # a field given twice: the last value
    client = request.client.host if request.client else "unknown"
    service = service_of(request)
    return await run_in_threadpool(_take, service, request, form_id, submitted, client)


def _take(
    service: Service, request: Request, form_id: str, submitted: dict[str, str], client: str
) -> Response:
    form = get_form(service.engine, form_id)
    now = time.monotonic()
    for key, rate in (
        (f"client:{form_id}:{client}", form.client_rate),
        (f"form:{form_id}", form.form_rate),
    ):
        wait = service.rate_limits.hit(key, rate.requests, rate.seconds, now)
        if wait is not None:
            count(service.engine, form_id, "rate_limited")
            raise ProblemError(
                429,
                "rate-limited",
                "Too many requests",
                f"at most {rate.requests} submissions in {rate.seconds} s; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
    spam = spam_reason(form, submitted)
    if spam is not None:
        count(service.engine, form_id, f"spam_{spam}")
        return _thanks(form)
    data = mapped_capture(form, submitted)

    def run() -> Response:
        try:
            with service.locked() as lf:
                pipeline = lf.pipeline
                command = lf.validate_capture(data, pipeline)
                result = lf.run(command, actor=f"form:{form_id}", pipeline=pipeline)
        except LeadflowError as exc:
            count(service.engine, form_id, "invalid")
            problem = problem_for(exc)
            assert problem is not None
            return problem
        status, _ = capture_result(result)
        count(service.engine, form_id, "captured" if status == 201 else "matched")
        return _thanks(form)

    return once(service, request, f"form:{form_id}", submitted, run)


def _thanks(form: FormDefinition) -> Response:
    if form.thank_you_url:
        return RedirectResponse(form.thank_you_url, status_code=303)
    return HTMLResponse(THANKS)


# -- administration ----------------------------------------------------------------------


def _described(service: Service, form: FormDefinition) -> dict[str, Any]:
    return {**form.model_dump(mode="json"), "counts": counts(service.engine, form.form_id)}


@router.post(
    "/forms",
    status_code=201,
    responses={**PROBLEM_RESPONSES, 200: {"description": "An existing form, replaced"}},
)
def form_create(
    request: Request,
    body: dict[str, Any],
    caller: Annotated[Caller, Depends(requires("forms"))],
) -> JSONResponse:
    """Create (201) or replace (200) a form; the body is a form definition."""
    service = service_of(request)
    form = FormDefinition.checked(body)
    created = save_form(service.engine, form, service.now())
    return JSONResponse(_described(service, form), status_code=201 if created else 200)


@router.get("/forms", responses=PROBLEM_RESPONSES)
def form_list(
    request: Request, caller: Annotated[Caller, Depends(requires("forms"))]
) -> list[dict[str, Any]]:
    """Every form with its counts: captured, matched, spam_honeypot, spam_too_fast,
    rate_limited, invalid."""
    service = service_of(request)
    return [_described(service, form) for form in list_forms(service.engine)]
