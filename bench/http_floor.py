"""The floor of an HTTP command on this machine: FastAPI on uvicorn answering the same
three requests as ``leadflow serve`` (bearer header checked, the body validated by a
pydantic model, a JSON answer) with no store behind them.

``bench.serve`` runs it as a child process (``uvicorn bench.http_floor:app``) and sends it
the same mixed load from the same 8 client threads: what that figure reaches is what the
HTTP stack and the clients leave on these cores, whatever the commands cost.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

__all__ = ["app"]

app = FastAPI()


class _Capture(BaseModel):
    email: str


class _Activity(BaseModel):
    activity: str


class _Promote(BaseModel):
    stage: str


def _authorised(authorization: str | None) -> None:
    if authorization is None or not authorization.startswith("Bearer "):
        raise HTTPException(401)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/leads", status_code=201)
def capture(body: _Capture, authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
    _authorised(authorization)
    return JSONResponse({"lead_id": str(uuid4()), "version": 1, "events": []}, status_code=201)


@app.post("/v1/leads/{lead_id}/activity")
def activity(
    lead_id: UUID, body: _Activity, authorization: Annotated[str | None, Header()] = None
) -> JSONResponse:
    _authorised(authorization)
    return JSONResponse({"lead_id": str(lead_id), "version": 2, "events": []})


@app.post("/v1/leads/{lead_id}/promote")
def promote(
    lead_id: UUID, body: _Promote, authorization: Annotated[str | None, Header()] = None
) -> JSONResponse:
    _authorised(authorization)
    return JSONResponse({"lead_id": str(lead_id), "version": 3, "events": []})
