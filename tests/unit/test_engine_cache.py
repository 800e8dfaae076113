"""The per-URL engine caches of the CLI's read models and the HTTP service tables hold
a bounded number of engines and close what they drop: a long-lived process that opens
many stores does not keep a connection pool for each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from leadflow.adapters import cli_projections
from leadflow.adapters.engines import EngineCache
from leadflow.adapters.http import database


class _Engine:
    def __init__(self) -> None:
        self.disposed = 0

    def dispose(self) -> None:
        self.disposed += 1


def _never() -> sa.Engine:
    raise AssertionError("a cached engine was made again")


def _fill(cache: EngineCache, n: int) -> dict[str, Any]:
    made = {f"db{i}": _Engine() for i in range(n)}
    for url, engine in made.items():
        assert cache.get(url, lambda engine=engine: engine) is engine  # type: ignore[misc]
    return made


def test_past_its_bound_the_least_recently_used_engine_is_disposed() -> None:
    cache = EngineCache(bound=3)
    made = _fill(cache, 3)
    cache.get("db0", _never)  # used again: now the most recent

    newest = _Engine()
    cache.get("db3", lambda: newest)  # type: ignore[arg-type,return-value]

    assert len(cache) == 3
    assert "db1" not in cache
    assert made["db1"].disposed == 1
    assert [made[u].disposed for u in ("db0", "db2")] == [0, 0]


def test_dispose_closes_the_engines_it_forgets() -> None:
    cache = EngineCache()
    made = _fill(cache, 4)

    assert cache.dispose(lambda url: url in {"db1", "db2"}) == 2
    assert [made[f"db{i}"].disposed for i in range(4)] == [0, 1, 1, 0]
    assert cache.dispose() == 2
    assert len(cache) == 0
    assert all(e.disposed == 1 for e in made.values())


def test_the_cli_and_the_service_keep_a_bounded_number_of_engines(tmp_path: Path) -> None:
    for cache in (cli_projections._engines, database._engines):
        cache.dispose()
    for i in range(database._engines.bound + 3):
        database.service_engine(f"sqlite:///{tmp_path / f'store{i}.db'}")

    assert len(database._engines) == database._engines.bound
    assert isinstance(cli_projections._engines, EngineCache)
    database._engines.dispose()
