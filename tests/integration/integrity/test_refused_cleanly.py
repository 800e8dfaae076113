"""Every bad input is refused cleanly, and nothing it could have written breaks the store.

Each test is one item of issue 14's list of single commands that once bricked a store:
the command is now refused (exit 2, the field and the reason, nothing written), and
afterwards every read command still answers, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadflow.adapters.store import open_store

from support.cli import capture, invoke, leadflow


@pytest.fixture
def db_url(db_url: str) -> str:
    """A store made by ``leadflow init`` (its pipeline in force), on SQLite and PostgreSQL."""
    leadflow(db_url, "init")
    return db_url


def events_in(db_url: str) -> int:
    lf = open_store(db_url)
    try:
        return lf.max_position()
    finally:
        lf.close()


def reads_still_work(db_url: str, lead: str, tmp_path: Path) -> None:
    """What one bad value used to break for good: every read, the catch-up, a rebuild."""
    for args in (
        ("show", lead),
        ("activity", lead, "page_visit"),
        ("history", lead),
        ("explain", lead),
        ("funnel",),
        ("funnel", "--by", "owner"),
        ("audit",),
        ("sweep",),
        ("rebuild",),
        ("projections",),
        ("doctor",),
        ("report", "--out", str(tmp_path / "report.html")),
    ):
        leadflow(db_url, *args)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309", "1.7e308", "-1000001"])
def test_a_score_that_is_not_a_finite_number_in_range_is_refused(
    db_url: str, tmp_path: Path, value: str
) -> None:
    lead = capture(db_url, "--email", "ann@example.com")
    before = events_in(db_url)

    result = invoke("score", lead, "--reason", "x", "--db", db_url, "--json", "--", value, expect=2)

    assert json.loads(result.stdout)["error"]["field"] == "score"
    assert events_in(db_url) == before
    if value == "nan":  # the one the issue found first; the reads are the same for each
        reads_still_work(db_url, lead, tmp_path)


@pytest.mark.parametrize(
    "option", [("--weight", "inf"), ("--weight", "nan"), ("--capacity", "99999999999999999999")]
)
def test_a_rep_setting_out_of_range_is_refused_and_captures_go_on(
    db_url: str, option: tuple[str, str]
) -> None:
    before = events_in(db_url)
    leadflow(db_url, "rep", "add", "rep:x", *option, expect=2)
    assert events_in(db_url) == before
    leadflow(db_url, "rep", "add", "rep:x")
    capture(db_url, "--email", "bob@example.com")


@pytest.mark.parametrize(
    "args",
    [
        ("convert", "customer", "--account", "acc-1", "--amount", "nan"),
        ("convert", "customer", "--account", "acc-1", "--amount", "inf"),
        ("convert", "customer", "--account", "acc-1", "--amount", "-5"),
        ("win", "--amount", "nan"),
        ("win", "--amount", "-1"),
        ("win", "--amount", "10", "--currency", "ZZZ"),
    ],
)
def test_an_amount_is_finite_and_not_negative_and_a_currency_is_iso_4217(
    db_url: str, args: tuple[str, ...]
) -> None:
    lead = capture(db_url, "--email", "ann@example.com")
    before = events_in(db_url)
    leadflow(db_url, args[0], lead, *args[1:], expect=2)
    assert events_in(db_url) == before


def test_a_time_before_1970_is_refused_on_capture_and_on_import(
    db_url: str, tmp_path: Path
) -> None:
    leadflow(
        db_url, "capture", "--email", "a@example.com", "--at", "0001-01-01T00:00:00+01:00", expect=2
    )
    rows = tmp_path / "old.csv"
    rows.write_text("email,occurred_at\nb@example.com,0001-01-01T00:00:00+01:00\nc@example.com,\n")

    summary = json.loads(leadflow(db_url, "import", str(rows), "--json"))

    assert (summary["created"], summary["invalid"]) == (1, 1)
    leadflow(db_url, "funnel")
    leadflow(db_url, "rebuild")


def test_values_at_every_length_limit_are_held_by_every_read_model(db_url: str) -> None:
    long_actor = "user:" + "a" * 195
    lead = capture(
        db_url,
        "--email", "ann@example.com",
        "--source", "s" * 100,
        "--campaign", "c" * 100,
        "--name", "N" * 200,
        "--attr", "region=" + "r" * 1000,
        "--actor", long_actor,
    )  # fmt: skip
    first, second = "rep:" + "x" * 63, "rep:" + "y" * 63
    leadflow(db_url, "rep", "add", first)
    leadflow(db_url, "rep", "add", second)
    leadflow(db_url, "assign", lead, first, "--reason", "r" * 2000, "--actor", long_actor)
    leadflow(db_url, "handoff", lead, second, "--note", "n" * 2000, "--actor", long_actor)

    status = json.loads(leadflow(db_url, "projections", "--json"))

    assert status["projections"]
    assert all(row["lag"] == 0 for row in status["projections"])
    assert all(row["failure"] is None for row in status["projections"])


def test_a_report_never_overwrites_the_store(sqlite_url: str, tmp_path: Path) -> None:
    capture(sqlite_url, "--email", "ann@example.com")
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    before = database.read_bytes()[:16]
    for target in (database, Path(f"{database}-wal"), tmp_path, tmp_path / "missing" / "r.html"):
        result = invoke("report", "--out", str(target), "--db", sqlite_url, expect=2)
        assert "error: out:" in result.stderr
    assert database.read_bytes()[:16] == before == b"SQLite format 3\x00"
    leadflow(sqlite_url, "funnel")


def test_a_typo_in_the_store_path_is_not_found_and_creates_nothing(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'typo.db'}", f"sqlite:///{tmp_path / 'nodir' / 'typo.db'}"):
        result = invoke("funnel", "--db", url, expect=4)
        assert "no store at" in result.stderr
        assert "leadflow init" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_only_init_creates_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    invoke("capture", "--email", "a@example.com", "--db", url, expect=4)
    invoke("init", "--db", url)
    invoke("capture", "--email", "a@example.com", "--db", url)


@pytest.mark.parametrize(
    "args",
    [
        ("funnel", "--as-of", "0001-01-01"),
        ("funnel", "--as-of", "9999-12-31"),
        ("funnel", "--as-known-at", "9999-12-31T23:59:59"),
        ("funnel", "--as-known-at", "0001-01-01"),
        ("funnel", "--cohort-to", "9999-12-31"),
        ("funnel", "--cohort-from", "0001-01-01"),
        ("rep", "add", "rep:x", "--capacity", "99999999999999999999"),
        ("pool", "--limit", "-1"),
        ("capture", "--email", "a@example.com", "--at", ""),
        ("capture", "--email", "a@example.com", "--attr", "k=1", "--attr", "k=2"),
        ("capture", "--email", "a" * 65 + "@example.com"),
        ("capture", "--email", "a@example.com", "--attr", "k=" + "v" * 1_000_000),
        ("capture", "--email", "a@example.com", "--name", "Ann\x00"),
        ("capture", "--email", "a@example.com", "--name", "Ann\x1b[2J"),
    ],
)
def test_bad_input_exits_2_with_a_message_never_a_traceback(
    db_url: str, args: tuple[str, ...]
) -> None:
    before = events_in(db_url)
    result = invoke(*args, "--db", db_url, expect=2)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    assert events_in(db_url) == before


@pytest.mark.parametrize("command", ["release", "lose", "disqualify", "erase"])
def test_an_empty_reason_is_refused(db_url: str, command: str) -> None:
    lead = capture(db_url, "--email", "ann@example.com")
    result = invoke(command, lead, "--reason", "", "--db", db_url, "--json", expect=2)
    assert json.loads(result.stdout)["error"]["field"] == "reason"


def test_an_empty_optional_reason_is_refused_too(db_url: str) -> None:
    lead = capture(db_url, "--email", "ann@example.com")
    leadflow(db_url, "promote", lead, "mql", "--reason", "", expect=2)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:",
        "sqlite:////",
        "sqlite://host/x.db",
        "sqlite:///a%00b.db",
        "postgresql://x@127.0.0.1:99999/test",
        "postgresql://[::1",
        "mysql://x/y",
    ],
)
def test_a_malformed_store_url_exits_2(url: str) -> None:
    result = invoke("funnel", "--db", url, expect=2)
    assert "error: db:" in result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("schema", ["Sales", "my-schema", "varchar", "select", "x" * 64])
def test_a_postgres_schema_that_needs_quoting_is_refused(postgres_url: str, schema: str) -> None:
    base = postgres_url.split("?", 1)[0]
    result = invoke("init", "--db", f"{base}?schema={schema}", expect=2)
    assert "schema" in result.stderr


def test_a_pipeline_file_that_is_not_utf8_or_is_a_directory_is_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "café"\n'.encode("latin-1"))
    for target in (latin, tmp_path):
        result = invoke("pipeline", "validate", str(target), expect=2)
        assert "(file)" in result.stderr


@pytest.mark.parametrize("sla", ['sla = "99999999d"', 'sla = "-3d"'])
def test_a_pipeline_that_would_fail_at_run_time_does_not_validate(tmp_path: Path, sla: str) -> None:
    from leadflow.service.pipeline_files import default_pipeline_text

    path = tmp_path / "p.toml"
    path.write_text(default_pipeline_text().replace('sla = "3d"', sla, 1), encoding="utf-8")
    invoke("pipeline", "validate", str(path), expect=2)
