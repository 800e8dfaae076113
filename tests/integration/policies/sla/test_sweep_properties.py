"""Properties through the store: a second sweep records nothing, even in a new process
that folds the whole log anew (in memory: ``tests/unit/policies/sla/test_sweep_properties.py``)."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from leadflow.adapters.store import open_store
from leadflow.domain.timers import next_deadline
from leadflow.errors import LeadflowError

from support.clock import FakeClock
from support.driver import T0
from support.lead_steps import step


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    histories=st.lists(st.lists(step, max_size=12), min_size=1, max_size=4),
    sweeps=st.lists(st.integers(0, 24 * 200), min_size=1, max_size=3),
)
def test_through_the_store_a_second_sweep_records_nothing_even_in_a_new_process(
    histories: list[list[tuple[int, tuple[Any, ...]]]], sweeps: list[int]
) -> None:
    clock = FakeClock(T0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'lf.db'}"
        app = open_store(url, clock=clock)
        try:
            lead_ids = []
            for history in histories:
                lead_id = app.capture(email="a@x.com").lead_id
                lead_ids.append(lead_id)
                for hours, op in history:
                    clock.advance(hours=hours)
                    with contextlib.suppress(LeadflowError):
                        _run_app(app, lead_id, op)
            for hours in sweeps:
                clock.advance(hours=hours)
                recorded = len(app.sweep().events)
                event(f"store sweep recorded {recorded if recorded < 3 else '3+'} events")
                assert app.sweep().events == ()
            fresh = open_store(url, clock=clock)  # reads the deadline index the first kept
            try:
                assert fresh.sweep().events == ()
                _assert_index_exact(fresh, lead_ids)
            finally:
                fresh.close()
        finally:
            app.close()


def _assert_index_exact(app: Any, lead_ids: list[Any]) -> None:
    """After a refresh, the index holds exactly each lead's ``next_deadline`` (brute force)."""
    app.deadlines.refresh(app.pipeline)
    rows = dict.fromkeys(lead_ids)
    for lead_id in app.deadlines.due(datetime.max.replace(tzinfo=UTC)):
        rows[lead_id] = True
    for lead_id in lead_ids:
        deadline = next_deadline(app.get_lead(lead_id), app.pipeline)
        assert (rows[lead_id] is True) == (deadline is not None), lead_id
        if deadline is not None:
            assert lead_id in app.deadlines.due(deadline)
            assert lead_id not in app.deadlines.due(deadline - timedelta(microseconds=1))


def _run_app(app: Any, lead_id: Any, op: tuple[Any, ...]) -> None:
    name, *args = op
    match name:
        case "activity":
            app.record_activity(lead_id, args[0].value)
        case "release":
            app.release(lead_id, "back to pool")
        case "reject_handoff":
            app.reject_handoff(lead_id, "not now")
        case "convert":
            app.convert(lead_id, args[0], "acct-1")
        case "qualify":
            budget, authority, need, timeline = args[0]
            app.qualify(lead_id, budget=budget, authority=authority, need=need, timeline=timeline)
        case "industry":
            app.update_profile(lead_id, {"attributes.industry": args[0]})
        case "set_score":
            app.set_score(lead_id, float(args[0]), "by hand")
        case "sweep":
            app.sweep()
        case _:
            getattr(app, name)(lead_id, *args)
