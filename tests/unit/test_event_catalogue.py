"""docs/events.md agrees with the event classes."""

from __future__ import annotations

from pathlib import Path

import leadflow.service.application  # noqa: F401  (registers organisation-level, roster and key events)
from leadflow.catalogue import BEGIN, END, render_tables
from leadflow.domain.events import TOPICS

CATALOGUE = Path(__file__).parents[2] / "docs" / "events.md"


def test_the_catalogue_lists_every_event_with_its_fields_and_version() -> None:
    text = CATALOGUE.read_text(encoding="utf-8")
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()

    assert generated == render_tables().strip(), (
        "docs/events.md is stale: run .venv/bin/python -m leadflow.catalogue docs/events.md"
    )


def test_every_event_and_every_field_is_described() -> None:
    for cls in TOPICS.values():
        assert cls.__doc__, cls
        assert not cls.__doc__.startswith(cls.__name__ + "("), f"{cls.TYPE} has no docstring"
        for name, info in cls.DATA.model_fields.items():
            assert info.description, f"{cls.TYPE}.{name} has no description"
