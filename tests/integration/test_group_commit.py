"""Group commit through the real stores (SQLite and PostgreSQL): many commands' appends in
one transaction, each still atomic and conflict-checked on its own. A stale command is
refused whole and never overwrites what another writer saved; the others are saved; a
command decided on a refused command's state (the roster both changed) is refused too, so
no aggregate's sequence gets a gap."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from leadflow.adapters.store import open_store
from leadflow.domain.commands import AssignLead, Command, MergeLeads, RecordActivity
from leadflow.domain.roster import ROSTER_ID
from leadflow.errors import ConcurrencyConflict
from leadflow.service import handlers
from leadflow.service.application import Leadflow
from leadflow.service.unit_of_work import CommandResult, UnitOfWork, commit_each

from support.clock import FakeClock
from support.pipelines import pipeline_with
from support.stores import on_roster


@pytest.fixture(autouse=True)
def _manual_assignment(app: Leadflow) -> None:
    app.activate_pipeline(pipeline_with(assignment={"on_capture": False}))
    on_roster(app, "rep:mei")


def _decided(app: Leadflow, command: type[Command], data: dict[str, Any]) -> UnitOfWork:
    """A command run up to its commit: loaded, decided, not saved."""
    validated = app.validate(command, data)
    uow = UnitOfWork(app, validated.NAME, app.context())
    handlers.handler_for(validated).handle(uow, validated)
    return uow


def _versions(app: Leadflow, aggregate_id: UUID) -> list[int]:
    return [e.originator_version for e in app.events.get(aggregate_id)]


def _types(app: Leadflow, lead_id: UUID) -> list[str]:
    return [e.TYPE for e in app.lead_history(lead_id)]


def _leads(app: Leadflow, n: int) -> list[UUID]:
    return [app.capture(email=f"g{i}@example.com").lead_id for i in range(n)]


def test_a_stale_command_is_refused_alone_and_overwrites_nothing(
    app: Leadflow, clock: FakeClock, db_url: str
) -> None:
    x, y, z = _leads(app, 3)
    stale = _decided(app, RecordActivity, {"lead_id": x, "activity": "call"})
    other = open_store(db_url, clock=clock, actor="user:other")
    try:
        other.record_activity(x, "email", detail="theirs")  # saved first
    finally:
        other.close()
    fine = [_decided(app, RecordActivity, {"lead_id": i, "activity": "meeting"}) for i in (y, z)]

    outcomes = commit_each(app, [stale, *fine])

    assert isinstance(outcomes[0], ConcurrencyConflict)
    assert all(isinstance(o, CommandResult) for o in outcomes[1:])
    history = app.lead_history(x)
    assert [e.data.activity for e in history if e.TYPE == "ActivityRecorded"] == ["email"]
    assert _versions(app, x) == list(range(1, len(history) + 1))
    for lead_id in (y, z):
        assert "ActivityRecorded" in _types(app, lead_id)
    # The refused command reads afresh and succeeds on its own.
    app.record_activity(x, "call")
    assert [e.TYPE for e in app.lead_history(x)][-2:] == ["ActivityRecorded", "ActivityRecorded"]


def test_a_refused_command_leaves_no_half_behind(
    app: Leadflow, clock: FakeClock, db_url: str
) -> None:
    """A merge records on both leads; the survivor is stale, the duplicate is not: the
    duplicate's events (written first, in the same savepoint) are taken back too."""
    duplicate, survivor, z = _leads(app, 3)
    merge = _decided(app, MergeLeads, {"lead_id": duplicate, "into_lead_id": survivor})
    assert [a.id for a in merge.changed()][:2] == [duplicate, survivor]  # written in order
    other = open_store(db_url, clock=clock, actor="user:other")
    try:
        other.record_activity(survivor, "email")
    finally:
        other.close()
    unrelated = _decided(app, RecordActivity, {"lead_id": z, "activity": "call"})

    outcomes = commit_each(app, [merge, unrelated])

    assert isinstance(outcomes[0], ConcurrencyConflict)
    assert isinstance(outcomes[1], CommandResult)
    assert _types(app, duplicate) == ["LeadCaptured"]
    assert "DuplicateMerged" not in _types(app, survivor)
    assert app.get_lead(duplicate).merged_into is None


