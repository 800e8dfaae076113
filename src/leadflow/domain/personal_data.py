"""What is personal data, declared once, and how a payload is split along it.

Each event class declares its personal fields in ``PERSONAL`` (see
:mod:`leadflow.domain.events`). A declaration is a field name (``"email"``), or a field
holding a dict with ``.*``:

- ``attributes.*``: the values of the attributes the pipeline marks personal
  (``[personal_data] attributes``, default :data:`DEFAULT_ATTRIBUTES`);
- ``changes.*``: the changes (``ProfileUpdated``) of a personal profile field
  (:data:`LEAD_FIELDS`) or of a personal attribute (``attributes.<name>``).

A *path* names one personal value of one payload: ``email``, ``attributes.linkedin``,
``changes.attributes.linkedin`` (the field, a dot, then the key within it). The storage
layer encrypts the values at these paths under the lead's data key; what is left of the
payload stays plain JSON. A reader without the key sees :data:`ERASED` (the key was
destroyed) or :data:`REDACTED` (it asked for the log without personal data) at each path,
never the value and never garbage.

Pure functions over JSON dicts: no I/O, no crypto (that is the service layer's).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_ATTRIBUTES",
    "ERASED",
    "LEAD_FIELDS",
    "REDACTED",
    "drop",
    "lead_personal_fields",
    "mark",
    "personal_paths",
    "put",
    "take",
]

ERASED = "[erased]"
"""What a reader sees in place of a personal value whose data key was destroyed."""
REDACTED = "[personal]"
"""What a reader sees in place of a personal value it asked not to see (``--redact``)."""

LEAD_FIELDS = ("email", "phone", "wechat", "name", "company")
"""The lead's personal profile fields (``source`` and ``campaign`` are not personal)."""

DEFAULT_ATTRIBUTES = (
    "linkedin",
    "twitter",
    "facebook",
    "instagram",
    "website",
    "address",
    "postcode",
    "birthday",
    "mobile",
    "personal_email",
    "national_id",
)
"""Attributes personal unless the pipeline's ``[personal_data] attributes`` says otherwise."""


def _split(path: str) -> tuple[str, str | None]:
    field, _, key = path.partition(".")
    return field, key or None


def _personal_change(key: str, attributes: Collection[str]) -> bool:
    if key.startswith("attributes."):
        return key.removeprefix("attributes.") in attributes
    return key in LEAD_FIELDS


def personal_paths(
    declared: Iterable[str], data: Mapping[str, Any], attributes: Collection[str]
) -> list[str]:
    """The paths of ``data`` (a payload as JSON) that hold a personal value, in a stable
    order; a field that is absent or ``None`` holds none."""
    paths: list[str] = []
    for spec in declared:
        field, key = _split(spec)
        value = data.get(field)
        if value is None:
            continue
        if key is None:
            paths.append(field)
            continue
        assert key == "*", f"a personal-field declaration is 'name' or 'name.*', not {spec!r}"
        assert isinstance(value, dict), f"{field} holds no dict"
        paths += [
            f"{field}.{k}"
            for k in sorted(value)
            if value[k] is not None
            and (_personal_change(k, attributes) if field == "changes" else k in attributes)
        ]
    return paths


def take(data: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Remove the values at ``paths`` from ``data`` and return them by path."""
    taken: dict[str, Any] = {}
    for path in paths:
        field, key = _split(path)
        if key is None:
            taken[path] = data.pop(field)
        else:
            taken[path] = data[field].pop(key)
    return taken


def put(data: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Put ``values`` (by path) back into ``data``; the inverse of :func:`take`."""
    for path, value in values.items():
        field, key = _split(path)
        if key is None:
            data[field] = value
        else:
            data.setdefault(field, {})[key] = value
    return data


def mark(data: dict[str, Any], paths: Iterable[str], marker: str) -> dict[str, Any]:
    """Put ``marker`` (:data:`ERASED`, :data:`REDACTED`) at each path of ``data``."""
    return put(data, dict.fromkeys(paths, marker))


def drop(data: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Remove each path from ``data`` (what the stream sends with ``personal_data = "omit"``)."""
    for path in paths:
        field, key = _split(path)
        if key is None:
            data.pop(field, None)
        elif isinstance(data.get(field), dict):
            data[field].pop(key, None)
    return data


def lead_personal_fields(
    profile: Mapping[str, str | None],
    lead_attributes: Mapping[str, str],
    attributes: Collection[str],
) -> list[str]:
    """The lead's personal fields that hold a value (what an erasure clears): profile
    fields, then ``attributes.<name>`` for each personal attribute."""
    fields = [name for name in LEAD_FIELDS if profile.get(name) is not None]
    return fields + [f"attributes.{k}" for k in sorted(lead_attributes) if k in attributes]
