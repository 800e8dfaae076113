"""Property: round-robin keeps available reps' open-lead counts within one of each other.

An absent rep is skipped and keeps their credit, so on return they receive the next
leads until level. The property is therefore stated as: every lead goes to a least
loaded available rep; reps who were never absent never differ by more than one; and
once absences end, the counts come back within one of each other.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.adapters.store import open_store

from support.clock import FakeClock

REPS = ["rep:a", "rep:b", "rep:c", "rep:d"]


step = st.one_of(
    st.just(("capture", 0, 0)),
    st.tuples(st.just("absent"), st.integers(0, len(REPS) - 1), st.integers(1, 6)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rep_count=st.integers(2, len(REPS)),
    steps=st.lists(step, min_size=1, max_size=25),
)
def test_open_lead_counts_of_available_reps_differ_by_at_most_one(
    tmp_path: Path, rep_count: int, steps: list[tuple[str, int, int]]
) -> None:
    clock = FakeClock()
    app = open_store(f"sqlite:///{tmp_path / f'{uuid4().hex}.db'}", clock=clock, actor="user:t")
    try:
        reps = REPS[:rep_count]
        for rep in reps:
            app.add_rep(rep)
        ever_absent: set[str] = set()
        absent_until = clock.now
        n = 0
        for kind, which, hours in steps:
            clock.advance(hours=1)
            if kind == "absent":
                rep = reps[which % rep_count]
                ever_absent.add(rep)
                end = clock.now + timedelta(hours=hours)
                absent_until = max(absent_until, end)
                app.record_absence(rep, clock.now, end)
                continue
            app.capture(email=f"lead{n}@example.com")
            n += 1
            roster = app.roster()
            steady = [roster.load(r) for r in reps if r not in ever_absent]
            if steady:
                assert max(steady) - min(steady) <= 1

        for record in app.read_events(types=["LeadAssigned"]):
            eligible = [c for c in record.data["candidates"] if c["skipped"] is None]
            chosen = next(c for c in eligible if c["rep"] == record.data["owner"])
            assert chosen["open_leads"] == min(c["open_leads"] for c in eligible)

        # Once every absence is over, the absent reps catch up and all are level again.
        clock.now = absent_until + timedelta(hours=1)
        roster = app.roster()
        gap = max(roster.load(r) for r in reps) - min(roster.load(r) for r in reps)
        for _ in range(gap * rep_count):
            app.capture(email=f"lead{n}@example.com")
            n += 1
        roster = app.roster()
        loads = [roster.load(r) for r in reps]
        assert max(loads) - min(loads) <= 1
    finally:
        app.close()
