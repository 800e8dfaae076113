"""Personal fields hidden from a viewer who may not read them.

Which fields are personal is declared once (each event class's ``PERSONAL``, see
:mod:`leadflow.domain.personal_data`; a record lists its personal paths in ``personal``);
who may read them is :func:`leadflow.domain.permissions.may_read_personal_data`. Here
they are only applied: to a lead's view and to its events' payloads (a capture's
fields, a profile update's changes).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from leadflow.domain.personal_data import LEAD_FIELDS, mark

__all__ = ["HIDDEN", "redact_event_data", "redact_view"]

HIDDEN = "(hidden)"


def redact_view(view: dict[str, Any]) -> dict[str, Any]:
    return {k: (HIDDEN if k in LEAD_FIELDS and v is not None else v) for k, v in view.items()}


def redact_event_data(data: dict[str, Any], personal: Sequence[str]) -> dict[str, Any]:
    """``data`` with each personal path (``EventRecord.personal``) hidden."""
    return mark(copy.deepcopy(data), personal, HIDDEN)
