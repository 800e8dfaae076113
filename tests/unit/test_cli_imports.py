"""The command line imports only what a command uses: declaring the commands (what
``leadflow --help`` does) loads no domain, store, read model or broker client.

Timing is measured in ``bench`` (``python -m bench --only startup``); this checks the
cause, which does not depend on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "sqlalchemy",
    "psycopg",
    "kafka",
    "eventsourcing",
    "pydantic",
    "structlog",
    "email_validator",
    "phonenumbers",
    "fastapi",
    "uvicorn",
    "httpx",
    "cryptography",
    "leadflow.domain.events",
    "leadflow.service.application",
    "leadflow.projections",
)


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded for h in HEAVY if m == h or m.startswith(h + "."))


def test_help_loads_no_domain_store_or_read_model() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from leadflow.adapters.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'capture' in result.output and 'rebuild' in result.output\n"
    )
    assert _heavy(_loaded_after(code)) == []


def test_importing_leadflow_loads_only_what_is_used() -> None:
    assert _heavy(_loaded_after("import leadflow")) == []
    loaded = _loaded_after("from leadflow import InvalidInput")
    assert _heavy(loaded) == []
    assert "leadflow.domain.lead" in _loaded_after("from leadflow import Lead")


def test_show_loads_no_read_model_or_broker_client() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from leadflow.adapters.cli import app\n"
        "result = CliRunner().invoke(app, ['show', '--db', 'sqlite:///:memory:', "
        "'00000000-0000-4000-8000-000000000000'])\n"
        "assert result.exit_code == 4, result.output\n"
    )
    heavy = _heavy(_loaded_after(code))
    assert "leadflow.service.application" in heavy  # it does open the store
    assert [m for m in heavy if m.startswith(("sqlalchemy", "kafka", "psycopg"))] == []
