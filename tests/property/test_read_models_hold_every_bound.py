"""Every value the boundary accepts, at the edge of every bound, is held by every read model.

Hypothesis walks leads through their whole life (capture, activity, profile change, stage,
assignment, hand-off, score, conversion, a won or lost deal, a merge and unmerge, an
erasure) plus the roster (reps, teams, absences) under a pipeline whose own settings sit
at their limits. Every value sits at an edge of a bound of :mod:`leadflow.domain.bounds`
(the longest string, the shortest, each end of a numeric range, the first and last instant
of a time window, the most attributes, free text full of control characters, markup and
characters outside the BMP), and now and then one value is pushed just past its edge.

For each command: a value past an edge is refused naming its field, writing nothing; the
same command with every value at an edge is accepted. After each example, every read model
the registry knows (:func:`leadflow.projections.all_projections`, so one added later is
checked too) catches up to the head of the log with no failure, on SQLite and PostgreSQL,
and ``show``, ``history``, ``funnel``, ``report`` and ``sweep`` still answer.

``LEADFLOW_BOUNDS_EXAMPLES`` sets the examples per database (default 12).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
import structlog
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from leadflow.adapters.cli_projections import projection_runner
from leadflow.adapters.store import open_store
from leadflow.domain import bounds
from leadflow.domain.pipeline import parse_pipeline
from leadflow.errors import InvalidInput
from leadflow.projections import all_projections
from leadflow.service.application import Leadflow

from support.cli import invoke, leadflow
from support.pipelines import default_document

EXAMPLES = int(os.environ.get("LEADFLOW_BOUNDS_EXAMPLES", "12"))
MICRO = timedelta(microseconds=1)

# -- characters ---------------------------------------------------------------------------

ONE_LINE = st.sampled_from(
    ["a", "Z", "9", " ", "李", "雷", "é", "e\u0301", "💥", "\U0001d54f", "[/]", "[bold]", "'", '"',
     "\\", "%s", "\u202e", "\u200b", "\ufeff", ";--", "<b>", "&amp;"]
)  # fmt: skip
"""Printable one-line characters, many of them trouble somewhere else (markup, SQL,
format strings, characters outside the BMP, direction and zero-width marks)."""
CONTROL = st.sampled_from(["\n", "\r\n", "\t", "\x1b[2J", "\x07", "\x7f", "\x85", "\u2028"])
"""What free text may hold besides: line breaks, tabs, terminal escapes."""


@st.composite
def text_of(draw: st.DrawFn, length: int, free: bool = False) -> str:
    """A string of exactly ``length`` characters (free text: with control characters)."""
    pieces = draw(st.lists(st.one_of(ONE_LINE, CONTROL) if free else ONE_LINE, min_size=1))
    text = "".join(pieces)
    while len(text) < length:
        text += text
    text = text[:length]
    if text.strip() != text or not text.strip():  # commands strip; keep the length exact
        text = "x" + text[1 : length - 1] + "x" if length > 1 else "x"
    return text


class Values:
    """Draws each argument of a command at an edge of its bound; now and then one of them
    (at most one per command) also gets a value just past its edge."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.bad: tuple[str, str, Any] | None = None
        """(argument, the field the refusal names, its value past the edge)"""
        self.refusals = 0

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def edge(
        self,
        arg: str,
        inside: list[Any],
        outside: list[Any] | dict[str, list[Any]],
        field: str = "",
    ) -> Any:
        """The argument's value at an edge (returned); maybe one past it (kept for later).
        ``outside`` by the field a refusal names, when that is not ``field`` or ``arg``."""
        past = outside if isinstance(outside, dict) else {field or arg: outside}
        if self.bad is None and self.draw(st.integers(0, 5)) == 0:
            named = self.draw(st.sampled_from(sorted(past)))
            self.bad = (arg, named, self.draw(st.sampled_from(past[named])))
        return self.draw(st.sampled_from(inside))

    def line(self, arg: str, limit: int, *, prefix: str = "", field: str = "") -> str:
        longest = prefix + self.draw(text_of(limit - len(prefix)))
        shortest = prefix + self.draw(text_of(1))
        outside = [longest + "x", *(longest[:-2] + bad + "x" for bad in ("\x00", "\n", "\x1b"))]
        return str(self.edge(arg, [longest, shortest], outside, field))

    def text(self, arg: str, field: str = "") -> str:
        longest = self.draw(text_of(bounds.TEXT_MAX, free=True))
        outside = [longest + "x", "x\ud800y", "a\x00b", "  ", ""]
        return str(self.edge(arg, [longest, self.draw(text_of(1))], outside, field))

    def number(self, arg: str, low: float, high: float, *, above_low: bool = False) -> float:
        least = math.nextafter(low, math.inf) if above_low else low
        inside = [high, least, (low + high) / 2, round(high / 3, 2)]
        outside = [math.nextafter(high, math.inf), math.nan, math.inf, -math.inf]
        outside.append(low if above_low else math.nextafter(low, -math.inf))
        return float(self.edge(arg, inside, outside))

    def run(self, lf: Leadflow, call: Callable[..., Any], **args: Any) -> Any:
        """``call(**args)``; first, if an argument was pushed past its edge, with that one
        value instead: refused naming its field, writing nothing."""
        bad, self.bad = self.bad, None
        if bad is not None:
            arg, field, value = bad
            before = lf.max_position()
            with pytest.raises(InvalidInput) as refused:
                call(**{**args, arg: value})
            assert refused.value.field.split(".")[0] == field, (arg, value, refused.value)
            assert lf.max_position() == before, f"{arg}={value!r} was refused, yet written"
            self.refusals += 1
        return call(**args)


