"""How the CLI writes user text, times and durations for people.

User text (names, reasons, attributes, actors, rep ids, labels) is printed literally:
never read as Rich markup, and with control characters shown as escapes (``\u001b``,
``\n``), so that no value can break or restyle a terminal (:func:`escape`,
:class:`SafeConsole`, :func:`cell`). Every command prints through these.

Times and durations: one human format and one ISO format.

People read ``2026-01-05 09:00 UTC`` and ``2d 3h``; machines read ISO 8601 with a numeric
offset (``+00:00``, never ``Z``, so that every time leadflow prints parses the same way
with ``datetime.fromisoformat`` on any Python and compares equal as text).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.text import Text

from leadflow.domain.durations import span

__all__ = ["SafeConsole", "cell", "escape", "human_duration", "human_time", "iso_time"]

_SHOWN = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(value: str) -> str:
    """``value`` with every non-printable character (control, format, separator and
    surrogate characters) written as an escape; printable text is left as it is."""
    if value.isprintable():
        return value
    parts = []
    for char in value:
        if char.isprintable():
            parts.append(char)
        elif char in _SHOWN:
            parts.append(_SHOWN[char])
        else:  # \uXXXX: also a valid escape inside the JSON that commands print
            parts.append(f"\\u{ord(char):04x}")
    return "".join(parts)


def cell(value: object) -> Text:
    """A table cell of user text: literal, escaped."""
    return Text(escape(str(value)))


class SafeConsole(Console):
    """A console that never reads markup and escapes control characters in every string
    it is given (table cells and titles included). Styled output is built from
    :class:`~rich.text.Text` on purpose."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("highlight", False)
        kwargs.setdefault("emoji", False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs["markup"] = False
        kwargs["emoji"] = False
        # Line breaks stay (messages span lines); user values that must stay on one line
        # are escaped by their command (``escape``, ``cell``).
        return super().render_str("\n".join(escape(line) for line in text.split("\n")), **kwargs)


def _aware(value: datetime) -> datetime:
    # leadflow reads a time without an offset as UTC (see ``cli_support.parse_time``).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def human_time(value: datetime) -> str:
    """``2026-01-05 09:00 UTC``, always in UTC; seconds only when they are not zero."""
    utc = _aware(value).astimezone(UTC)
    shown = utc.strftime("%Y-%m-%d %H:%M:%S" if utc.second else "%Y-%m-%d %H:%M")
    return f"{shown} UTC"


def human_duration(value: timedelta) -> str:
    """``7d``, ``2d 3h``, ``45m``, ``30s``: the engine's own
    :func:`~leadflow.domain.durations.span`."""
    return span(value)


def iso_time(value: datetime) -> str:
    """ISO 8601 with its offset (``+00:00`` for UTC); microseconds only when there are any."""
    return _aware(value).isoformat()
