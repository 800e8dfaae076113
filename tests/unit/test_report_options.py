"""Every report takes the same instants, cohort and outputs (issue 10, part 4): a report added
without one of them fails here, not in front of a user."""

from __future__ import annotations

from typing import Any

import typer

from leadflow.adapters.cli import app

EVERY_REPORT = {"--as-of", "--as-known-at", "--cohort-from", "--cohort-to", "--json", "--db"}


def _report_group() -> Any:
    """The ``report`` group of the command line, as typer builds it (a click group)."""
    report = typer.main.get_command(app).commands["report"]  # type: ignore[attr-defined]
    assert report.commands, "report has subcommands"
    return report


def _options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def test_every_report_command_takes_as_of_as_known_at_a_cohort_json_and_csv() -> None:
    reports = _report_group().commands

    assert {"stages", "revenue", "reps", "sla"} <= set(reports)
    for name, command in reports.items():
        missing = (EVERY_REPORT | {"--csv"}) - _options(command)
        assert not missing, f"report {name} lacks {sorted(missing)}"


def test_the_html_report_takes_the_same_instants_and_cohort_a_period_and_a_language() -> None:
    missing = (EVERY_REPORT | {"--out", "--period", "--lang"}) - _options(_report_group())

    assert not missing, f"report --out lacks {sorted(missing)}"
