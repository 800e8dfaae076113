"""Live updates: the console's script asks where the log is, and reloads the page's
content when it has moved (polling, every two seconds; no token in the page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from leadflow.adapters.console.web import secure, viewer_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/console/live")
def live(request: Request) -> Response:
    """``{"log_position": N}`` for a signed-in session; 401 once it has ended."""
    viewer = viewer_of(request)
    if viewer is None:
        return secure(JSONResponse({"signed_in": False}, status_code=401))
    position = viewer.service.read(lambda lf: lf.max_position())
    return secure(JSONResponse({"signed_in": True, "log_position": position}))
