"""Personal values hidden from a reader who may not read them: the console and the HTTP API.

Which values are personal is declared once (each event class's ``PERSONAL``, the lead's
profile fields and the pipeline's ``[personal_data] attributes``, see
:mod:`leadflow.domain.personal_data`; a record lists its personal paths in ``personal``);
who may read them is :func:`leadflow.domain.permissions.may_read_personal_data`. Here
they are only applied, with the marker the reader shows: ``(hidden)`` on the console's
pages, ``[personal]`` (as ``leadflow events --redact``) in the API's JSON.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from typing import Any

from leadflow.domain.personal_data import REDACTED, lead_personal_fields, mark

__all__ = ["HIDDEN", "REDACTED", "redact_event_data", "redact_view"]

HIDDEN = "(hidden)"
"""The console's marker for a value its viewer may not read."""


def redact_view(
    view: dict[str, Any], attributes: Collection[str], marker: str = HIDDEN
) -> dict[str, Any]:
    """A lead's view (``LeadView`` as JSON) with each personal value that it holds
    (profile fields, and the ``attributes`` the pipeline marks personal) as ``marker``."""
    paths = lead_personal_fields(view, view.get("attributes") or {}, attributes)
    return mark(copy.deepcopy(view), paths, marker)


def redact_event_data(
    data: dict[str, Any], personal: Sequence[str], marker: str = HIDDEN
) -> dict[str, Any]:
    """``data`` with each personal path (``EventRecord.personal``) as ``marker``."""
    return mark(copy.deepcopy(data), personal, marker)
