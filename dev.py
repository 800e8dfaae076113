"""Developer entry point: ``python3 dev.py demo`` and ``python3 dev.py test``.

Standard library only, so it runs on a fresh machine with nothing but Python 3.11+.
It creates ``.venv`` beside this file, installs leadflow (and, for ``test``, its test
tools) from ``pyproject.toml``, and re-installs whenever ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
CODE_DIRS = ("src", "projections", "adapters", "tests", "bench", "examples")


def _stamp(extras: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(extras.encode())
    # The strict editable install is a link tree: new modules need a re-install.
    for folder in ("src/leadflow", "projections", "adapters"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
    return digest.hexdigest()


def ensure_installed(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"leadflow needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    stamp_file = VENV / f".installed-{extras or 'base'}"
    stamp = _stamp(extras)
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    target = f".[{extras}]" if extras else "."
    print(f"installing leadflow{f'[{extras}]' if extras else ''} into {VENV}", flush=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True
    )
    subprocess.run(
        [
            str(PYTHON), "-m", "pip", "install", "--quiet",
            "--config-settings", "editable_mode=strict", "-e", target,
        ],
        check=True,
        cwd=ROOT,
    )
    stamp_file.write_text(stamp)


def run(*argv: str) -> int:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(list(argv), cwd=ROOT).returncode


def demo(args: list[str]) -> int:
    ensure_installed("")
    return run(str(BIN / "leadflow"), "demo", *args)


def test(args: list[str]) -> int:
    ensure_installed("test,bench")
    code_dirs = [d for d in CODE_DIRS if (ROOT / d).is_dir()]
    for step in (
        [str(BIN / "ruff"), "check", *code_dirs, "dev.py"],
        [str(BIN / "ruff"), "format", "--check", *code_dirs],
        [str(BIN / "mypy"), "-p", "leadflow"],
    ):
        code = run(*step)
        if code:
            return code
    return run(str(PYTHON), "-m", "pytest", *_workers(args), *args)


def _workers(args: list[str]) -> list[str]:
    """pytest-xdist options: one worker more than the cores, at most four (each worker holds
    its own PostgreSQL connections and broker; much of the suite waits on servers, browsers
    and subprocesses, so a third worker on two cores took the suite from 870 s to 750 s),
    unless the caller chose (``-n 0`` runs in one process). A module's tests stay on one
    worker, so its module fixtures are built once."""
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        return []
    return ["-n", str(min(4, (os.cpu_count() or 1) + 1)), "--dist", "loadscope"]


def main() -> int:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print("usage: python3 dev.py demo [leadflow demo options] | test [pytest options]")
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