def test_a_command_built_on_a_refused_one_is_refused_too(
    app: Leadflow, clock: FakeClock, db_url: str
) -> None:
    """Both assignments record a load change on the roster, the second after the first:
    when the first is refused, writing the second would leave a gap in the roster."""
    x, y, z = _leads(app, 3)
    roster_before = app.roster().version
    stale = _decided(app, AssignLead, {"lead_id": x, "owner": "rep:mei"})
    other = open_store(db_url, clock=clock, actor="user:other")
    try:
        other.record_activity(x, "email")
    finally:
        other.close()
    after_it = _decided(app, AssignLead, {"lead_id": y, "owner": "rep:mei"})
    unrelated = _decided(app, RecordActivity, {"lead_id": z, "activity": "call"})

    outcomes = commit_each(app, [stale, after_it, unrelated])

    assert isinstance(outcomes[0], ConcurrencyConflict)
    assert isinstance(outcomes[1], ConcurrencyConflict)
    assert isinstance(outcomes[2], CommandResult)
    assert _versions(app, ROSTER_ID)[-1] == roster_before  # neither's load change is saved
    assert "LeadAssigned" not in _types(app, x) + _types(app, y)
    assert "ActivityRecorded" in _types(app, z)
    # Afresh, each succeeds, and the roster counts both.
    app.assign(x, "rep:mei")
    app.assign(y, "rep:mei")
    assert app.roster().open_leads["rep:mei"] == {x, y}
    assert _versions(app, ROSTER_ID) == list(range(1, roster_before + 3))


def test_two_commands_on_one_lead_in_a_batch_never_overwrite_each_other(app: Leadflow) -> None:
    (x,) = _leads(app, 1)
    first = _decided(app, RecordActivity, {"lead_id": x, "activity": "call"})
    second = _decided(app, RecordActivity, {"lead_id": x, "activity": "email"})

    outcomes = commit_each(app, [first, second])

    assert isinstance(outcomes[0], CommandResult)
    assert isinstance(outcomes[1], ConcurrencyConflict)
    activities = [e.data.activity for e in app.lead_history(x) if e.TYPE == "ActivityRecorded"]
    assert activities == ["call"]


def test_the_roster_of_a_batch_holds_each_commands_own_changes(
    app: Leadflow, clock: FakeClock, db_url: str
) -> None:
    """Each command's roster events are saved with that command (taken when it was
    decided), so a later command's refusal takes back only its own load change."""
    x, y = _leads(app, 2)
    first = _decided(app, AssignLead, {"lead_id": x, "owner": "rep:mei"})
    stale = _decided(app, AssignLead, {"lead_id": y, "owner": "rep:mei"})
    other = open_store(db_url, clock=clock, actor="user:other")
    try:
        other.record_activity(y, "email")
    finally:
        other.close()

    outcomes = commit_each(app, [first, stale])

    assert [type(o) for o in outcomes] == [CommandResult, ConcurrencyConflict]
    app.forget_roster()
    assert app.roster().open_leads == {"rep:mei": {x}}
    assert "LeadAssigned" in _types(app, x)
    assert "LeadAssigned" not in _types(app, y)


def test_a_sweep_batch_meeting_another_writer_re_reads_that_lead(
    app: Leadflow, clock: FakeClock, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep reads its due leads together and saves them by group commit; a lead
    another process changed in between is refused, re-read and decided again (here the
    other process's follow-up means nothing is due), the rest are saved."""
    ids = _leads(app, 3)
    for lead_id in ids:
        app.assign(lead_id, "rep:mei")
    clock.advance(days=6)  # the default pipeline releases a lead with no follow-up in 5
    other = open_store(db_url, clock=clock, actor="user:other")
    read = app.leads

    def read_then_another_writer(lead_ids: Any) -> Any:
        found = read(lead_ids)
        if ids[0] in lead_ids:
            other.record_activity(ids[0], "call")
        return found

    monkeypatch.setattr(app, "leads", read_then_another_writer)
    try:
        result = app.sweep()
    finally:
        other.close()

    assert (result.leads, result.changed) == (3, 2)
    assert {ref.aggregate_id for ref in result.events} == set(ids[1:])
    assert _types(app, ids[0])[-1] == "ActivityRecorded"  # theirs, kept
    assert app.get_lead(ids[0]).owner == "rep:mei"
    assert all(app.get_lead(i).owner is None for i in ids[1:])
    assert app.sweep().leads == 0
