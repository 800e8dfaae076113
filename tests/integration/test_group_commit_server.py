"""The server's group commit (``leadflow.service.group_commit``) through the real stores:
threads deciding commands on one store, a committer saving them in batches. Every
command is saved once or refused whole; a refused one is decided again on a fresh read,
so no capture of the same person is lost or doubled; a failing command writes nothing
and does not hold the others back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest

from leadflow.adapters.store import open_store
from leadflow.domain.commands import AssignLead, RecordActivity
from leadflow.domain.roster import ROSTER_ID
from leadflow.errors import LeadNotFound
from leadflow.service.application import Leadflow
from leadflow.service.group_commit import Decision, GroupCommitter
from leadflow.service.unit_of_work import CommandResult

from support.clock import FakeClock
from support.pipelines import pipeline_with
from support.stores import on_roster

THREADS = 6
PEOPLE = 10


def _capture(email: str) -> Any:
    def decision(lf: Leadflow) -> Decision:
        pipeline = lf.pipeline
        return lf.validate_capture({"email": email}, pipeline), None, pipeline

    return decision


def _activity(lead_id: UUID) -> Any:
    def decision(lf: Leadflow) -> Decision:
        return lf.validate(RecordActivity, {"lead_id": lead_id, "activity": "call"}), None, None

    return decision


def test_concurrent_captures_of_the_same_people_make_one_lead_each(app: Leadflow) -> None:
    committer = GroupCommitter(app, threading.RLock())
    results: list[tuple[str, CommandResult]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def client(n: int) -> None:
        start.wait()
        try:
            for i in range(PEOPLE):
                email = f"person{(i + n) % PEOPLE}@example.com"
                results.append((email, committer.run(_capture(email), f"user:t{n}")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.close()

    assert errors == []
    lead_of = {email: {r.lead_id for e, r in results if e == email} for email, _ in results}
    assert all(len(ids) == 1 for ids in lead_of.values()), lead_of
    for (lead_id,) in lead_of.values():
        types = Counter(e.TYPE for e in app.lead_history(lead_id))
        assert (types["LeadCaptured"], types["TouchRecorded"]) == (1, THREADS - 1)


def test_a_failing_command_writes_nothing_and_holds_no_one_back(app: Leadflow) -> None:
    committer = GroupCommitter(app, threading.RLock())
    lead = committer.run(_capture("kept@example.com"), "user:t").lead_id
    before = app.max_position()

    with pytest.raises(LeadNotFound):
        committer.run(_activity(uuid4()), "user:t")
    assert app.max_position() == before
    done = committer.run(_activity(lead), "user:t")
    committer.close()

    assert done.events[0].type == "ActivityRecorded"
    assert [e.TYPE for e in app.lead_history(lead)].count("ActivityRecorded") == 1


def _assign(lead_id: UUID) -> Any:
    def decision(lf: Leadflow) -> Decision:
        return lf.validate(AssignLead, {"lead_id": lead_id, "owner": "rep:mei"}), None, None

    return decision


def _eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_queued_command_built_on_a_refused_one_is_refused_and_decided_again(
    app: Leadflow, clock: FakeClock, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assignment A is being saved when assignment B is decided on the roster as A left
    it, and queued for the next batch. A turns out stale (another writer changed its
    lead): B continues A's roster versions, so it is refused with A, never written with
    a gap in the roster; both are decided again on a fresh read and saved."""
    app.activate_pipeline(pipeline_with(assignment={"on_capture": False}))
    on_roster(app, "rep:mei")
    x, y = (app.capture(email=f"q{i}@example.com").lead_id for i in range(2))
    roster_before = app.roster().version
    committer = GroupCommitter(app, threading.RLock())
    inserting, gate = threading.Event(), threading.Event()
    insert_each = app.insert_each

    def first_batch_waits(commands: Any) -> Any:
        if not gate.is_set():
            inserting.set()
            gate.wait(10)
        return insert_each(commands)

    monkeypatch.setattr(app, "insert_each", first_batch_waits)
    results: dict[str, CommandResult] = {}
    errors: list[BaseException] = []

    def client(name: str, lead_id: UUID) -> None:
        try:
            results[name] = committer.run(_assign(lead_id), "user:t")
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=client, args=("a", x))
    first.start()
    assert inserting.wait(10)
    other = open_store(db_url, clock=clock, actor="user:other")
    try:
        other.record_activity(x, "email")  # A is stale now
    finally:
        other.close()
    second = threading.Thread(target=client, args=("b", y))
    second.start()
    _eventually(lambda: committer.queued == 1)  # B decided on A's roster, queued
    gate.set()
    first.join(10)
    second.join(10)
    committer.close()

    assert errors == []
    assert set(results) == {"a", "b"}
    roster = [e.originator_version for e in app.events.get(ROSTER_ID)]
    assert roster == list(range(1, roster_before + 3))  # both load changes, no gap
    assert app.roster().open_leads["rep:mei"] == {x, y}
    for lead_id in (x, y):
        assert [e.TYPE for e in app.lead_history(lead_id)].count("LeadAssigned") == 1
