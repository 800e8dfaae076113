"""How a duration reads, in recorded reasons and in every human output: ``7d``, ``2d 3h``.

One function, so that a reason the engine recorded ("no follow-up within 5d") and what
the CLI prints about the same rule read the same way.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["span"]

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def span(value: timedelta) -> str:
    """``7d``, ``2d 3h``, ``45m``, ``30s``: the two largest non-zero whole units (a person
    reading "2d 3h" does not need the minutes; the JSON outputs keep exact seconds)."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    parts = []
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + (" ".join(parts[:2]) or "0s")
