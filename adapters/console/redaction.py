"""Personal fields hidden from a viewer who may not read them.

Which fields are personal is the domain's :data:`leadflow.domain.lead.PERSONAL_FIELDS`;
who may read them is :func:`leadflow.domain.permissions.may_read_personal_data`. Here
they are only applied: to a lead's view and to its events' payloads (a capture's
fields, a profile update's changes).
"""

from __future__ import annotations

from typing import Any

from leadflow.domain.lead import PERSONAL_FIELDS

__all__ = ["HIDDEN", "redact_event_data", "redact_view"]

HIDDEN = "(hidden)"


def redact_view(view: dict[str, Any]) -> dict[str, Any]:
    return {k: (HIDDEN if k in PERSONAL_FIELDS and v is not None else v) for k, v in view.items()}


def redact_event_data(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: (HIDDEN if k in PERSONAL_FIELDS and v is not None else v) for k, v in data.items()}
    changes = data.get("changes")
    if isinstance(changes, dict):
        out["changes"] = {
            k: (HIDDEN if k in PERSONAL_FIELDS and v is not None else v) for k, v in changes.items()
        }
    return out
