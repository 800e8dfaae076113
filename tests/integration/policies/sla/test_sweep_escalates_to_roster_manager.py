"""A hand-off SLA breach found by the sweep escalates to the breaching rep's team manager."""

from __future__ import annotations

from uuid import UUID

from leadflow.service.application import Leadflow

from support.clock import FakeClock


def _breached_handoff(app: Leadflow, clock: FakeClock, to: str, team: str | None = None) -> UUID:
    lead_id = app.capture(email="a@example.com").lead_id  # in the pool: no rep yet
    app.add_rep(to, team=team)
    app.change_stage(lead_id, "mql", reason="engaged")
    app.hand_off(lead_id, to)
    clock.advance(days=3)  # the shipped handoff_sla is 2d
    return lead_id


def test_the_breach_escalates_to_the_manager_of_the_reps_team_on_the_roster(
    app: Leadflow, clock: FakeClock
) -> None:
    app.define_team("sales_east", ["manager:wu", "manager:lena"])
    lead_id = _breached_handoff(app, clock, "rep:li", team="sales_east")
    app.sweep()
    [escalated] = list(app.read_events(lead_id=lead_id, types=["HandOffEscalated"]))
    assert escalated.data["to"] == "manager:wu"


def test_a_rep_without_a_managed_team_escalates_to_the_rules_escalate_to(
    app: Leadflow, clock: FakeClock
) -> None:
    lead_id = _breached_handoff(app, clock, "rep:li")  # no team
    app.sweep()
    [escalated] = list(app.read_events(lead_id=lead_id, types=["HandOffEscalated"]))
    assert escalated.data["to"] == app.pipeline.sla.handoff.escalate_to  # type: ignore[union-attr]
