"""The installed ``leadflow`` command, run as a process: the same contract as in-process."""

from __future__ import annotations

import subprocess
import sys

import orjson


def test_the_installed_leadflow_command_runs_the_same_contract(db_url: str) -> None:
    command = [sys.executable, "-m", "leadflow.adapters.cli"]
    done = subprocess.run(
        [*command, "capture", "--email", "ann@example.com", "--json", "--db", db_url],
        capture_output=True,
        text=True,
        check=True,
    )
    lead_id = orjson.loads(done.stdout)["lead_id"]

    refused = subprocess.run(
        [*command, "promote", lead_id, "won", "--db", db_url], capture_output=True, text=True
    )

    assert refused.returncode == 2
    assert "unknown stage 'won'" in refused.stderr
