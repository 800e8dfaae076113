"""Logs: one structured event per line on stderr, wherever stderr points at the time."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from leadflow.adapters.logging_setup import configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    yield
    structlog.reset_defaults()


def test_a_logger_writes_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("info", json=True)
    log = structlog.get_logger("leadflow")
    log.info("lead_captured", lead_id="l-1", position=7)
    first.close()
    monkeypatch.setattr(sys, "stderr", second)

    log.info("lead_recycled", lead_id="l-1", position=8, rule="no-follow-up")

    [line] = second.getvalue().splitlines()
    event = json.loads(line)
    assert (event["event"], event["lead_id"], event["position"], event["rule"]) == (
        "lead_recycled",
        "l-1",
        8,
        "no-follow-up",
    )
    assert event["level"] == "info"


def test_the_level_filters_events(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = io.StringIO()
    monkeypatch.setattr(sys, "stderr", sink)
    configure_logging("warning", json=True)

    structlog.get_logger("leadflow").info("noise")
    structlog.get_logger("leadflow").warning("catch_up_failed", projection="funnel")

    assert [json.loads(line)["event"] for line in sink.getvalue().splitlines()] == [
        "catch_up_failed"
    ]