# -- the store ----------------------------------------------------------------------------


def edge_pipeline_document() -> dict[str, Any]:
    """The shipped pipeline with its own settings at their limits."""
    document = default_document()
    longest = f"{bounds.DURATION_MAX.days}d"
    document["stages"]["lead"]["sla"] = longest
    document["stages"]["mql"]["sla"] = "1s"
    document["handoff_sla"] = longest
    document["assignment"]["strategy"] = "weighted"
    document["assignment"]["max_open_leads"] = bounds.CAPACITY_MAX
    document["pool"]["daily_claim_limit"] = bounds.CLAIM_LIMIT_MAX
    document["pool"]["reclaim_after"] = longest
    document["recycling"]["no_follow_up"]["after"] = longest
    document["scoring"]["min_score"] = -bounds.SCORE_MAX
    document["scoring"]["max_score"] = bounds.SCORE_MAX
    document["scoring"]["behaviour"][0]["points"] = bounds.POINTS_MAX
    document["scoring"]["negative"][0]["points"] = -bounds.POINTS_MAX
    document["scoring"]["mql"]["threshold"] = bounds.SCORE_MAX
    document["sla"]["stage"] = {"id": "stage-sla"}
    document["statuses"][LONG_STATUS] = {"label": "L" * bounds.LABEL_MAX}
    return document


LONG_STATUS = "s" * bounds.PIPELINE_NAME_MAX


REP_A = "rep:" + "a" * 63  # the longest rep id
REP_B = "rep:b"
MANAGER = "manager:" + "m" * (bounds.ID_MAX - len("manager:"))  # the longest actor
COUNTS: dict[str, int] = {"examples": 0, "refused": 0}


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> None:
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def store(module_db_url: str) -> Iterator[tuple[str, Leadflow]]:
    url = module_db_url
    COUNTS.update(examples=0, refused=0)
    invoke("init", "--db", url)
    lf = open_store(url, actor=MANAGER)
    lf.activate_pipeline(parse_pipeline(edge_pipeline_document(), "edge pipeline"))
    lf.add_rep(REP_A, capacity=bounds.CAPACITY_MAX, weight=bounds.WEIGHT_MAX)
    lf.add_rep(REP_B, capacity=bounds.CAPACITY_MAX, weight=math.nextafter(0, 1))  # the least
    yield url, lf
    lf.close()


