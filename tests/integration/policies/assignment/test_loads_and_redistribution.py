"""Open-lead counts stay right through every owner change; a leaver's leads move on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from leadflow.domain.pipeline import Pipeline
from leadflow.errors import ConcurrencyConflict, InvalidInput
from leadflow.service.application import Leadflow
from leadflow.service.intake import capture
from leadflow.service.unit_of_work import unit_of_work

UsePipeline = Callable[..., Pipeline]


def test_loads_follow_assign_release_and_closing_stages(app: Leadflow) -> None:
    app.add_rep("rep:a")
    lead = app.capture(email="ada@example.com").lead_id
    other = app.capture(email="bob@example.com").lead_id
    assert app.roster().load("rep:a") == 2
    app.add_rep("rep:b")

    app.assign(lead, "rep:b")
    assert (app.roster().load("rep:a"), app.roster().load("rep:b")) == (1, 1)

    app.release(other, "no answer")
    assert app.roster().load("rep:a") == 0

    app.disqualify(lead, "student")  # automation moves it to the closed stage
    assert app.roster().load("rep:b") == 0


def test_loads_read_back_the_same_in_a_fresh_process(app: Leadflow, db_url: str) -> None:
    from leadflow.adapters.store import open_store

    app.add_rep("rep:a")
    app.add_rep("rep:b")
    for i in range(5):
        app.capture(email=f"l{i}@example.com")

    fresh = open_store(db_url)
    try:
        assert {r: fresh.roster().load(r) for r in ("rep:a", "rep:b")} == {"rep:a": 3, "rep:b": 2}
    finally:
        fresh.close()


def test_a_decision_on_a_stale_roster_is_a_conflict_not_a_lost_update(db_url: str) -> None:
    from leadflow.adapters.store import open_store

    one, two = open_store(db_url), open_store(db_url)
    try:
        one.add_rep("rep:a")
        one.add_rep("rep:b")
        stale = two.roster()  # read before the capture below
        one.capture(email="first@example.com")  # rep:a's load is now 1
        two.roster = lambda: stale  # type: ignore[method-assign]

        with unit_of_work(two, "capture", two.context()) as uow:
            command = two.validate_capture({"email": "second@example.com"})
            outcome = capture(uow, command, uow.ctx)
            assert outcome.assigned_to == "rep:a"  # decided on the stale loads
            with pytest.raises(ConcurrencyConflict):
                uow.commit()

        assert one.roster().load("rep:a") == 1
    finally:
        one.close()
        two.close()


def test_a_departing_reps_leads_are_redistributed_in_one_command(app: Leadflow) -> None:
    for rep in ("rep:a", "rep:b", "rep:c"):
        app.add_rep(rep)
    for i in range(6):
        app.capture(email=f"l{i}@example.com")

    result = app.redistribute("rep:a", "left the company", leave=True)

    roster = app.roster()
    assert "rep:a" not in roster.reps
    assert roster.load("rep:a") == 0
    assert (roster.load("rep:b"), roster.load("rep:c")) == (3, 3)
    types = Counter(e.type for e in result.events)
    assert types["LeadAssigned"] == 2
    assert types["RepLeft"] == 1
    moved = [r.data for r in app.read_events(types=["LeadAssigned"])][-2:]
    assert all(d["previous_owner"] == "rep:a" for d in moved)
    assert all("rep:a" not in [c["rep"] for c in d["candidates"]] for d in moved)


def test_leads_nobody_can_take_go_back_to_the_pool(app: Leadflow) -> None:
    app.add_rep("rep:a")
    app.add_rep("rep:b", capacity=0)
    lead = app.capture(email="ada@example.com").lead_id

    app.redistribute("rep:a", "on leave", leave=False)

    assert app.get_lead(lead).owner is None
    released = next(app.read_events(types=["LeadReleased"]))
    assert released.data["rule"] == "assignment.redistribute"
    assert "rep:a" in app.roster().reps


def test_redistributing_an_unknown_rep_is_refused(app: Leadflow) -> None:
    with pytest.raises(InvalidInput) as refused:
        app.redistribute("rep:nobody", "left", leave=True)

    assert refused.value.field == "rep"


def test_roster_settings_are_validated(app: Leadflow) -> None:
    with pytest.raises(InvalidInput) as bad_weight:
        app.add_rep("rep:a", weight=0)
    with pytest.raises(InvalidInput) as bad_capacity:
        app.add_rep("rep:a", capacity=-1)
    app.add_rep("rep:a")
    with pytest.raises(InvalidInput) as same_again:
        app.add_rep("rep:a")

    assert (bad_weight.value.field, bad_capacity.value.field) == ("weight", "capacity")
    assert same_again.value.field == "rep"


def test_changing_a_reps_capacity_is_an_event_of_its_own(app: Leadflow) -> None:
    app.add_rep("rep:a")

    result = app.add_rep("rep:a", capacity=5)

    assert [e.type for e in result.events] == ["RepChanged"]
    assert app.roster().reps["rep:a"].capacity == 5


def test_a_fresh_process_starts_from_the_latest_roster_snapshot(app: Leadflow, db_url: str) -> None:
    from leadflow.adapters.store import open_store

    app.roster_snapshot_every = 4
    app.define_team("east", ["user:boss"])
    app.add_rep("rep:a", team="east", capacity=9)
    app.add_rep("rep:b", weight=2)
    for i in range(7):
        app.capture(email=f"l{i}@example.com")
    app.release(app.capture(email="x@example.com").lead_id, "to the pool")
    live = app.roster()

    fresh = open_store(db_url)
    try:
        snapshots = list(fresh.roster_snapshots().get(live.id))
        assert [s.originator_version for s in snapshots] == [4, 8, 12]
        rebuilt = fresh.roster()
        replayed = fresh.roster_at(live.version)  # every event from the start
    finally:
        fresh.close()

    for roster in (rebuilt, replayed):
        assert roster.version == live.version
        assert roster.open_leads == live.open_leads
        assert roster.holder == live.holder
        assert roster.last_given == live.last_given
        assert roster.teams == live.teams
        assert {r: (i.team, i.capacity, i.weight) for r, i in roster.reps.items()} == {
            r: (i.team, i.capacity, i.weight) for r, i in live.reps.items()
        }


def test_writers_racing_to_assign_lose_no_load_update(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from leadflow.adapters.store import open_store

    apps = [open_store(db_url, actor=f"user:w{n}") for n in range(4)]
    for rep in ("rep:a", "rep:b", "rep:c"):
        apps[0].add_rep(rep)

    def writer(n: int) -> list[str | None]:
        owners = []
        for i in range(10):
            lead_id = apps[n].capture(email=f"w{n}-{i}@example.com").lead_id
            owners.append(apps[n].get_lead(lead_id).owner)
        return owners

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            owners = [o for batch in pool.map(writer, range(4)) for o in batch]

        roster = apps[0].roster()
        loads = {rep: roster.load(rep) for rep in ("rep:a", "rep:b", "rep:c")}
        assert loads == dict(Counter(owners))
        assert sum(loads.values()) == 40
        assert max(loads.values()) - min(loads.values()) <= 1
    finally:
        for app in apps:
            app.close()


def test_a_capture_refused_after_its_assignment_leaves_the_roster_untouched(
    app: Leadflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadflow.domain.dedupe import ContactKey

    app.add_rep("rep:a")
    version = app.roster().version
    reserve = ContactKey.reserve

    def refuse_import_keys(key, kind, lead_id, reason, ctx):  # type: ignore[no-untyped-def]
        if kind == "import":
            raise InvalidInput("external_id", "refused for the test")
        return reserve(key, kind, lead_id, reason, ctx)

    # An import row's key is reserved after the new lead's assignment was decided.
    monkeypatch.setattr(ContactKey, "reserve", refuse_import_keys)
    with pytest.raises(InvalidInput):
        app.capture_batch([(app.validate_capture({"email": "ada@example.com"}), "external:1")])
    monkeypatch.undo()

    assert app.roster().version == version
    assert app.roster().load("rep:a") == 0
    app.capture(email="bob@example.com")
    assert app.roster().load("rep:a") == 1
