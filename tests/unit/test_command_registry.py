"""One list of commands: every command has one handler, and replay finds each command by
the event it records."""

from __future__ import annotations

from leadflow.domain.commands import COMMANDS, LeadCommand, command_for_event
from leadflow.domain.events import EVENT_TYPES
from leadflow.service.handlers import HANDLERS


def test_every_command_has_exactly_one_handler_and_every_handler_a_listed_command() -> None:
    assert set(HANDLERS) == set(COMMANDS)
    assert len(COMMANDS) == len(set(COMMANDS))


def test_every_command_has_its_own_name() -> None:
    names = [command.NAME for command in COMMANDS]

    assert len(names) == len(set(names))


def test_replay_finds_each_lead_command_by_the_event_it_records() -> None:
    recorded = [c for c in COMMANDS if issubclass(c, LeadCommand) and c.RECORDS is not None]

    assert recorded  # the list is not empty by accident
    for command in recorded:
        assert command.RECORDS in EVENT_TYPES, command
        assert command_for_event(command.RECORDS) is command
    assert command_for_event("LeadTeleported") is None
