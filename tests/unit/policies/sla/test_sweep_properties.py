"""Properties: over any history and any instant, a second sweep records nothing, and
replaying a lead's events gives exactly the live lead (score and rule state included).

Here on a lead driven in memory; ``tests/integration/policies/sla/test_sweep_properties.py``
checks the same through the store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from leadflow.domain.pipeline import Pipeline, parse_pipeline
from leadflow.domain.timers import next_deadline, next_due
from leadflow.errors import LeadflowError

from support.driver import Driver
from support.lead_steps import step
from support.pipelines import default_document, pipeline_with


def _variant() -> Pipeline:
    """Points decay, reassignment on breach, stage SLAs, the recycle making its own moves."""
    document = default_document()
    document["scoring"]["decay"] = {"every": "7d", "points": 6, "stages": ["lead", "mql", "sal"]}
    document["scoring"]["max_score"] = 80
    document["sla"]["handoff"]["reassign_to"] = "rep:backup"
    document["sla"]["stage"] = {"id": "stage-sla"}
    document["recycling"]["no_follow_up"] = {"after": "2d"}
    document["recycling"]["on_rejection"] = {"to_stage": "lead", "to_status": "nurturing"}
    document["automation"] = [
        r for r in document["automation"] if r["id"] != "handoff-rejected-to-nurture"
    ]
    return parse_pipeline(document)


PIPELINES = [pipeline_with(), _variant()]


def _run(d: Driver, op: tuple[Any, ...]) -> None:
    name, *args = op
    match name:
        case "activity":
            d.activity(args[0].value)
        case "release":
            d.do("release", "back to pool")
        case "reject_handoff":
            d.do("reject_handoff", "not now")
        case "convert":
            d.do("convert", args[0], "acct-1")
        case "qualify":
            budget, authority, need, timeline = args[0]
            d.do("qualify", budget=budget, authority=authority, need=need, timeline=timeline)
        case "industry":
            d.do("update_profile", {"attributes.industry": args[0]})
        case "set_score":
            d.do("set_score", float(args[0]), "by hand")
        case "sweep":
            d.sweep()
        case _:
            d.do(name, *args)


def _drive(pipeline: Pipeline, steps: list[tuple[int, tuple[Any, ...]]]) -> Driver:
    d = Driver(pipeline, email="a@x.com", company="Acme")
    for hours, op in steps:
        d.at(hours=hours)
        try:
            _run(d, op)
        except LeadflowError:
            d.lead = d.replayed()  # a refused command leaves nothing behind
    return d


@settings(max_examples=100, deadline=None)
@given(
    pipeline=st.sampled_from(PIPELINES),
    steps=st.lists(step, max_size=25),
    later=st.integers(0, 24 * 400),
)
def test_a_second_sweep_at_the_same_instant_records_nothing(
    pipeline: Pipeline, steps: list[tuple[int, tuple[Any, ...]]], later: int
) -> None:
    d = _drive(pipeline, steps)
    d.at(hours=later)
    first = d.sweep()
    event(f"first sweep recorded {len(first) if len(first) < 3 else '3+'} events")
    assert d.sweep() == []


@settings(max_examples=100, deadline=None)
@given(pipeline=st.sampled_from(PIPELINES), steps=st.lists(step, max_size=25))
def test_replaying_the_events_gives_the_live_lead_and_score(
    pipeline: Pipeline, steps: list[tuple[int, tuple[Any, ...]]]
) -> None:
    d = _drive(pipeline, steps)
    replayed = d.replayed()
    assert replayed == d.lead
    assert replayed.score == d.lead.score


def _decisions(events: list[Any]) -> list[tuple[str, str, Any, dict[str, Any]]]:
    return [(e.TYPE, e.actor, e.occurred_at, e.data.model_dump()) for e in events]


@settings(max_examples=75, deadline=None)
@given(
    pipeline=st.sampled_from(PIPELINES),
    steps=st.lists(step, max_size=20),
    pauses=st.lists(st.integers(0, 24 * 60), min_size=1, max_size=5),
)
def test_what_the_sweep_decides_does_not_depend_on_how_often_it_ran(
    pipeline: Pipeline, steps: list[tuple[int, tuple[Any, ...]]], pauses: list[int]
) -> None:
    steps = [s for s in steps if s[1][0] != "sweep"]
    once, often = _drive(pipeline, steps), _drive(pipeline, steps)
    start = len(once.events)
    for hours in pauses:
        often.at(hours=hours).sweep()
    once.at(hours=sum(pauses)).sweep()
    assert _decisions(often.events[start:]) == _decisions(once.events[start:])


@settings(max_examples=150, deadline=None)
@given(
    pipeline=st.sampled_from(PIPELINES),
    steps=st.lists(step, max_size=25),
    offsets=st.lists(st.integers(-24 * 30, 24 * 400), min_size=1, max_size=6),
)
def test_a_rule_is_due_exactly_when_the_next_deadline_has_passed(
    pipeline: Pipeline, steps: list[tuple[int, tuple[Any, ...]]], offsets: list[int]
) -> None:
    """What the deadline index stores (``next_deadline``) answers what the sweep asks
    (``next_due``) at every instant: a sweep need only look at leads whose deadline passed."""
    d = _drive(pipeline, steps)
    deadline = next_deadline(d.lead, pipeline)
    event("has a deadline" if deadline is not None else "no deadline")
    instants = [d.now + timedelta(hours=h) for h in offsets]
    if deadline is not None:
        instants += [deadline, deadline - timedelta(microseconds=1)]
    for now in instants:
        due = next_due(d.lead, pipeline, now)
        assert (due is not None) == (deadline is not None and deadline <= now), now
        if due is not None:
            assert due.due_at == deadline
