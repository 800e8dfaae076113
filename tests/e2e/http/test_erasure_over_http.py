"""Erasing over HTTP leaves what erasing from the command line leaves: nothing personal in
the embedded store's files, its write-ahead log included, for the lead and the duplicate
merged into it. The read models held the stage-change reasons in clear; they are
overwritten by the erasure itself, and the old bytes are checkpointed out of the WAL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from leadflow.domain.personal_data import ERASED

from support.server import Server

NEEDLES = [b"wilhelmina", b"vandersloot", b"hyacinth-ombudsman", b"prefers tuesdays"]


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(sqlite_url).start(tmp_path / "serve.log")
    try:
        yield running
    finally:
        running.stop()


def store_bytes(sqlite_url: str) -> dict[str, bytes]:
    """Every file of the store (database, WAL, journal, keystore), by name."""
    db = Path(urlsplit(sqlite_url).path[1:])
    return {
        p.name: p.read_bytes().lower()
        for p in db.parent.iterdir()
        if p.name.startswith(db.stem) and p.is_file() and not p.name.endswith(".key")
    }


def found_in(files: dict[str, bytes]) -> list[str]:
    return [f"{n!r} in {name}" for name, data in files.items() for n in NEEDLES if n in data]


def test_an_erasure_over_http_leaves_nothing_in_the_sqlite_files_wal_included(
    server: Server, sqlite_url: str
) -> None:
    token = server.token("admin", name="eraser")
    with server.client(token) as client:

        def post(path: str, body: dict[str, object]) -> dict[str, object]:
            response = client.post(path, json=body, headers={"Idempotency-Key": uuid4().hex})
            assert response.status_code in (200, 201), response.text
            payload: dict[str, object] = response.json()
            return payload

        lead = post("/v1/leads", {"email": "wilhelmina@vandersloot.example"})["lead_id"]
        post(f"/v1/leads/{lead}/promote", {"stage": "mql", "reason": "Wilhelmina prefers tuesdays"})
        twin = post(
            "/v1/leads", {"email": "w.v@hyacinth-ombudsman.example", "name": "W. Vandersloot"}
        )["lead_id"]
        post(f"/v1/leads/{twin}/promote", {"stage": "mql", "reason": "Vandersloot again"})
        post(f"/v1/leads/{twin}/merge", {"into_lead_id": lead})
        assert client.get("/v1/funnel").status_code == 200  # the read models catch up
        before = store_bytes(sqlite_url)
        assert any(name.endswith("-wal") for name in before)
        assert found_in(before)  # the reasons are in the read models, in clear

        post(f"/v1/leads/{lead}/erase", {"reason": "ticket GDPR-77"})

        assert client.get("/v1/funnel").status_code == 200
        shown = client.get(f"/v1/leads/{twin}").json()
        history = client.get(f"/v1/leads/{twin}/history").text.lower()
    assert shown["erased"] is True
    assert found_in({"history": history.encode()}) == []
    assert ERASED in history
    assert found_in(store_bytes(sqlite_url)) == []
