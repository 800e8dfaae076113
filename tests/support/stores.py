"""Which services the run requires, and a roster for tests that need reps."""

from __future__ import annotations

import os

import pytest

from leadflow.service.application import Leadflow

REQUIRE_SERVICES = os.environ.get("LEADFLOW_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("LEADFLOW_TEST_POSTGRES")


def service_unavailable(message: str) -> None:
    """Skip on a developer's machine; fail under CI, where the service is required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {message}", pytrace=False)
    pytest.skip(message)


def on_roster(app: Leadflow, *reps: str, team: str | None = None) -> None:
    """Put these reps on the roster (once): only reps on the roster own, claim or receive
    hand-offs. Add them after capturing leads that should stay in the pool."""
    if team is not None and team not in app.roster().teams:
        app.define_team(team, [])
    for rep in reps:
        if rep not in app.roster().reps:
            app.add_rep(rep, team=team)
