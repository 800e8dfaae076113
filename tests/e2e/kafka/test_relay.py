"""The relay publishes the log in order, keyed by lead, as CloudEvents, resumably."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from leadflow.adapters.cli import app as cli
from leadflow.adapters.cloudevents import REQUIRED_ATTRIBUTES
from leadflow.adapters.kafka_relay import Relay
from leadflow.adapters.store import open_store
from leadflow.domain.events import EVENT_TYPES
from leadflow.service.application import Leadflow

from e2e.kafka.kafkatest import free_port, read_topic, run_demo_into, values
from support.stores import on_roster

pytestmark = pytest.mark.kafka


def assert_valid_cloudevent(message: Any) -> dict[str, Any]:
    event: dict[str, Any] = orjson.loads(message.value)
    for name in REQUIRED_ATTRIBUTES:
        assert isinstance(event.get(name), str), f"{name} missing in {event}"
        assert event[name], f"{name} empty in {event}"
    assert event["specversion"] == "1.0"
    assert event["datacontenttype"] == "application/json"
    assert isinstance(event["data"], dict)
    assert message.key == event["subject"].encode()
    headers = dict(message.headers)
    for name, value in event.items():
        if name != "data":
            assert headers[f"ce_{name}"] == str(value).encode()
    return event


def assert_per_lead_order_without_gaps(messages: list[Any]) -> None:
    """Each lead's events sit in one partition with sequences 1, 2, 3, … in offset order."""
    partition_of: dict[str, int] = {}
    sequences: dict[str, list[int]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        event = orjson.loads(message.value)
        lead = event["subject"]
        assert partition_of.setdefault(lead, message.partition) == message.partition
        sequences[lead].append(event["leadsequence"])
    for lead, seen in sequences.items():
        assert seen == list(range(1, len(seen) + 1)), f"lead {lead} arrived as {seen}"


def test_a_plain_consumer_gets_every_demo_event_exactly_once_in_lead_order_as_cloudevents(
    db_url: str, bootstrap: str, topic: str
) -> None:
    store = open_store(db_url, actor="user:test")
    run_demo_into(store, leads=40)
    expected = list(store.read_events())
    relay = Relay(store, db_url, bootstrap=bootstrap, topic=topic)

    published = relay.publish_available()

    messages = read_topic(bootstrap, topic, at_least=len(expected))
    events = [assert_valid_cloudevent(m) for m in messages]
    assert published == len(expected) == len(messages)
    assert sorted(e["id"] for e in events) == sorted(str(r.id) for r in expected)
    assert {e["type"].split(".")[2] for e in events} <= {
        "_".join(part.lower() for part in _split_camel(name)) for name in EVENT_TYPES
    }
    assert_per_lead_order_without_gaps(messages)
    assert relay.position() == expected[-1].position
    relay.close()
    store.close()


def _split_camel(name: str) -> list[str]:
    parts: list[str] = []
    for char in name:
        if char.isupper() or not parts:
            parts.append(char)
        else:
            parts[-1] += char
    return parts


def test_publishing_again_sends_only_what_was_recorded_since(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    lead = sqlite_app.capture(email="ada@example.com").lead_id
    on_roster(sqlite_app, "rep:li")
    sqlite_app.assign(lead, "rep:li")
    relay = Relay(sqlite_app, sqlite_url, bootstrap=bootstrap, topic=topic)
    assert relay.publish_available() == 2

    assert relay.publish_available() == 0
    sqlite_app.record_activity(lead, "call", detail="left a voicemail")
    assert relay.publish_available() == 1

    messages = read_topic(bootstrap, topic, at_least=3)
    assert [e["leadsequence"] for e in values(messages)] == [1, 2, 3]
    relay.close()


def test_the_relay_position_survives_a_new_relay_process(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    sqlite_app.capture(email="ada@example.com")
    first = Relay(sqlite_app, sqlite_url, bootstrap=bootstrap, topic=topic)
    first.publish_available()
    first.close()
    sqlite_app.capture(email="bob@example.com")

    second = Relay(open_store(sqlite_url), sqlite_url, bootstrap=bootstrap, topic=topic)

    assert second.publish_available() == 1
    second.close()


def test_relays_with_different_names_keep_separate_positions(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    sqlite_app.capture(email="ada@example.com")
    Relay(sqlite_app, sqlite_url, bootstrap=bootstrap, topic=topic).publish_available()

    again = Relay(sqlite_app, sqlite_url, bootstrap=bootstrap, topic=topic, name="backfill")

    assert again.publish_available() == 1


def test_publish_command_prints_the_count_and_exits_0(
    sqlite_app: Leadflow, sqlite_url: str, bootstrap: str, topic: str
) -> None:
    for n in range(3):
        sqlite_app.capture(email=f"lead{n}@example.com")
    args = ["publish", "--bootstrap", bootstrap, "--topic", topic, "--db", sqlite_url, "--json"]

    first = CliRunner().invoke(cli, args)
    second = CliRunner().invoke(cli, args)

    assert first.exit_code == 0, first.output
    last = list(sqlite_app.read_events())[-1].position
    assert orjson.loads(first.stdout) == {"published": 3, "position": last, "topic": topic}
    assert orjson.loads(second.stdout)["published"] == 0


def test_publish_without_a_reachable_broker_exits_5_and_keeps_its_position(
    sqlite_app: Leadflow, sqlite_url: str
) -> None:
    sqlite_app.capture(email="ada@example.com")
    nowhere = f"127.0.0.1:{free_port()}"

    result = CliRunner().invoke(
        cli, ["publish", "--bootstrap", nowhere, "--db", sqlite_url, "--ack-timeout", "2", "--json"]
    )

    assert result.exit_code == 5, result.output
    assert orjson.loads(result.stdout)["error"]["code"] == "broker_unavailable"
    relay = Relay(sqlite_app, sqlite_url, bootstrap=nowhere)
    assert relay.position() == 0
