"""The event catalogue, rendered from the event classes themselves.

``docs/events.md`` embeds :func:`render_tables` between markers; a test fails when the
two disagree. Regenerate with ``python -m leadflow.catalogue docs/events.md``.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from leadflow.domain.events import TOPICS, RecordedEvent

__all__ = ["BEGIN", "END", "render_tables", "update_document"]

BEGIN = "<!-- BEGIN GENERATED: event tables (python -m leadflow.catalogue docs/events.md) -->"
END = "<!-- END GENERATED -->"


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return " \\| ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return " \\| ".join(f'"{arg}"' for arg in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "null"
    name = getattr(annotation, "__name__", str(annotation))
    return {"datetime": "datetime (ISO 8601)", "UUID": "uuid", "ActivityKind": "str (activity)",
            "ActivityCategory": "str (category)"}.get(name, name)  # fmt: skip


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|").replace("``", "`")


def render_event(cls: type[RecordedEvent[Any]]) -> str:
    lines = [f"### {cls.TYPE} (v{cls.VERSION})", ""]
    lines.append(f"Topic `{cls.topic()}`.")
    doc = inspect.getdoc(cls)
    if doc and not doc.startswith(cls.__name__ + "("):
        lines.append(_one_line(doc))
    lines += [
        "",
        "| field | type | required | personal | description |",
        "|---|---|---|---|---|",
    ]
    for name, info in cls.DATA.model_fields.items():
        required = "yes" if info.is_required() else "no"
        description = _one_line(info.description or "")
        kind = _type_name(info.annotation)
        lines.append(f"| `{name}` | {kind} | {required} | {_personal(cls, name)} | {description} |")
    return "\n".join(lines)


def _personal(cls: type[RecordedEvent[Any]], name: str) -> str:
    """How the field is personal (``leadflow.domain.personal_data``): blank if it is not."""
    if name in cls.PERSONAL:
        return "**personal**"
    if f"{name}.*" in cls.PERSONAL:
        if name == "changes":
            return "**personal** (personal fields' and attributes' changes)"
        return "**personal** (values of `[personal_data] attributes`)"
    return ""


def render_tables() -> str:
    families: dict[str, list[type[RecordedEvent[Any]]]] = {}
    for cls in TOPICS.values():
        families.setdefault(cls.FAMILY, []).append(cls)
    parts = []
    # Lead events first, then other families by name: the order modules were imported
    # in (which registers them) must not change the document.
    for family, classes in sorted(families.items(), key=lambda f: (f[0] != "leadflow.lead", f[0])):
        parts.append(f"## Family `{family}`")
        parts.extend(render_event(cls) for cls in classes)
    return "\n\n".join(parts)


def update_document(text: str) -> str:
    before, _, rest = text.partition(BEGIN)
    _, _, after = rest.partition(END)
    return f"{before}{BEGIN}\n\n{render_tables()}\n\n{END}{after}"


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    import leadflow.service.application  # noqa: F401  (registers org-level, roster and key events)

    target = Path(sys.argv[1])
    target.write_text(update_document(target.read_text(encoding="utf-8")), encoding="utf-8")