# -- the walks ----------------------------------------------------------------------------


def walk_the_roster(lf: Leadflow, v: Values) -> None:
    name = uuid4().hex
    longest = f"rep:{name}" + "-" * (63 - len(name))  # the longest rep id
    rep = v.edge("rep", [longest, f"rep:{name[0]}{name[-1]}"], [longest + "x", "rep:", "rep:A"])
    v.run(
        lf,
        lf.add_rep,
        rep=rep,
        capacity=v.edge("capacity", [0, bounds.CAPACITY_MAX], [-1, bounds.CAPACITY_MAX + 1]),
        weight=v.number("weight", 0.0, bounds.WEIGHT_MAX, above_low=True),
    )
    team = v.line("team", bounds.LABEL_MAX)
    managers = [MANAGER[: -len(str(i))] + str(i) for i in range(100)]
    v.run(
        lf,
        lf.define_team,
        team=team,
        managers=v.edge("managers", [managers, managers[:1]], [[*managers, "manager:x"]]),
    )
    v.run(
        lf,
        lf.record_absence,
        rep=REP_B,
        start=v.edge("start", [bounds.EARLIEST], [bounds.EARLIEST - MICRO]),
        end=v.edge("end", [bounds.LATEST], [bounds.LATEST + MICRO]),
        reason=v.text("reason"),
    )


