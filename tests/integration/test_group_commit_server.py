"""The server's group commit (``leadflow.service.group_commit``) through the real stores:
threads deciding commands on one store, a committer saving them in batches. Every
command is saved once or refused whole; a refused one is decided again on a fresh read,
so no capture of the same person is lost or doubled; a failing command writes nothing
and does not hold the others back."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any
from uuid import UUID, uuid4

import pytest

from leadflow.domain.commands import RecordActivity
from leadflow.errors import LeadNotFound
from leadflow.service.application import Leadflow
from leadflow.service.group_commit import Decision, GroupCommitter
from leadflow.service.unit_of_work import CommandResult

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
