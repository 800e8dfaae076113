"""The real ``leadflow`` CLI run in-process (typer's ``CliRunner``), against a real store.

``leadflow(db_url, "rep", "add", "rep:mei")`` reads like the command line it runs
(``leadflow rep add rep:mei --db DB_URL``) and returns its stdout; ``invoke(*args)``
runs exactly the arguments given and returns the whole result. Both check the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner, Result

from leadflow.adapters.cli import app as cli

__all__ = [
    "as_json",
    "capture",
    "cli",
    "demo_store",
    "invoke",
    "leadflow",
    "new_store",
    "runner",
]

runner = CliRunner()


def invoke(*args: str, expect: int = 0) -> Result:
    """``leadflow ARGS``; fails the test unless it exits with ``expect``."""
    result = runner.invoke(cli, list(args))
    assert result.exit_code == expect, (result.stdout, result.stderr)
    return result


def leadflow(db_url: str, *args: str, expect: int = 0) -> str:
    """``leadflow ARGS --db DB_URL``: its stdout."""
    return invoke(*args, "--db", db_url, expect=expect).stdout


def capture(db_url: str, *args: str) -> str:
    """``leadflow capture ARGS --json``: the new (or matched) lead's id."""
    lead_id: str = orjson.loads(leadflow(db_url, "capture", "--json", *args))["lead_id"]
    return lead_id


def as_json(*args: str) -> Any:
    return json.loads(invoke(*args, "--json").stdout)


def demo_store(directory: Path) -> str:
    """A simulated year of 300 leads (``leadflow demo``) in ``directory``."""
    url = f"sqlite:///{directory / 'demo.db'}"
    invoke("demo", "--leads", "300", "--db", url)
    return url


def new_store(path: Path) -> str:
    """``leadflow init --db sqlite:///PATH``: the URL of a new store (other commands never
    create one)."""
    url = f"sqlite:///{path}"
    invoke("init", "--db", url)
    return url
