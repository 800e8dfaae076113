"""The Python API logs to stderr, never stdout, when the application configured no logging."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from leadflow.adapters.store import open_store

lf = open_store(sys.argv[1])
lf.capture(email="ann@example.com")
lf.close()
"""

CONFIGURED_FIRST = """
import sys
import structlog

structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stdout))
from leadflow.adapters.store import open_store

lf = open_store(sys.argv[1])
lf.capture(email="ann@example.com")
lf.close()
"""


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    url = f"sqlite:///{tmp_path / 'leadflow.db'}"
    return subprocess.run(
        [sys.executable, "-c", script, url], capture_output=True, text=True, check=True
    )


def test_the_python_api_writes_nothing_to_stdout_and_logs_on_stderr(tmp_path: Path) -> None:
    done = _run(SCRIPT, tmp_path)

    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert any("event=pipeline_activated" in line for line in lines), done.stderr
    assert all(line.startswith("timestamp=") for line in lines), done.stderr  # one line each


def test_an_applications_own_structlog_configuration_is_kept(tmp_path: Path) -> None:
    done = _run(CONFIGURED_FIRST, tmp_path)

    assert "pipeline_activated" in done.stdout
    assert "pipeline_activated" not in done.stderr
