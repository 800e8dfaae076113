"""The fuzz campaign: random CLI invocations and random Python API calls against a real
store, with values at and past every bound, markup, control characters, odd times and
odd URLs.

For every call: it succeeds or is refused with a leadflow error (exit code 0, 2, 3, 4
or 6; never a traceback), and a refused call writes nothing. Afterwards every read model
catches up and ``show``, ``funnel``, ``history`` and ``report`` succeed.

Profiles (``LEADFLOW_FUZZ``): ``ci`` (default, on every change: about 600 API calls and
60 CLI invocations) and ``full`` (10,000 API calls and 500 CLI invocations)::

    LEADFLOW_FUZZ=full python -m pytest tests/fuzz -q -s -p no:cacheprovider
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.adapters.cli import app as cli
from leadflow.adapters.store import open_store, schema_of, sqlalchemy_url
from leadflow.domain import bounds
from leadflow.errors import LeadflowError
from leadflow.projections import ProjectionRunner
from leadflow.service.application import Leadflow

from support.cli import invoke, runner

PROFILES = {"ci": (60, 10, 60), "full": (1000, 10, 500)}
"""Profile: (API examples, calls per example, CLI invocations)."""
EXAMPLES, CALLS, INVOCATIONS = PROFILES[os.environ.get("LEADFLOW_FUZZ", "ci")]
COUNTS: Counter[str] = Counter()

# -- evil values --------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            0.0,
            -0.0,
            1e309,
            -1e309,
            1.7e308,
            bounds.SCORE_MAX,
            bounds.SCORE_MAX + 1,
            -bounds.SCORE_MAX - 1,
            bounds.AMOUNT_MAX,
            bounds.AMOUNT_MAX * 10,
            -1.0,
            1e-320,
        ]
    ),
    st.integers(-(10**20), 10**20).map(float),
)
NASTY = [
    "",
    " ",
    "[/]",
    "[bold]x[/bold]",
    "[link=x]y",
    "\x00",
    "\x1b[2J",
    "\x1b]0;t\x07",
    "\n",
    "\r\n",
    "\u202e",
    "\u2028",
    "\ud800",
    "é" * 201,
    "x" * 2001,
    "x" * 100_000,
    "rep:x",
    "rep:" + "a" * 64,
    "user:" + "u" * 300,
    "李雷",
    "a@example.com",
    "💥",
    "%s%n",
    "'; DROP TABLE x;--",
]
TEXT = st.one_of(st.sampled_from(NASTY), st.text(max_size=50), st.text(min_size=190, max_size=260))
TIMES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, tzinfo=UTC),
            datetime(2026, 1, 1),
            datetime.now(UTC) + timedelta(days=1),
            datetime.fromisoformat("0001-01-01T00:00:00+01:00"),
        ]
    ),
    st.datetimes(timezones=st.just(UTC)),
)
ATTRS = st.one_of(
    st.dictionaries(TEXT, TEXT, max_size=4),
    st.just({f"k{i}": "v" for i in range(bounds.ATTRIBUTES_MAX + 1)}),
    st.just({"k": "v" * (bounds.ATTRIBUTE_VALUE_MAX + 1)}),
)
REPS = st.sampled_from(["rep:a", "rep:b", "rep:" + "z" * 63, "rep:" + "z" * 64, "rep:A", "x"])


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> None:
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Leadflow]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    invoke("init", "--db", url)
    lf = open_store(url, actor="user:fuzz")
    lf.add_rep("rep:a")
    lf.add_rep("rep:b")
    for n in range(5):
        lf.capture(email=f"p{n}@example.com", source="web")
    started = time.perf_counter()
    yield url, lf
    COUNTS["seconds"] = round(time.perf_counter() - started)
    lf.close()
    print(
        f"\nfuzz campaign ({os.environ.get('LEADFLOW_FUZZ', 'ci')}): {dict(COUNTS)}",
        file=sys.stderr,
    )


def _leads(lf: Leadflow) -> list[UUID]:
    return [r.lead_id for r in lf.read_events(types=["LeadCaptured"])][-50:]


def api_call(lf: Leadflow, data: st.DataObject) -> Callable[[], Any]:
    known = _leads(lf)
    # Indices, not the leads themselves: what is drawn must not depend on the store's state
    # (hypothesis replays draws), only what it picks.
    pick = data.draw(st.integers(0, 60))
    lead = known[pick % len(known)] if pick < 50 else uuid4()
    other = known[data.draw(st.integers(0, 49)) % len(known)]
    text, number, when = data.draw(TEXT), data.draw(NUMBERS), data.draw(TIMES)
    choices: dict[str, Callable[[], Any]] = {
        "capture": lambda: lf.capture(
            email=data.draw(
                st.one_of(st.none(), TEXT, st.sampled_from(["a@example.com", "a" * 65 + "@x.com"]))
            ),
            name=data.draw(st.one_of(st.none(), TEXT)),
            source=data.draw(st.one_of(st.none(), TEXT)),
            attributes=data.draw(ATTRS),
            at=when,
            actor=data.draw(st.one_of(st.none(), TEXT)),
        ),
        "score": lambda: lf.set_score(lead, number, text, at=when),
        "win": lambda: lf.win(
            lead, amount=number, currency=data.draw(st.one_of(st.none(), TEXT, st.just("CNY")))
        ),
        "convert": lambda: lf.convert(lead, "customer", text, amount=number),
        "activity": lambda: lf.record_activity(
            lead, data.draw(st.sampled_from(["call", "page_visit", text])), detail=text, at=when
        ),
        "assign": lambda: lf.assign(lead, data.draw(REPS), reason=text),
        "stage": lambda: lf.change_stage(
            lead, data.draw(st.sampled_from(["mql", "sal", text])), reason=text
        ),
        "release": lambda: lf.release(lead, text),
        "profile": lambda: lf.update_profile(
            lead, {data.draw(st.sampled_from(["name", "email", "attributes.k", text])): text}
        ),
        "merge": lambda: lf.merge(lead, other),
        "unmerge": lambda: lf.unmerge(lead, reason=text),
        "erase": lambda: lf.erase_personal_data(lead, text),
        "rep": lambda: lf.add_rep(
            data.draw(REPS),
            capacity=data.draw(st.one_of(st.none(), st.integers(-5, 10**20))),
            weight=data.draw(st.one_of(st.none(), NUMBERS)),
        ),
        "absence": lambda: lf.record_absence(
            data.draw(REPS),
            start=data.draw(TIMES) or datetime.now(UTC),
            end=data.draw(TIMES) or datetime.now(UTC),
        ),
    }
    name = data.draw(st.sampled_from(sorted(choices)))
    COUNTS[f"api.{name}"] += 1
    return choices[name]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_api_calls_succeed_or_are_refused_writing_nothing(
    fuzz_store: tuple[str, Leadflow], data: st.DataObject
) -> None:
    _, lf = fuzz_store
    for _ in range(CALLS):
        call = api_call(lf, data)
        before = lf.max_position()
        COUNTS["api_calls"] += 1
        try:
            call()
        except LeadflowError:
            COUNTS["api_refused"] += 1
            assert lf.max_position() == before, "a refused call wrote events"
        else:
            COUNTS["api_accepted"] += 1


CLI_TEXT = st.sampled_from([s for s in NASTY if "\x00" not in s and "\ud800" not in s])
CLI_NUMBER = st.sampled_from(
    ["nan", "inf", "-inf", "1e309", "1.7e308", "-1", "0", "5", "99999999999999999999", "x"]
)
CLI_TIME = st.sampled_from(
    [
        "",
        "0001-01-01",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31",
        "1970-01-01",
        "2026-01-01T00:00:00",
        "last tuesday",
        "2999-01-01",
    ]
)
CLI_URL = st.sampled_from(
    [
        "sqlite://",
        "sqlite:",
        "sqlite:////",
        "sqlite:///missing/x.db",
        "sqlite://h/x.db",
        "postgresql://[::1",
        "postgresql://x@127.0.0.1:99999/d",
        "mysql://x",
        "sqlite:///%00",
    ]
)


def cli_args(lf: Leadflow, url: str, data: st.DataObject, tmp: Path) -> list[str]:
    known = [str(x) for x in _leads(lf)]
    pick = data.draw(st.integers(0, 55))
    lead = known[pick % len(known)] if pick < 50 else "not-a-uuid"
    text, number, when = data.draw(CLI_TEXT), data.draw(CLI_NUMBER), data.draw(CLI_TIME)
    choices = {
        "score": ["score", lead, "--reason", text, "--", number],
        "capture": [
            "capture",
            "--email",
            data.draw(st.sampled_from(["a@example.com", text])),
            "--name",
            text,
            "--attr",
            f"k={text}",
            "--attr",
            f"k={text}",
            "--at",
            when,
        ],
        "win": [
            "win",
            lead,
            "--amount",
            number,
            "--currency",
            data.draw(st.sampled_from(["CNY", "ZZZ", text])),
        ],
        "rep": [
            "rep",
            "add",
            data.draw(REPS),
            "--weight",
            number,
            "--capacity",
            data.draw(st.sampled_from(["1", "-1", "99999999999999999999"])),
        ],
        "funnel": [
            "funnel",
            "--as-of",
            when,
            "--by",
            data.draw(st.sampled_from(["owner", "source", "planet"])),
        ],
        "cohort": [
            "funnel",
            "--cohort-to",
            data.draw(st.sampled_from(["9999-12-31", "0001-01-01", "2026-01-01", "x"])),
        ],
        "report": [
            "report",
            "--out",
            data.draw(
                st.sampled_from(
                    [
                        str(tmp),
                        str(tmp / "missing" / "r.html"),
                        url.removeprefix("sqlite:///"),
                        url.removeprefix("sqlite:///") + "-wal",
                        str(tmp / "r.html"),
                    ]
                )
            ),
        ],
        "release": ["release", lead, "--reason", text],
        "show": ["show", lead],
        "history": ["history", lead],
        "pool": ["pool", "--limit", data.draw(st.sampled_from(["-1", "0", "3"]))],
        "url": [
            data.draw(st.sampled_from(["funnel", "show", "projections"])),
            "--db",
            data.draw(CLI_URL),
        ],
    }
    name = data.draw(st.sampled_from(sorted(choices)))
    COUNTS[f"cli.{name}"] += 1
    args = choices[name]
    return args if "--db" in args else [*args, "--db", url]


@settings(max_examples=INVOCATIONS, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_cli_invocations_exit_with_a_documented_code(
    fuzz_store: tuple[str, Leadflow], data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url, lf = fuzz_store
    tmp = tmp_path_factory.getbasetemp() / "fuzz-out"
    tmp.mkdir(exist_ok=True)
    args = cli_args(lf, url, data, tmp)
    before = lf.max_position()
    result = runner.invoke(cli, args)
    COUNTS["cli_invocations"] += 1
    assert result.exit_code in (0, 2, 3, 4, 6), (
        args,
        result.exit_code,
        result.stderr,
        result.exception,
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
    )
    if result.exit_code != 0:
        COUNTS["cli_refused"] += 1
        assert lf.max_position() == before, ("a refused command wrote events", args)


def test_afterwards_every_read_model_catches_up_and_every_read_succeeds(
    fuzz_store: tuple[str, Leadflow], tmp_path: Path
) -> None:
    url, lf = fuzz_store
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        ProjectionRunner(engine, schema=schema_of(url)).catch_up(
            lambda after: lf.read_events(after=after), head=lf.max_position
        )
    finally:
        engine.dispose()
    lead = str(_leads(lf)[-1])
    for args in (
        ["show", lead],
        ["history", lead],
        ["funnel"],
        ["report", "--out", str(tmp_path / "r.html")],
        ["doctor"],
        ["rebuild"],
    ):
        invoke(*args, "--db", url)
