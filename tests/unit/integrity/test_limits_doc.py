"""docs/cli.md's Limits table and the constants of ``leadflow.domain.bounds`` cannot drift:
every constant is in the table with its value, and the table names no other."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from leadflow.domain import bounds

DOC = Path(__file__).parents[3] / "docs" / "cli.md"


def shown(value: object) -> str:
    """How the doc writes a limit's value."""
    if isinstance(value, frozenset):
        return f"{len(value)} ISO 4217 codes"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, timedelta):
        return f"{value.days}d" if value.days else f"{int(value.total_seconds() // 60)} min"
    if isinstance(value, float) and value.is_integer() and value < 1e9:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:g}"
    return f"{value:,}"


def test_the_limits_table_lists_every_bound_with_its_value() -> None:
    section = DOC.read_text(encoding="utf-8").split("## Limits", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| `([A-Z_0-9]+)` \| ([^|]+?) \|", section, re.MULTILINE))
    constants = {name: shown(getattr(bounds, name)) for name in bounds.__all__ if name.isupper()}
    assert table == constants
