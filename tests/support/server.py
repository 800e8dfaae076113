"""A real ``leadflow serve`` process on a free port, and an HTTP client for it.

``Server(db_url)`` starts the installed command line (the same ``leadflow`` a user
runs) and waits for ``/healthz``; ``stop()`` ends it; ``restart()`` starts it again on
the same port and store. Tokens are made with the real ``leadflow token create``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Server", "free_port", "leadflow_cli"]

LEADFLOW = str(Path(sys.executable).with_name("leadflow"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def leadflow_cli(db_url: str, *args: str) -> Any:
    """``leadflow ARGS --db DB_URL --json`` in a child process: its JSON output."""
    done = subprocess.run(
        [LEADFLOW, *args, "--db", db_url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Server:
    def __init__(
        self,
        db_url: str,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ):
        self.db_url = db_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None

    def start(self, log: Path) -> Server:
        self.log = log
        handle = log.open("ab")
        self.process = subprocess.Popen(
            [
                LEADFLOW,
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--db",
                self.db_url,
                *self.extra_args,
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"leadflow serve exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"leadflow serve did not answer: {log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self.process = None

    def restart(self) -> None:
        assert self.log is not None
        self.stop()
        self.start(self.log)

    def token(self, scope: str, **options: str) -> str:
        args = ["token", "create", "--name", options.pop("name", f"t-{scope}"), "--scope", scope]
        for key, value in options.items():
            args += [f"--{key}", value]
        created = leadflow_cli(self.db_url, *args)
        secret: str = created["token"]
        return secret

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
