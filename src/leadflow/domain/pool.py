"""The public pool's claim rules: the claim day and the daily claim limit.

Whether a lead is in the pool at all is :func:`leadflow.domain.ownership.in_pool`; the wait
before a rep may claim back a lead they lost is the lead's own rule (``Lead.claim``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from leadflow.domain.pipeline import Pipeline
from leadflow.domain.roster import Roster
from leadflow.errors import InvalidInput

__all__ = ["check_claim_limit", "claim_day"]


def claim_day(at: datetime, pipeline: Pipeline) -> str:
    """The claim day of instant ``at``: its date in ``pool.day_timezone``.

    Limits are per local day, not per UTC day: a rep in Shanghai starts a fresh day at
    midnight Shanghai time.
    """
    return at.astimezone(ZoneInfo(pipeline.pool.day_timezone)).date().isoformat()


def check_claim_limit(roster: Roster, rep: str, at: datetime, pipeline: Pipeline) -> int:
    """Refuse a claim past ``pool.daily_claim_limit``; returns the claims today with this one.

    The count lives on the roster and is saved with the claimed lead: two claims racing
    past the limit conflict in the store, and the retry (on a fresh read) is refused.
    """
    day = claim_day(at, pipeline)
    used = roster.claims_on(rep, day)
    limit = pipeline.pool.daily_claim_limit
    if limit is not None and used >= limit:
        raise InvalidInput(
            "owner", f"{rep} has claimed {used} leads on {day}; pool.daily_claim_limit is {limit}"
        )
    return used + 1
