"""A poisoned event never blocks silently.

An event recorded before a bound was enforced (here: a NaN score, which the log stores as
``null``, recorded by going around the boundary as an older release did) once stopped
every read model for good while ``leadflow projections`` said nothing. Now the read model
that cannot apply it stops just before it, the others go on, and the failure is named
by ``projections``, ``doctor``, ``project`` (non-zero exit) and every reading command.
"""

from __future__ import annotations

import json
from uuid import UUID

import pytest
import sqlalchemy as sa
import structlog

from leadflow.adapters.store import open_store, schema_of, sqlalchemy_url
from leadflow.domain.commands import SetScore
from leadflow.projections import ProjectionRunner
from leadflow.projections.failures import ProjectionFailed

from support.cli import invoke, leadflow


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> None:
    structlog.reset_defaults()


def poisoned_store(db_url: str) -> tuple[UUID, int]:
    """A store with one NaN score in its log (and good events after it)."""
    leadflow(db_url, "init")
    lf = open_store(db_url)
    try:
        first = lf.capture(email="ann@example.com").lead_id
        lf.run(SetScore.model_construct(lead_id=first, score=float("nan"), reason="old release"))
        bad = lf.max_position()
        second = lf.capture(email="bob@example.com").lead_id
        lf.change_stage(second, "mql")
        return first, bad
    finally:
        lf.close()


def test_the_read_model_stops_before_the_bad_event_and_the_others_go_on(db_url: str) -> None:
    _, bad = poisoned_store(db_url)
    lf = open_store(db_url)
    engine = sa.create_engine(sqlalchemy_url(db_url))
    try:
        runner = ProjectionRunner(engine, schema=schema_of(db_url))
        with pytest.raises(ProjectionFailed) as failed:
            runner.catch_up(lambda after: lf.read_events(after=after), head=lf.max_position)
        [failure] = failed.value.failed
        assert (failure.name, failure.position, failure.event_type) == ("leads", bad, "LeadScored")
        positions = runner.positions()
        assert positions["leads"] < bad
        assert positions["stage_history"] == positions["handoffs"] == lf.max_position()
        # Not skipped: the next catch-up tries the event again, and fails again.
        with pytest.raises(ProjectionFailed):
            runner.catch_up(lambda after: lf.read_events(after=after), head=lf.max_position)
        assert runner.positions()["leads"] == positions["leads"]
    finally:
        engine.dispose()
        lf.close()


def test_every_command_names_the_bad_event(db_url: str) -> None:
    lead, bad = poisoned_store(db_url)

    result = invoke("funnel", "--db", db_url)
    assert result.exit_code == 0
    assert f"read model leads is behind the log: it stopped before position {bad}" in result.stderr

    status = invoke("projections", "--json", "--db", db_url, expect=1)
    rows = {row["name"]: row for row in json.loads(status.stdout.splitlines()[0])["projections"]}
    assert rows["leads"]["failure"]["position"] == bad
    assert rows["leads"]["failure"]["event_type"] == "LeadScored"
    assert rows["stage_history"]["failure"] is None

    invoke("project", "--db", db_url, expect=1)

    doctor = json.loads(invoke("doctor", "--json", "--db", db_url, expect=1).stdout)
    assert [f["position"] for f in doctor["failures"]] == [bad]
    assert {(s["position"], s["field"]) for s in doctor["suspect_events"]} == {
        (bad, "data.score"),
        (bad, "data.delta"),
    }
    assert {s["lead_id"] for s in doctor["suspect_events"]} == {str(lead)}


def test_a_store_without_bad_events_is_healthy(db_url: str) -> None:
    leadflow(db_url, "init")
    leadflow(db_url, "capture", "--email", "ann@example.com")
    doctor = json.loads(leadflow(db_url, "doctor", "--json"))
    assert (doctor["failures"], doctor["suspect_events"]) == ([], [])


# -- a lead already holding an unreadable event -------------------------------------------


