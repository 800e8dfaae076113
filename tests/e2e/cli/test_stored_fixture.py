"""Stored data stays readable: the real ``leadflow events --json`` prints the frozen
fixture store (``support.stored_fixture``) as it did when the store was written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support.stored_fixture import (
    EXPECTED,
    EXPECTED_COUNT,
    STORED_COUNT,
    first_difference,
    load_fixture,
    read_lines,
)

pytestmark = pytest.mark.timeout(180)  # 2-3 s per database: not marked slow

CLI = [sys.executable, "-m", "leadflow.adapters.cli"]
"""The installed CLI in a subprocess, as ``test_installed_command.py`` runs it."""


def test_the_cli_prints_the_stored_events_as_it_did(db_url: str) -> None:
    app = load_fixture(db_url)
    try:
        done = subprocess.run(
            [*CLI, "events", "--db", db_url, "--json"],
            capture_output=True,
            timeout=120,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
        actual = done.stdout.decode("utf-8").splitlines()
        expected = read_lines(EXPECTED)
        assert len(expected) == EXPECTED_COUNT

        difference = first_difference(expected, actual)
        if difference is not None:
            pytest.fail(difference, pytrace=False)
        assert app.max_position() == STORED_COUNT, "reading the log recorded events"
    finally:
        app.close()