def walk_a_lead(lf: Leadflow, v: Values) -> UUID:
    """A lead's whole life, every value at an edge; returns its id."""
    now = lf.clock()
    at = v.edge(
        "at",
        [bounds.EARLIEST, now, now + bounds.CLOCK_SKEW - timedelta(seconds=1)],
        [bounds.EARLIEST - MICRO, now + bounds.CLOCK_SKEW + timedelta(minutes=1)],
        field="occurred_at",
    )
    local = uuid4().hex * 2  # 64 characters: the longest local part an address may have
    stem = "k" + uuid4().hex[:8] + "_" * (bounds.ATTRIBUTE_KEY_MAX - 12)
    value = v.draw(text_of(bounds.ATTRIBUTE_VALUE_MAX))
    most = {f"{stem}{i:03d}": value for i in range(bounds.ATTRIBUTES_MAX)}
    attributes = v.edge(
        "attributes",
        [most, {stem + "000": value}],
        [
            {**most, "one_more": "x"},
            {stem + "000": value + "x"},
            {stem + "0000": "x"},
            {"_starts_badly": "x"},
        ],
    )
    capture_name = v.line("name", bounds.NAME_MAX)
    lead: UUID = v.run(
        lf,
        lf.capture,
        email=f"{local}@{'d' * 63}.example.com",
        name=capture_name,
        company=v.line("company", bounds.NAME_MAX),
        source=v.line("source", bounds.LABEL_MAX),
        campaign=v.line("campaign", bounds.LABEL_MAX),
        attributes=attributes,
        actor=v.line("actor", bounds.ID_MAX, prefix="user:"),
        at=at,
    ).lead_id
    # Every later event of the lead at the same instant: never before its latest event.
    v.run(
        lf,
        lf.record_activity,
        lead_id=lead,
        activity="page_visit",  # worth POINTS_MAX points in the edge pipeline
        detail=v.text("detail"),
        ref=v.line("ref", bounds.REF_MAX),
        at=at,
    )
    v.run(
        lf,
        lf.update_profile,
        lead_id=lead,
        changes=v.edge(
            "changes",
            [{"name": capture_name, f"attributes.{stem}999": value}],
            {
                "name": [{"name": "n" * (bounds.NAME_MAX + 1)}],
                "attributes": [{f"attributes.{stem}999": value + "x"}],
            },
        ),
        at=at,
    )
    v.run(lf, lf.change_stage, lead_id=lead, stage="mql", reason=v.text("reason"), at=at)
    owner, other = (REP_B, REP_A) if lf.get_lead(lead).owner == REP_A else (REP_A, REP_B)
    v.run(lf, lf.assign, lead_id=lead, owner=owner, reason=v.text("reason"), at=at)
    v.run(lf, lf.hand_off, lead_id=lead, to_owner=other, note=v.text("note"), at=at)
    lf.accept_handoff(lead, at=at, actor=other)
    v.run(
        lf,
        lf.set_score,
        lead_id=lead,
        score=v.number("score", -bounds.SCORE_MAX, bounds.SCORE_MAX),
        reason=v.text("reason"),
        at=at,
    )
    v.run(lf, lf.change_stage, lead_id=lead, stage="sql", reason=v.text("reason"), at=at)
    v.run(lf, lf.change_status, lead_id=lead, status=LONG_STATUS, reason=v.text("reason"), at=at)
    v.run(
        lf,
        lf.convert,
        lead_id=lead,
        target="opportunity",
        account_ref=v.line("account_ref", bounds.ID_MAX),
        opportunity_ref=v.line("opportunity_ref", bounds.ID_MAX),
        amount=v.number("amount", 0.0, bounds.AMOUNT_MAX),
        at=at,
    )
    if v.draw(st.booleans()):
        v.run(
            lf,
            lf.win,
            lead_id=lead,
            amount=v.number("amount", 0.0, bounds.AMOUNT_MAX),
            currency=v.edge(
                "currency",
                [*sorted(bounds.CURRENCIES), "cny"],
                ["ZZZ", "", "C\x00Y", "CNYY"],
            ),
            at=at,
        )
    else:
        v.run(lf, lf.lose, lead_id=lead, reason=v.text("reason"), at=at)
    if v.draw(st.booleans()):
        twin = lf.capture(email=f"twin-{local[:40]}@example.com", at=at).lead_id
        lf.merge(twin, lead, at=at)
        v.run(lf, lf.unmerge, duplicate_id=twin, reason=v.text("reason"), at=at)
    if v.draw(st.booleans()):
        v.run(lf, lf.erase_personal_data, lead_id=lead, reason=v.text("reason"), at=at)
    return lead


# -- the property -------------------------------------------------------------------------


def every_read_model_caught_up(url: str, lf: Leadflow) -> None:
    runner = projection_runner(url, lf)
    runner.catch_up(lambda after: lf.read_events(after=after), head=lf.max_position)
    registered = {p.name for p in all_projections()}
    positions = runner.positions()
    assert set(positions) == registered
    assert positions == dict.fromkeys(registered, lf.max_position())
    assert runner.failures() == []


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # explain: too slow
)
@given(data=st.data())
def test_every_read_model_holds_every_value_at_every_bound(
    store: tuple[str, Leadflow], data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url, lf = store
    values = Values(data)
    walk_the_roster(lf, values)
    lead = walk_a_lead(lf, values)

    every_read_model_caught_up(url, lf)
    out = tmp_path_factory.getbasetemp() / "bounds-report.html"
    for args in (
        ("show", str(lead)),
        ("history", str(lead)),
        ("funnel",),
        ("funnel", "--by", "source"),
        ("report", "--out", str(out)),
    ):
        leadflow(url, *args)
    json.loads(leadflow(url, "show", str(lead), "--json"))
    COUNTS["examples"] += 1
    COUNTS["refused"] += values.refusals


def test_afterwards_the_sweep_and_a_rebuild_work_too(store: tuple[str, Leadflow]) -> None:
    url, lf = store
    leadflow(url, "sweep")
    leadflow(url, "rebuild")
    every_read_model_caught_up(url, lf)
    print(f"\nbounds property ({url.split(':')[0]}): {COUNTS}")
