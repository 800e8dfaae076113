"""Read models that copy free text (notes, reasons) forget it when a lead is erased.

The events themselves read ``[erased]`` once the lead's data key is destroyed, so a
rebuilt read model holds nothing; this overwrites the rows written before the erasure.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from leadflow.domain.personal_data import ERASED
from leadflow.service.codec import EventRecord

__all__ = ["erase_columns"]


def erase_columns(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], records: Sequence[EventRecord]
) -> None:
    """Set ``columns`` of the erased leads' rows of ``table`` to ``[erased]`` (empty stays
    empty), for each ``PersonalDataErased`` among ``records``."""
    erased = sorted({str(r.lead_id) for r in records if r.type == "PersonalDataErased"})
    if not erased:
        return
    for name in columns:
        column = table.c[name]
        conn.execute(
            sa.update(table)
            .where(table.c.lead_id.in_(erased), column.is_not(None))
            .values({name: ERASED})
        )
