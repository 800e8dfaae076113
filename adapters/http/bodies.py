"""Request and response bodies of the HTTP API.

A command's request body is derived from the command itself (its fields, types and
bounds: :mod:`leadflow.domain.commands` stays the one list), less the lead id, which
is in the path. The body only shapes the JSON; the values are then validated once, by
the same boundary every way in uses (:meth:`leadflow.service.application.Leadflow.
validate`), whose errors name the field.
"""

from __future__ import annotations

from typing import Any, Optional
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from leadflow.domain.commands import Command
from leadflow.service.unit_of_work import CommandResult

__all__ = [
    "CaptureResponse",
    "CommandResponse",
    "RecordedEvent",
    "body_model",
    "command_response",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def body_model(
    command: type[Command],
    *,
    without: tuple[str, ...] = ("lead_id",),
    optional: tuple[str, ...] = (),
) -> type[BaseModel]:
    """The JSON body of ``command``: its fields less ``without``; ``optional`` ones may be
    left out (the endpoint fills them in)."""
    fields: dict[str, Any] = {}
    for name, info in command.model_fields.items():
        if name in without:
            continue
        if name in optional:
            copied = FieldInfo.merge_field_infos(info, default=None)
            fields[name] = (Optional[info.annotation], copied)  # noqa: UP045
        else:
            fields[name] = (info.annotation, info)
    model: type[BaseModel] = create_model(
        f"{command.__name__}Body", __base__=_Body, __doc__=command.__doc__, **fields
    )
    return model


class RecordedEvent(BaseModel):
    position: int = Field(description="The event's position in the log.")
    type: str
    actor: str


class CommandResponse(BaseModel):
    """What a command recorded (the same as the CLI's ``--json``)."""

    lead_id: UUID = Field(description="The lead (or, for roster commands, the roster).")
    version: int
    events: list[RecordedEvent]


class CaptureResponse(CommandResponse):
    created: bool = Field(
        description="true: a new lead (201); false: dedupe matched an existing lead (200)."
    )


def command_response(result: CommandResult) -> dict[str, Any]:
    return {
        "lead_id": str(result.lead_id),
        "version": result.version,
        "events": [
            {"position": e.position, "type": e.type, "actor": e.actor} for e in result.events
        ],
    }
