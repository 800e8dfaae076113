"""Figures of a large store that run alone, so that each fits one short quiet run at
1,000,000 leads (``--only first_build``, ``--only memory_rebuild``, ``--only
memory_import``):

* ``first_build``: the first build of every read model inside the database (what
  ``rebuild`` measures first), events/s, against a raw scan + JSON decode of the same
  events in the same run, and its peak RSS; without ``rebuild``'s two slower runs through
  the per-event handlers (a full rebuild and a catch-up), which take most of its time.
* ``memory_rebuild`` / ``memory_import``: the halves of ``memory`` (peak RSS at the size
  against a tenth of it, each in a fresh child process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import readside

__all__ = ["first_build", "memory_import", "memory_rebuild"]


def first_build(size: int, workdir: Path, db: str | None = None) -> list[dict[str, Any]]:
    s = readside.store(size, workdir, db)
    raw_count, raw_seconds = readside._raw_scan(s.url)
    baseline = raw_count / raw_seconds
    result = readside.rebuilt(s.url)
    s.built = True
    rate = result["events"] / result["seconds"]
    return [
        {
            "figure": f"raw scan + JSON decode of {raw_count:,} lead events, events/s "
            f"({raw_seconds:,.1f} s)",
            "value": baseline,
        },
        {
            "figure": f"first build of every read model, inside the database, events/s "
            f"({result['events']:,} events, {result['seconds']:,.1f} s)",
            "value": rate,
            "baseline": baseline,
            "ratio": rate / baseline,
            "target": ">= 1.0x",
            "met": rate >= baseline,
        },
        {"figure": "peak RSS of that build, MB", "value": result["peak_rss_mb"], "unit": "MB"},
    ]


def memory_rebuild(size: int, workdir: Path, db: str | None = None) -> list[dict[str, Any]]:
    return readside.peak_memory("rebuild", size, workdir, db)


def memory_import(size: int, workdir: Path, db: str | None = None) -> list[dict[str, Any]]:
    return readside.peak_memory("import", size, workdir, db)