def _overwrite_state(db_url: str, lead: UUID, version: int, state: bytes) -> None:
    """Write an event's stored bytes directly, as a broken older release or a bad restore
    would have (going around every check of this one)."""
    schema = schema_of(db_url)
    table = sa.table(
        "stored_events" if schema is None else "leadflow_events",
        sa.column("originator_id"),
        sa.column("originator_version"),
        sa.column("state"),
        schema=schema,
    )
    key = lead.hex if schema is None else lead  # SQLite stores the id as hex text
    engine = sa.create_engine(sqlalchemy_url(db_url))
    try:
        with engine.begin() as conn:
            done = conn.execute(
                table.update()
                .where(table.c.originator_id == key, table.c.originator_version == version)
                .values(state=state)
            )
            assert done.rowcount == 1
    finally:
        engine.dispose()


def store_with_an_unreadable_event(db_url: str, kind: str) -> tuple[UUID, int]:
    """A lead whose log holds one event this release cannot read; returns the lead and
    the bad event's version (its place in the lead's history)."""
    leadflow(db_url, "init")
    lf = open_store(db_url)
    try:
        lead = lf.capture(email="ann@example.com", name="Ann").lead_id
        if kind == "nan":  # a NaN score, stored as null, by going around the boundary
            lf.run(SetScore.model_construct(lead_id=lead, score=float("nan"), reason="old"))
            bad = lf.get_lead(lead).version
        else:
            lf.record_activity(lead, "call", detail="will be overwritten")
            bad = lf.get_lead(lead).version
            lf.record_activity(lead, "page_visit")  # events after it
    finally:
        lf.close()
    if kind == "undecodable":  # a payload that no longer decodes at all
        _overwrite_state(db_url, lead, bad, b'{"v": 1, "occurred_at": \xff')
    return lead, bad


@pytest.mark.parametrize("kind", ["nan", "undecodable"])
def test_a_lead_holding_an_unreadable_event_is_shown_naming_it(db_url: str, kind: str) -> None:
    lead, bad = store_with_an_unreadable_event(db_url, kind)

    shown = invoke("show", str(lead), "--db", db_url)
    as_json = invoke("show", str(lead), "--json", "--db", db_url)

    assert "Traceback" not in shown.stderr
    assert f"warning: event {bad} (" in shown.stderr
    assert "cannot be read" in shown.stderr
    assert "leadflow doctor" in shown.stderr
    assert "Ann" in shown.stdout
    view = json.loads(as_json.stdout)
    assert view["lead_id"] == str(lead)
    assert view["version"] >= bad  # its place is kept: later events follow it


@pytest.mark.parametrize("kind", ["nan", "undecodable"])
def test_such_a_lead_can_be_erased_and_other_commands_say_why_not(db_url: str, kind: str) -> None:
    lead, _ = store_with_an_unreadable_event(db_url, kind)

    refused = invoke("score", str(lead), "5", "--reason", "x", "--json", "--db", db_url, expect=2)
    assert json.loads(refused.stdout)["error"]["field"] == "lead_id"
    assert "only be shown and erased" in refused.stderr
    again = invoke("capture", "--email", "ann@example.com", "--db", db_url, expect=2)
    assert "cannot read" in again.stderr

    leadflow(db_url, "erase", str(lead), "--reason", "asked to be forgotten")

    view = json.loads(leadflow(db_url, "show", str(lead), "--json"))
    assert view["erased"] is True
    assert "Ann" not in json.dumps(view)
    leadflow(db_url, "capture", "--email", "ann@example.com")  # a new lead: the key was released


@pytest.mark.parametrize("kind", ["nan", "undecodable"])
def test_doctor_names_the_unreadable_event(db_url: str, kind: str) -> None:
    lead, _ = store_with_an_unreadable_event(db_url, kind)
    lf = open_store(db_url)
    try:
        position = next(
            r.position for r in lf.read_events(lead_id=lead) if r.sequence == 1
        )  # a lower bound: the bad event comes after the capture
    finally:
        lf.close()

    doctor = json.loads(invoke("doctor", "--json", "--db", db_url, expect=1).stdout)

    named = [s for s in doctor["suspect_events"] if s["lead_id"] == str(lead)]
    assert named
    assert all(s["position"] > position for s in named)
    assert {s["type"] for s in named} == {"LeadScored" if kind == "nan" else "ActivityRecorded"}
