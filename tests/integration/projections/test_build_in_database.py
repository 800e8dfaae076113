"""The first build inside the database (``log_table``, each read model's ``build``) gives
exactly the tables of the per-event handlers (``handle``), on SQLite and PostgreSQL.

Random histories of the real ``Lead`` aggregate (merges and unmerges, recycles, hand-offs
decided, breached and escalated, backdated and late-recorded events, erasures) are stored
through the store's own mapper, so personal values are sealed under each lead's key as in
production: the build must open the few it copies, and an erased lead's read ``[erased]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.adapters.cli_projections import log_source, projection_runner
from leadflow.adapters.store import open_store
from leadflow.domain.events import LeadEvent, PersonalDataErased
from leadflow.projections import log_table
from leadflow.service.application import Leadflow

from support.histories import build_events, dump

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_salts = itertools.count(1)

event_histories = st.builds(
    lambda seed, leads, steps, erase: build_events(
        seed, leads, steps, erase=erase, salt=next(_salts) << 64
    ),
    seed=st.integers(0, 2**32),
    leads=st.integers(1, 8),
    steps=st.integers(0, 80),
    erase=st.booleans(),
)
"""Histories with lead ids new to the store (the keystore keeps an erased lead erased)."""

windows = st.integers(1, 40) | st.just(log_table.SEALED_WINDOW)
"""How many log positions the build opens sealed values for at a time (a tiny window
splits a short history into many)."""


@pytest.fixture
def store(db_url: str) -> Iterator[tuple[str, Leadflow]]:
    app = open_store(db_url, actor="user:test")
    yield db_url, app
    app.close()


def _replace_log(app: Leadflow, events: list[LeadEvent[Any]]) -> None:
    """The store's lead events are exactly ``events`` (sealed as the store seals them)."""
    recorder: Any = app.recorder
    source = log_source(app)
    assert source is not None
    table = f'"{source.schema}"."{source.table}"' if source.schema else f'"{source.table}"'
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE topic LIKE 'leadflow.lead:%'")
    if not events:
        return
    assert app.keys is not None
    stored = []
    for event in events:  # as the store does: the key is destroyed with the erasure
        stored.append(app.mapper.to_stored_event(event))
        if isinstance(event, PersonalDataErased):
            app.keys.destroy(event.originator_id)
    recorder.insert_events(stored)


@SETTINGS
@given(events=event_histories, window=windows)
def test_the_build_in_the_database_gives_the_tables_of_the_per_event_handlers(
    store: tuple[str, Leadflow],
    events: list[LeadEvent[Any]],
    window: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, app = store
    monkeypatch.setattr(log_table, "SEALED_WINDOW", window)
    _replace_log(app, events)
    runner = projection_runner(url, app)
    runner.ensure_tables()

    runner.rebuild(lambda after: app.read_events(after=after), head=app.max_position)
    by_handlers = dump(runner)
    runner.rebuild(
        lambda after: app.read_events(after=after), head=app.max_position, log=log_source(app)
    )
    in_database = dump(runner)

    assert in_database == by_handlers


def test_a_first_catch_up_builds_in_the_database_and_says_so(
    store: tuple[str, Leadflow],
) -> None:
    url, app = store
    _replace_log(app, build_events(seed=3, leads=5, steps=60, erase=True))
    runner = projection_runner(url, app)

    built = runner.catch_up(
        lambda after: app.read_events(after=after), head=app.max_position, log=log_source(app)
    )

    assert built == sum(1 for _ in app.read_events())
    assert set(runner.positions().values()) == {app.max_position()}


def _read_to(app: Leadflow, cut: int) -> Any:
    return lambda after: itertools.takewhile(
        lambda r: r.position <= cut, app.read_events(after=after)
    )


@SETTINGS
@given(
    events=event_histories,
    cuts=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3),
    by_handlers_first=st.booleans(),
    window=windows,
)
def test_a_catch_up_inside_the_database_gives_the_tables_of_the_per_event_handlers(
    store: tuple[str, Leadflow],
    events: list[LeadEvent[Any]],
    cuts: list[float],
    by_handlers_first: bool,
    window: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The log split at random points: the first part built (by the handlers or inside
    the database), each later part caught up inside the database (the leads it touches
    rebuilt, their daily counts taken out and added back), as one pass of the handlers."""
    url, app = store
    monkeypatch.setattr(log_table, "SEALED_WINDOW", window)
    _replace_log(app, events)
    runner = projection_runner(url, app)
    runner.ensure_tables()
    runner.rebuild(lambda after: app.read_events(after=after), head=app.max_position)
    by_handlers = dump(runner)

    head = app.max_position()
    first, *later = sorted({min(head, max(1, int(head * cut))) for cut in cuts} | {head})
    log = None if by_handlers_first else log_source(app)
    runner.rebuild(_read_to(app, first), head=lambda: first, log=log)
    runner.in_database_from = 1
    for cut in later:
        # Nothing after the cut may be read: every event up to it is inside the database.
        runner.catch_up(lambda after: iter(()), head=lambda cut=cut: cut, log=log_source(app))
        assert set(runner.positions().values()) == {cut}

    assert dump(runner) == by_handlers


def test_a_live_store_far_behind_catches_up_inside_the_database(
    store: tuple[str, Leadflow],
) -> None:
    url, app = store
    _replace_log(app, build_events(seed=5, leads=6, steps=70, erase=True))
    runner = projection_runner(url, app)
    runner.rebuild(lambda after: app.read_events(after=after), head=app.max_position)
    by_handlers = dump(runner)
    half = app.max_position() // 2
    runner.rebuild(_read_to(app, half), head=lambda: half)
    runner.in_database_from = 10

    caught_up = runner.catch_up(lambda after: iter(()), head=app.max_position, log=log_source(app))

    assert caught_up == sum(1 for _ in app.read_events(after=half))
    assert dump(runner) == by_handlers
