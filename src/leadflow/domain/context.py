"""Who acts, and when: the context every domain command is given.

Commands never read a clock: the caller (a use case) passes business time
(``occurred_at``, which may be backdated) and recording time (``recorded_at``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from leadflow.domain.bounds import EARLIEST, ID_MAX, check_line, check_occurred_at, check_time
from leadflow.errors import InvalidInput

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """Who acts, and when: business time (``occurred_at``) and recording time."""

    actor: str
    occurred_at: datetime
    recorded_at: datetime

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise InvalidInput("actor", "must not be empty")
        check_line("actor", self.actor, ID_MAX)
        if self.recorded_at.tzinfo is None:
            raise InvalidInput("recorded_at", "must include a UTC offset")
        # Not before 1970 (a read model stores every time).
        check_time("recorded_at", self.recorded_at, EARLIEST, max(self.recorded_at, EARLIEST))
        # At most the clock skew after the recording time (the caller's "now").
        check_occurred_at("occurred_at", self.occurred_at, self.recorded_at)

    def as_rule(self, rule_id: str) -> Context:
        return replace(self, actor=f"system:{rule_id}")
