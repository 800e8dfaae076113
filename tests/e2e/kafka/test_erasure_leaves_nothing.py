"""Issue 11's "done when": an erased person is nowhere, and the funnel does not move.

One lead is captured with distinctive personal data in every personal field (name, email,
phone, WeChat id, company, a personal attribute, an activity detail, a hand-off note, a
stage-change reason); a duplicate with its own distinctive values in every field is merged
into it (the same person: erasing the lead erases it too); both are published to a real
broker, then the surviving lead is erased through the CLI. Afterwards
none of those values, in any case and in none of their normalised forms, is in the raw
bytes of the store (SQLite database, WAL and journal; ``pg_dump`` of the PostgreSQL
schemas), the keystore, the Kafka topic read by a plain consumer, ``events --json``, the
read-model tables or ``report.html``. The funnel is identical before and after; guessing
either phone against the contact keys finds nothing; rotating the master key keeps the other
lead readable; losing the key is a clear error.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from leadflow.adapters.cli import app as cli
from leadflow.adapters.cli_projections import catch_up, projection_runner
from leadflow.adapters.kafka import KafkaProjectionFeeder, LeadEventConsumer
from leadflow.adapters.kafka_relay import Relay
from leadflow.adapters.master_key import default_key_file
from leadflow.adapters.store import open_store, sqlalchemy_url
from leadflow.domain.dedupe import key_id
from leadflow.domain.personal_data import ERASED
from leadflow.projections.runner import all_projections

from e2e.kafka.kafkatest import GROUP_TIMEOUTS, read_topic, wait_until
from support.stores import on_roster

pytestmark = pytest.mark.kafka

PERSON = {
    "name": "Zebulon Quackenbush",
    "email": "Zebulon.Quackenbush@Erasure-Proof.example",
    "phone": "139 1234 5678",
    "wechat": "Zq_Erasetest42",
    "company": "Quackenbush Holdings",
}
LINKEDIN = "https://www.linkedin.com/in/zquackenbush-xyzzy"
DETAIL = "Called Zebulon about the Quackenbush merger"
NOTE = "Zebulon prefers calls before nine"
REASON = "Zebulon asked for Quackenbush pricing"

DUPLICATE = {
    "name": "Ottoline Featherstonehaugh",
    "email": "O.Featherstonehaugh@Merged-Twin.example",
    "phone": "137 7654 3219",
    "wechat": "Ofh_Mergedtwin77",
    "company": "Featherstonehaugh Widgets",
}
DUPLICATE_LINKEDIN = "https://www.linkedin.com/in/ofeatherstone-plugh"
DUPLICATE_DETAIL = "Ottoline asked about the Featherstonehaugh account"

NEEDLES = [
    "zebulon",
    "quackenbush",
    "zebulon.quackenbush@erasure-proof.example",
    "erasure-proof.example",
    "13912345678",  # E.164 +8613912345678 and the national form
    "139 1234 5678",
    "1234 5678",
    "zq_erasetest42",
    "zquackenbush-xyzzy",
    "prefers calls before nine",
    # the duplicate merged into the lead
    "ottoline",
    "featherstonehaugh",
    "o.featherstonehaugh@merged-twin.example",
    "merged-twin.example",
    "13776543219",  # +8613776543219
    "137 7654 3219",
    "7654 3219",
    "ofh_mergedtwin77",
    "ofeatherstone-plugh",
    "asked about the",
]
"""Every value, lower case (the haystacks are lowered too): names, the normalised email and
its domain, the phone as dialled and normalised, the WeChat id, the attribute, the notes,
of the lead and of the duplicate merged into it."""


def find_needles(haystack: bytes | str, where: str) -> list[str]:
    text = haystack.lower() if isinstance(haystack, bytes) else haystack.lower().encode()
    return [f"{needle!r} in {where}" for needle in NEEDLES if needle.encode() in text]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def funnel(db_url: str) -> dict[str, Any]:
    """``leadflow funnel --json`` as of now, without the "as of" (each call's own now)."""
    counts: dict[str, Any] = orjson.loads(invoke("--db", db_url, "funnel", "--json").stdout)
    del counts["as_of"]
    assert any(stage["reached"] for stage in counts["stages"])  # it counts something
    return counts


def files_of_sqlite(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.name.startswith(path.stem) and p.is_file()]


def pg_dump(url: str, schema: str) -> bytes:
    parts = urlsplit(url)
    return subprocess.run(
        [
            "pg_dump",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "postgres",
            "-n",
            schema,
            parts.path.lstrip("/"),
        ],
        check=True,
        capture_output=True,
    ).stdout


def read_model_rows(db_url: str) -> str:
    engine = sa.create_engine(sqlalchemy_url(db_url))
    schemas = parse_qs(urlsplit(db_url).query).get("schema")
    inspector = sa.inspect(engine)
    schema = schemas[0] if schemas else None
    dumped = []
    with engine.connect() as conn:
        for table in inspector.get_table_names(schema=schema):
            if table.startswith("lf_") or table.startswith("funnel_"):
                name = f'"{schema}"."{table}"' if schema else f'"{table}"'
                dumped += [
                    repr(tuple(row)) for row in conn.execute(sa.text(f"SELECT * FROM {name}"))
                ]
    engine.dispose()
    assert dumped, "the read models hold rows"
    return "\n".join(dumped)


def test_an_erased_lead_leaves_nothing_personal_anywhere_and_the_funnel_does_not_move(
    db_url: str, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    lf = open_store(db_url, actor="user:test")
    on_roster(lf, "rep:ann", "rep:bob")
    lead = lf.capture(
        **PERSON, source="webinar", attributes={"linkedin": LINKEDIN, "region": "emea"}
    ).lead_id
    lf.record_activity(lead, "call", detail=DETAIL)
    lf.change_stage(lead, "mql", reason=REASON)
    owner = lf.get_lead(lead).owner
    lf.hand_off(lead, "rep:bob" if owner == "rep:ann" else "rep:ann", note=NOTE)
    duplicate = lf.capture(
        **DUPLICATE, source="fair", attributes={"linkedin": DUPLICATE_LINKEDIN, "region": "apac"}
    ).lead_id
    lf.record_activity(duplicate, "note", detail=DUPLICATE_DETAIL)
    lf.merge(duplicate, lead)
    other = lf.capture(email="keeps.her.data@example.org", name="Other Person").lead_id
    catch_up(lf, projection_runner(db_url, lf))
    relay = Relay(lf, db_url, bootstrap=bootstrap, topic=topic)
    published = relay.publish_available()
    assert published > 0

    # Before: the person is readable with the key (else this test could pass vacuously).
    shown = orjson.loads(invoke("--db", db_url, "show", str(lead), "--json").stdout)
    assert (shown["name"], shown["company"]) == (PERSON["name"], PERSON["company"])
    assert shown["attributes"]["linkedin"] == LINKEDIN
    events_before = invoke("--db", db_url, "events", "--lead", str(lead), "--json").stdout
    assert find_needles(events_before, "events --json before the erasure")
    twin = orjson.loads(invoke("--db", db_url, "show", str(duplicate), "--json").stdout)
    assert (twin["name"], twin["merged_into"]) == (DUPLICATE["name"], str(lead))
    funnel_before = funnel(db_url)
    assert find_needles(read_model_rows(db_url), "read models before")  # notes are there

    erased = invoke("--db", db_url, "erase", str(lead), "--reason", "ticket GDPR-42")
    assert erased.exit_code == 0, erased.output
    assert lf.get_lead(duplicate).erased  # one person: the merged duplicate went with it
    relay.publish_available()  # PersonalDataErased goes downstream too

    found: list[str] = []
    # the store and the keystore, byte for byte
    if db_url.startswith("sqlite"):
        db = Path(urlsplit(db_url).path[1:])
        files = files_of_sqlite(db)
        assert {p.name for p in files} >= {db.name, f"{db.stem}.keys.db"}
        for path in files:
            if not path.name.endswith(".master.key"):
                found += find_needles(path.read_bytes(), path.name)
    else:
        schema = parse_qs(urlsplit(db_url).query)["schema"][0]
        base = db_url.split("?", 1)[0]
        for name in (schema, f"{schema}_keys"):
            dump = pg_dump(base, name)
            assert b"CREATE TABLE" in dump
            found += find_needles(dump, f"pg_dump -n {name}")
    # the topic, read by a plain consumer (values, keys and headers)
    messages = read_topic(bootstrap, topic, at_least=published + 1)
    for message in messages:
        headers = b"".join(v for _, v in message.headers)
        found += find_needles(message.value + (message.key or b"") + headers, "the topic")
    types = [orjson.loads(m.value)["type"] for m in messages]
    erased_subjects = {
        orjson.loads(m.value)["subject"]
        for m in messages
        if orjson.loads(m.value)["type"] == "leadflow.lead.personal_data_erased.v1"
    }
    assert erased_subjects == {str(lead), str(duplicate)}
    assert "leadflow.lead.personal_data_erased.v1" in types
    # every reader
    events_after = invoke("--db", db_url, "events", "--json").stdout
    found += find_needles(events_after, "events --json")
    found += find_needles(read_model_rows(db_url), "the read-model tables")
    report = tmp_path / "report.html"
    assert invoke("--db", db_url, "report", "--out", str(report)).exit_code == 0
    found += find_needles(report.read_bytes(), "report.html")
    for command in ("show", "history", "explain"):
        for one in (lead, duplicate):
            output = invoke("--db", db_url, command, str(one)).stdout
            found += find_needles(output, f"{command} {one}")
    assert found == []

    # what readers see instead: [erased], in the shape of the event
    captured = next(
        event
        for event in map(orjson.loads, events_after.splitlines())
        if event["type"] == "LeadCaptured" and event["lead_id"] == str(lead)
    )
    assert captured["data"]["name"] == ERASED
    assert captured["data"]["attributes"] == {"linkedin": ERASED, "region": "emea"}
    assert captured["data"]["source"] == "webinar"
    twin_captured = next(
        event
        for event in map(orjson.loads, events_after.splitlines())
        if event["type"] == "LeadCaptured" and event["lead_id"] == str(duplicate)
    )
    assert twin_captured["data"]["attributes"] == {"linkedin": ERASED, "region": "apac"}
    assert twin_captured["data"]["source"] == "fair"
    # the funnel, to the count
    assert funnel(db_url) == funnel_before

    # guessing either phone: no contact key leads anywhere, keyed or not
    for prefix, start, erased_phone in (
        ("+86139", 12340000, "+8613912345678"),
        ("+86137", 76540000, "+8613776543219"),
    ):
        guesses = [f"{prefix}{n:08d}" for n in range(start, start + 10000)]
        assert erased_phone in guesses
        assert lf.existing([key_id("phone", g) for g in guesses]) == set()  # the unkeyed hash
        at = guesses.index(erased_phone)
        keyed = [lf.key(lf.contact_key_id("phone", g)) for g in guesses[at - 10 : at + 10]]
        assert all(key is None or key.lead_id is None for key in keyed)
    again = lf.capture(phone="13912345678").lead_id
    assert again != lead  # the erased person is gone: the same phone is a new lead
    twin_again = lf.capture(phone="13776543219").lead_id
    assert twin_again not in (lead, duplicate, again)

    # rotation keeps the others readable; losing the key is a clear error
    rotated = invoke("--db", db_url, "keys", "rotate", "--json")
    assert rotated.exit_code == 0, rotated.output
    fresh = open_store(db_url)
    assert fresh.get_lead(other).email == "keeps.her.data@example.org"
    fresh.close()
    key_file = default_key_file(db_url)
    key_file.rename(tmp_path / "lost.key")
    lost = invoke("--db", db_url, "show", str(other))
    assert lost.exit_code == 6
    assert "no master key" in lost.output
    assert "keeps.her.data" not in lost.output
    lf.close()


def test_the_stream_can_carry_personal_fields_in_clear_when_the_pipeline_says_so(
    sqlite_url: str, bootstrap: str, topic: str
) -> None:
    lf = open_store(sqlite_url, actor="user:test")
    lead = lf.capture(email="clear.mode@example.org", name="Clear Mode").lead_id
    omitted = Relay(lf, sqlite_url, bootstrap=bootstrap, topic=topic)
    omitted.publish_available()
    cleared = Relay(lf, sqlite_url, bootstrap=bootstrap, topic=topic, name="clear")
    cleared.personal_data = "clear"
    cleared.publish_available()

    captured = [
        orjson.loads(m.value)
        for m in read_topic(bootstrap, topic, at_least=2)
        if orjson.loads(m.value)["type"] == "leadflow.lead.lead_captured.v1"
    ]
    by_mode = {"personalomitted" in event: event for event in captured}
    assert "email" not in by_mode[True]["data"]
    assert by_mode[True]["personalomitted"] == "email,name"
    assert by_mode[False]["data"]["email"] == "clear.mode@example.org"
    assert UUID(by_mode[False]["subject"]) == lead
    lf.close()


def load_example() -> Any:
    path = Path(__file__).resolve().parents[3] / "examples" / "funnel_service.py"
    spec = importlib.util.spec_from_file_location("funnel_service_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_downstream_read_models_forget_what_the_stream_carried_in_clear_once_erased(
    sqlite_url: str, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    lf = open_store(sqlite_url, actor="user:test")
    on_roster(lf, "rep:ann", "rep:bob")
    lead = lf.capture(**PERSON).lead_id
    owner = lf.get_lead(lead).owner
    lf.hand_off(lead, "rep:bob" if owner == "rep:ann" else "rep:ann", note=NOTE)
    lf.change_stage(lead, "mql", reason=REASON)
    relay = Relay(lf, sqlite_url, bootstrap=bootstrap, topic=topic, personal_data="clear")
    total = relay.publish_available()
    downstream = tmp_path / "downstream.db"
    engine = sa.create_engine(f"sqlite:///{downstream}")
    example = load_example()
    feeder = KafkaProjectionFeeder(
        engine, [*all_projections(), example.StageFunnel()], name="downstream"
    )
    member = LeadEventConsumer(
        bootstrap, f"g-{uuid4().hex[:8]}", topic=topic, retry_pause_s=0.1, **GROUP_TIMEOUTS
    )
    read = 0

    def feed(events: Any) -> None:
        nonlocal read
        feeder(events)
        read += len(events)

    def consume(until: int) -> None:
        def step() -> bool:
            member.poll(feed, timeout_ms=200)
            return read >= until

        wait_until(step, 30, "the consumer to catch up")

    consume(total)
    with engine.connect() as conn:
        companies = conn.execute(sa.select(example.lead_company.c.company)).scalars().all()
    assert companies == [PERSON["company"]]  # "clear": downstream got and kept it

    lf.erase_personal_data(lead, "ticket GDPR-43")
    total += relay.publish_available()
    consume(total)
    member.close()
    engine.dispose()

    with sa.create_engine(f"sqlite:///{downstream}").connect() as conn:
        assert conn.execute(sa.select(example.lead_company)).all() == []
        notes = conn.execute(sa.text("SELECT note FROM lf_handoffs")).scalars().all()
        reasons = conn.execute(sa.text("SELECT reason FROM lf_stage_intervals")).scalars().all()
    assert notes == [ERASED]
    assert ERASED in reasons
    dumped = "\n".join(map(str, [*notes, *reasons]))
    assert find_needles(dumped, "the downstream read models") == []
    lf.close()
