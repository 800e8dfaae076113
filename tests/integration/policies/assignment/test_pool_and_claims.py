"""The public pool: claims within a daily limit, no quick reclaim, managers assign."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import Roster
from leadflow.errors import InvalidInput, NotPermitted
from leadflow.service.application import Leadflow

UsePipeline = Callable[..., Pipeline]


def pool_leads(app: Leadflow, count: int) -> list[UUID]:
    """Leads in the pool, and reps rep:a and rep:b on the roster (added after the captures,
    so that nobody was assigned at capture)."""
    leads = [app.capture(email=f"pool{i}@example.com").lead_id for i in range(count)]
    for rep in ("rep:a", "rep:b"):
        if rep not in app.roster().reps:
            app.add_rep(rep)
    return leads


def test_a_rep_claims_up_to_the_daily_limit(app: Leadflow, use_pipeline: UsePipeline) -> None:
    use_pipeline(pool={"daily_claim_limit": 2})
    leads = pool_leads(app, 3)
    app.claim(leads[0], "rep:a")
    app.claim(leads[1], "rep:a")

    with pytest.raises(InvalidInput) as refused:
        app.claim(leads[2], "rep:a")

    assert refused.value.field == "owner"
    assert "pool.daily_claim_limit is 2" in refused.value.reason
    assert app.get_lead(leads[2]).owner is None


def test_the_claim_records_the_count_and_the_limit(
    app: Leadflow, use_pipeline: UsePipeline
) -> None:
    use_pipeline(pool={"daily_claim_limit": 5})
    lead = pool_leads(app, 1)[0]

    app.claim(lead, "rep:a")

    data = next(app.read_events(types=["LeadClaimed"])).data
    assert (data["claims_today"], data["daily_claim_limit"]) == (1, 5)


def test_the_limit_is_per_rep(app: Leadflow, use_pipeline: UsePipeline) -> None:
    use_pipeline(pool={"daily_claim_limit": 1})
    leads = pool_leads(app, 2)
    app.claim(leads[0], "rep:a")

    app.claim(leads[1], "rep:b")

    assert app.get_lead(leads[1]).owner == "rep:b"


def test_the_limit_resets_at_midnight_in_the_pool_time_zone(
    app: Leadflow,
    use_pipeline: UsePipeline,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    use_pipeline(pool={"daily_claim_limit": 1, "day_timezone": "Asia/Shanghai"})
    leads = pool_leads(app, 3)
    clock.advance(hours=6)  # 15:00 UTC = 23:00 in Shanghai
    app.claim(leads[0], "rep:a")
    clock.advance(hours=1, minutes=30)  # 00:30 next day in Shanghai, still the same UTC day

    app.claim(leads[1], "rep:a")

    with pytest.raises(InvalidInput):
        app.claim(leads[2], "rep:a")


def test_no_daily_limit_when_unset(app: Leadflow, use_pipeline: UsePipeline) -> None:
    use_pipeline(pool={"daily_claim_limit": None})
    for lead in pool_leads(app, 25):
        app.claim(lead, "rep:a")

    assert app.roster().load("rep:a") == 25


def test_two_claims_racing_past_the_limit_conflict_and_the_retry_is_refused(
    db_url: str, make_pipeline: UsePipeline
) -> None:
    from leadflow.adapters.store import open_store

    one = open_store(db_url, actor="user:a")
    two = open_store(db_url, actor="user:b")
    try:
        one.activate_pipeline(make_pipeline(pool={"daily_claim_limit": 1}))
        first, second = pool_leads(one, 2)
        stale = two.roster()  # read before the other claim: no claims yet today
        one.claim(first, "rep:a")
        reads: list[int] = []
        fresh_read = two.roster

        def roster_as_first_read() -> Roster:
            reads.append(1)
            return stale if len(reads) == 1 else fresh_read()

        two.roster = roster_as_first_read  # type: ignore[method-assign]

        with pytest.raises(InvalidInput) as refused:
            two.claim(second, "rep:a")

        assert len(reads) == 2  # decided on the stale read, conflicted, re-read on the retry
        assert "pool.daily_claim_limit is 1" in refused.value.reason
        assert one.get_lead(second).owner is None
    finally:
        one.close()
        two.close()


def test_a_previous_owner_cannot_reclaim_within_the_wait(
    app: Leadflow,
    use_pipeline: UsePipeline,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    use_pipeline(pool={"reclaim_after": "3d"})
    lead = pool_leads(app, 1)[0]
    app.claim(lead, "rep:a")
    app.release(lead, "no answer")
    clock.advance(days=2)

    with pytest.raises(InvalidInput) as refused:
        app.claim(lead, "rep:a")
    assert "pool.reclaim_after" in refused.value.reason

    app.claim(lead, "rep:b")  # another rep may
    assert app.get_lead(lead).owner == "rep:b"


def test_a_previous_owner_may_reclaim_after_the_wait(
    app: Leadflow,
    use_pipeline: UsePipeline,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    use_pipeline(pool={"reclaim_after": "3d"})
    lead = pool_leads(app, 1)[0]
    app.claim(lead, "rep:a")
    app.release(lead, "no answer")
    clock.advance(days=3)

    app.claim(lead, "rep:a")

    assert app.get_lead(lead).owner == "rep:a"


def test_only_a_manager_assigns_when_required(app: Leadflow, use_pipeline: UsePipeline) -> None:
    use_pipeline(assignment={"require_manager": True, "on_capture": False})
    app.define_team("east", ["user:boss"])
    app.add_rep("rep:a", team="east")
    lead = pool_leads(app, 1)[0]

    with pytest.raises(NotPermitted) as refused:
        app.assign(lead, "rep:a", actor="user:someone")
    assert (refused.value.actor, refused.value.allowed) == ("user:someone", ["user:boss"])

    app.assign(lead, "rep:a", actor="user:boss")
    data = next(app.read_events(types=["LeadAssigned"])).data
    assert (data["strategy"], data["team"], data["rule"]) == ("manual", "east", None)
    assert data["candidates"][0]["open_leads"] == 0


def test_anyone_assigns_when_managers_are_not_required(app: Leadflow) -> None:
    app.define_team("east", ["user:boss"])
    app.add_rep("rep:a", team="east")
    lead = pool_leads(app, 1)[0]
    app.release(lead, "to the pool")

    app.assign(lead, "rep:a", actor="user:someone")

    assert app.get_lead(lead).owner == "rep:a"
