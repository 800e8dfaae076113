"""The FastAPI application of ``leadflow serve``: one :class:`Service` per process.

:func:`create_app` builds it for a store URL; :func:`app_from_env` is the factory
uvicorn's workers call (the URL in ``LEADFLOW_DB``). OpenAPI is at ``/openapi.json``,
interactive docs at ``/docs``, health at ``/healthz``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from leadflow.adapters import console
from leadflow.adapters.http import routes_admin, routes_forms, routes_leads, routes_queries
from leadflow.adapters.http.problems import install_problem_handlers
from leadflow.adapters.http.service import Service

__all__ = ["app_from_env", "create_app"]

DESCRIPTION = """\
leadflow's HTTP API: capture leads, run every lead command, read views, funnels and the
event log. Authenticate with `Authorization: Bearer <token>` (`leadflow token create`);
errors are RFC 9457 problem documents. See docs/http-api.md.
"""


def create_app(url: str | None = None, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The HTTP application over the store at ``url`` (default ``$LEADFLOW_DB``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    service = Service(url, clock=clock)
    app = FastAPI(
        title="leadflow",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = service
    install_problem_handlers(app)
    app.include_router(routes_admin.health)
    app.include_router(routes_leads.router)
    app.include_router(routes_queries.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_forms.router)
    console.install(app)
    return app


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory``: the store named by ``LEADFLOW_DB``."""
    return create_app(os.environ.get("LEADFLOW_DB"))
