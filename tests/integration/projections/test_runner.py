"""The projection runner on the real store (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import structlog

from leadflow.adapters.store import open_store, schema_of, sqlalchemy_url
from leadflow.projections import (
    HANDOFFS,
    POSITIONS,
    FunnelQuery,
    ProjectionRunner,
    funnel,
    rep_performance,
)
from leadflow.projections.reference import funnel_from_events
from leadflow.service.application import Leadflow
from leadflow.service.codec import EventRecord

from support.clock import FakeClock
from support.histories import build_history, dump, reader, scratch_runner
from support.stores import on_roster

READ_MODELS = (
    "leads",
    "stage_history",
    "handoffs",
    "merges",
    "passes",
    "deals",
    "breaches",
    "dimensions",
)


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> None:
    # The CLI tests configure structlog with a captured stderr that is closed by now.
    structlog.reset_defaults()


@pytest.fixture
def runner(app: Leadflow, db_url: str) -> Iterator[ProjectionRunner]:
    engine = sa.create_engine(sqlalchemy_url(db_url))
    yield ProjectionRunner(engine, schema=schema_of(db_url), batch_size=3)
    engine.dispose()


def _read(app: Leadflow):  # type: ignore[no-untyped-def]
    return lambda after: app.read_events(after=after)


def _story(app: Leadflow, clock: FakeClock) -> list:  # type: ignore[type-arg]
    first = app.capture(email="ada@example.com", source="web").lead_id
    second = app.capture(email="bob@example.com", source="partner").lead_id
    on_roster(app, "rep:mei", "rep:li")
    clock.advance(hours=5)
    app.assign(first, "rep:mei")
    app.change_stage(first, "mql")
    clock.advance(days=1)
    app.hand_off(first, "rep:li", actor="rep:mei")
    clock.advance(hours=3)
    app.accept_handoff(first, actor="rep:li")
    app.record_activity(first, "call", actor="rep:li")
    app.disqualify(second, "no budget")
    return [first, second]


def test_catch_up_applies_the_log_and_records_each_projections_position(
    app: Leadflow, runner: ProjectionRunner, clock: FakeClock
) -> None:
    _story(app, clock)

    applied = runner.catch_up(_read(app))

    head = app.max_position()
    assert applied == len(list(app.read_events()))
    assert runner.positions() == dict.fromkeys(READ_MODELS, head)
    with runner.engine.connect() as conn:
        rows = funnel(conn, app.pipeline, FunnelQuery(as_of=clock.now))
    assert rows == funnel_from_events(app.read_events(), app.pipeline, clock.now)
    assert {r.stage: r.in_stage for r in rows}["sal"] == 1
    assert {r.stage: r.in_stage for r in rows}["disqualified"] == 1


def test_catch_up_after_new_events_applies_only_those_and_matches_a_rebuild(
    app: Leadflow, runner: ProjectionRunner, clock: FakeClock
) -> None:
    leads = _story(app, clock)
    runner.catch_up(_read(app))
    clock.advance(days=2)
    app.change_stage(leads[0], "sql", actor="rep:li")

    assert runner.catch_up(_read(app)) == 1
    assert runner.catch_up(_read(app)) == 0
    incremental = dump(runner)
    runner.rebuild(_read(app))
    assert dump(runner) == incremental


def test_rebuilding_one_read_model_leaves_the_others_alone(
    app: Leadflow, runner: ProjectionRunner, clock: FakeClock
) -> None:
    _story(app, clock)
    runner.catch_up(_read(app))
    before = dump(runner)
    seen: list[int] = []

    runner.rebuild(_read(app), ["handoffs"], progress=seen.append)

    assert dump(runner) == before
    assert seen
    assert seen[-1] == app.max_position()


def test_two_runners_racing_apply_every_event_exactly_once(
    app: Leadflow, db_url: str, clock: FakeClock
) -> None:
    leads = [app.capture(email=f"lead{i}@example.com").lead_id for i in range(12)]
    on_roster(app, "rep:0", "rep:1", "rep:2")
    for i, lead in enumerate(leads):
        app.assign(lead, f"rep:{i % 3}")
        app.change_stage(lead, "mql")
    engine = sa.create_engine(
        sqlalchemy_url(db_url),
        connect_args={"timeout": 30} if db_url.startswith("sqlite") else {},
    )
    racers = [ProjectionRunner(engine, schema=schema_of(db_url), batch_size=2) for _ in range(3)]
    racers[0].ensure_tables()
    errors: list[BaseException] = []

    def run(r: ProjectionRunner) -> None:
        try:
            r.catch_up(_read(app))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    raced = dump(racers[0])
    racers[0].rebuild(_read(app))
    assert dump(racers[0]) == raced
    engine.dispose()


def test_unknown_event_types_are_ignored_by_every_projection() -> None:
    history = build_history(seed=3, leads=3, steps=40)
    lead = history[0].lead_id
    stranger = EventRecord(
        position=len(history) + 1,
        lead_id=lead,
        sequence=999,
        type="LeadTeleported",
        version=1,
        occurred_at=datetime(2030, 1, 1, tzinfo=UTC),
        recorded_at=datetime(2030, 1, 1, tzinfo=UTC),
        actor="system:future",
        data={"rule": "teleport", "where": "moon"},
    )
    plain, with_stranger = scratch_runner(), scratch_runner()
    plain.catch_up(reader(history))

    with_stranger.catch_up(reader([*history, stranger]))

    without_positions = dump(plain, positions=False)
    # The stranger leaves no trace except in the cursor of the last manual event (none: it
    # carries a rule) and the leads' last position.
    tables = dump(with_stranger, positions=False)
    assert tables["lf_stage_intervals"] == without_positions["lf_stage_intervals"]
    assert tables["lf_handoffs"] == without_positions["lf_handoffs"]
    assert tables["lf_stage_reached"] == without_positions["lf_stage_reached"]
    assert with_stranger.positions()["leads"] == stranger.position


def test_rep_performance_counts_assignments_first_touches_sla_and_conversions(
    app: Leadflow, runner: ProjectionRunner, clock: FakeClock
) -> None:
    quick = app.capture(email="quick@example.com").lead_id
    slow = app.capture(email="slow@example.com").lead_id
    on_roster(app, "rep:mei", "rep:li")
    app.assign(quick, "rep:mei")
    app.assign(slow, "rep:mei")
    clock.advance(hours=2)
    app.record_activity(quick, "call", actor="rep:mei")
    app.change_stage(quick, "mql")
    app.hand_off(quick, "rep:li", actor="rep:mei")
    clock.advance(days=3)  # past the 2-day hand-off SLA
    app.accept_handoff(quick, actor="rep:li")
    app.record_activity(quick, "meeting", actor="rep:li")
    runner.catch_up(_read(app))

    with runner.engine.connect() as conn:
        reps = {r.rep: r for r in rep_performance(conn)}

    mei, li = reps["rep:mei"], reps["rep:li"]
    assert (mei.assigned, mei.touched, mei.converted) == (2, 1, 0)
    assert mei.avg_hours_to_first_touch == pytest.approx(2.0)
    assert (li.assigned, li.touched, li.handoffs_decided) == (1, 1, 1)
    assert li.avg_hours_to_first_touch == pytest.approx(0.0)
    assert li.sla_met_pct == 0.0


def test_processes_creating_the_read_models_at_once_all_succeed(db_url: str) -> None:
    open_store(db_url).close()
    engine = sa.create_engine(sqlalchemy_url(db_url))
    errors: list[BaseException] = []

    def create() -> None:
        try:
            ProjectionRunner(engine, schema=schema_of(db_url)).ensure_tables()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert ProjectionRunner(engine, schema=schema_of(db_url)).positions() == dict.fromkeys(
        READ_MODELS, 0
    )
    engine.dispose()


def test_a_read_model_written_by_other_code_is_dropped_and_rebuilt(
    app: Leadflow, runner: ProjectionRunner, clock: FakeClock
) -> None:
    _story(app, clock)
    runner.catch_up(_read(app))
    built = dump(runner)
    with runner.engine.begin() as conn:  # as if an older leadflow had built "handoffs"
        conn.execute(
            POSITIONS.update().where(POSITIONS.c.name == "handoffs").values(fingerprint="old")
        )
        conn.execute(HANDOFFS.delete())

    upgraded = ProjectionRunner(runner.engine, schema=runner.schema)

    assert upgraded.positions()["handoffs"] == 0
    assert upgraded.positions()["leads"] == app.max_position()
    upgraded.catch_up(_read(app))
    assert dump(upgraded) == built


def test_positions_from_before_fingerprints_rebuild_every_read_model(
    app: Leadflow, runner: ProjectionRunner, clock: FakeClock
) -> None:
    _story(app, clock)
    runner.catch_up(_read(app))
    built = dump(runner)
    with runner.engine.begin() as conn:
        POSITIONS.drop(conn)
        sa.Table(
            "lf_projection_positions",
            sa.MetaData(),
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("position", sa.BigInteger, nullable=False),
        ).create(conn)

    upgraded = ProjectionRunner(runner.engine, schema=runner.schema)

    assert set(upgraded.positions().values()) == {0}
    upgraded.catch_up(_read(app))
    assert dump(upgraded) == built


def test_funnel_as_known_at_before_a_backdated_change_matches_brute_force(
    app: Leadflow, runner: ProjectionRunner, clock: FakeClock
) -> None:
    leads = _story(app, clock)
    clock.advance(days=3)
    known_at = clock.now
    clock.advance(days=2)
    # Recorded now, but it happened four days ago: after the lead's latest event.
    app.change_stage(leads[0], "sql", at=known_at - timedelta(days=1), actor="rep:li")
    runner.catch_up(_read(app))
    records = list(app.read_events())

    for as_of in (known_at - timedelta(hours=12), known_at, clock.now):
        for as_known_at in (None, known_at, clock.now):
            query = FunnelQuery(as_of=as_of, as_known_at=as_known_at)
            with runner.engine.connect() as conn:
                fast = funnel(conn, app.pipeline, query)
            assert fast == funnel_from_events(records, app.pipeline, as_of, as_known_at)
    with runner.engine.connect() as conn:
        then = {
            r.stage: r.in_stage for r in funnel(conn, app.pipeline, FunnelQuery(known_at, known_at))
        }
        now = {r.stage: r.in_stage for r in funnel(conn, app.pipeline, FunnelQuery(known_at))}
    assert (then["sal"], then["sql"]) == (1, 0)
    assert (now["sal"], now["sql"]) == (0, 1)
