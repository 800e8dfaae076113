"""``leadflow token create`` (and the other service commands) on a URL where no store is yet
make the store first, as ``leadflow serve`` does: a new PostgreSQL schema used to fail with
the driver's "schema … does not exist"."""

from __future__ import annotations

from support.server import leadflow_cli


def test_a_token_created_on_a_new_store_makes_the_store_and_is_listed(new_db_url: str) -> None:
    created = leadflow_cli(new_db_url, "token", "create", "--name", "first", "--scope", "read")

    listed = leadflow_cli(new_db_url, "token", "list")
    assert [t["id"] for t in listed] == [created["id"]]
    # The store is a real one: its commands work on it.
    assert leadflow_cli(new_db_url, "leads")["count"] == 0
