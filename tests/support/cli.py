"""Running the real ``leadflow`` CLI in-process for the read-side tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from leadflow.adapters.cli import app as cli

__all__ = ["as_json", "cli", "demo_store", "leadflow", "runner"]

runner = CliRunner()


def leadflow(*args: str) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def as_json(*args: str) -> Any:
    return json.loads(leadflow(*args, "--json").stdout)


def demo_store(directory: Path) -> str:
    """A simulated year of 300 leads (``leadflow demo``) in ``directory``."""
    url = f"sqlite:///{directory / 'demo.db'}"
    leadflow("demo", "--leads", "300", "--db", url)
    return url
