"""Opening stores: URLs, and many processes opening a new PostgreSQL store at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from leadflow.adapters.store import StoreUnavailable, open_store, persistence_env
from leadflow.errors import InvalidInput


def test_many_writers_can_open_a_new_postgres_store_at_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_and_capture(n: int) -> None:
        start.wait()
        try:
            store = open_store(postgres_url)
            store.capture(email=f"p{n}@example.com")
            store.close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_capture, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(1 for _ in open_store(postgres_url).read_events()) == 6


def test_an_unreachable_postgres_server_is_reported_as_such() -> None:
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1"):
        open_store("postgresql://postgres@127.0.0.1:1/test")


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/db", "sqlite://host/file.db", "sqlite:///"]
)
def test_an_unsupported_or_malformed_url_names_the_db_option(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        persistence_env(url)

    assert caught.value.field == "db"


def test_sqlite_durability_can_be_chosen_in_the_url() -> None:
    assert persistence_env("sqlite:///x.db")["SQLITE_SYNCHRONOUS"] == "normal"
    assert persistence_env("sqlite:///x.db?synchronous=full")["SQLITE_SYNCHRONOUS"] == "full"


def test_many_writers_can_open_a_new_sqlite_store_at_once(tmp_path: Path) -> None:
    # The first opener switches the new file to WAL; SQLite refuses that switch at once
    # ("database is locked", no busy wait) while another connection is opening the file.
    for attempt in range(5):
        url = f"sqlite:///{tmp_path / f'new{attempt}.db'}"
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def open_and_capture(
            n: int,
            url: str = url,
            errors: list[BaseException] = errors,
            start: threading.Barrier = start,
        ) -> None:
            start.wait()
            try:
                store = open_store(url)
                store.capture(email=f"s{n}@example.com")
                store.close()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_and_capture, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        store = open_store(url)
        assert store.max_position() >= 8
        store.close()
