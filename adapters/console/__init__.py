"""The web console of ``leadflow serve``, at ``/``: the funnel as of any date and the
leads and decisions behind every number (docs/console.md).

:func:`install` mounts it on the HTTP application: the pages, the session tables, and
the static files (the console's own CSS and script; nothing is loaded from elsewhere).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["install"]

STATIC = Path(__file__).with_name("static")


def install(app: FastAPI) -> None:
    """Serve the console from ``app`` (whose ``state.service`` is the store's Service)."""
    from leadflow.adapters.console import (
        routes_funnel,
        routes_leads,
        routes_live,
        routes_pipeline,
        routes_pool,
        routes_session,
    )
    from leadflow.adapters.console.sessions import CONSOLE_TABLES

    CONSOLE_TABLES.create_all(app.state.service.engine, checkfirst=True)
    for module in (
        routes_session,
        routes_funnel,
        routes_leads,
        routes_pool,
        routes_pipeline,
        routes_live,
    ):
        app.include_router(module.router)
    app.mount(
        "/static/console", StaticFiles(directory=STATIC, follow_symlink=True), name="console-static"
    )
