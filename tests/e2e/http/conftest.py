"""A real ``leadflow serve`` per test module, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.server import Server


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(module_db_url).start(tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield running
    finally:
        running.stop()
