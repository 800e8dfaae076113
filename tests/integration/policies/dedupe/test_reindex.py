"""Leads recorded before dedupe get their contact keys from one maintenance command."""

from __future__ import annotations

from uuid import UUID, uuid4

from typer.testing import CliRunner

from leadflow.domain.lead import Lead
from leadflow.service.application import Leadflow
from leadflow.service.unit_of_work import unit_of_work


def legacy_capture(app: Leadflow, **contact: str) -> UUID:
    """A lead saved the way leads were before dedupe: no contact keys."""
    with unit_of_work(app, "legacy_capture", app.context()) as uow:
        lead = uow.add_lead(Lead.capture(uuid4(), app.pipeline, uow.ctx, **contact))  # type: ignore[arg-type]
        uow.commit()
    return lead.id


def test_reindex_reserves_missing_keys_for_the_lead_holding_them_now(app: Leadflow) -> None:
    first = legacy_capture(app, email="ada@example.com", phone="+8613800138000")
    legacy_capture(app, email="ada@example.com")  # a legacy duplicate: the first keeps the key
    duplicate = legacy_capture(app, wechat="ada_li88")
    app.merge(duplicate, first)
    gone = legacy_capture(app, email="gone@example.com")
    app.erase_personal_data(gone, "gdpr")
    app.capture(email="new@example.com")  # already indexed

    counts = app.reindex_contact_keys(batch_size=2)

    assert counts["reserved"] == 3  # ada's email and phone, the merged duplicate's wechat
    assert app.capture(email="ADA@example.com").lead_id == first
    assert app.capture(wechat="ada_li88").lead_id == first
    assert app.capture(phone="13800138000").lead_id == first
    assert app.capture(email="gone@example.com").lead_id != gone


def test_reindex_twice_reserves_nothing_the_second_time(app: Leadflow) -> None:
    legacy_capture(app, email="ada@example.com")
    app.reindex_contact_keys()
    position = app.max_position()

    assert app.reindex_contact_keys()["reserved"] == 0
    assert app.max_position() == position


def test_the_cli_runs_the_reindex(sqlite_url: str) -> None:
    import orjson

    from leadflow.adapters.cli import app as cli
    from leadflow.adapters.store import open_store

    store = open_store(sqlite_url)
    legacy_capture(store, email="ada@example.com")
    store.close()

    result = CliRunner().invoke(cli, ["dedupe", "reindex", "--db", sqlite_url, "--json"])

    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["reserved"] == 1
