"""Ownership: whom an open lead counts for, and whether it waits in the public pool.

These two rules are the only definitions of a rep's load and of pool membership. The
lead aggregate, the unit of work that keeps the roster's loads, the ``lf_leads`` read
model and the pool command all ask these functions; none restates them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol
from uuid import UUID

__all__ = ["OwnershipFacts", "counts_for", "in_pool", "is_open"]


class OwnershipFacts(Protocol):
    """What the rules read of a lead: a :class:`~leadflow.domain.lead.Lead` or a read-model row."""

    @property
    def owner(self) -> str | None: ...
    @property
    def stage(self) -> str: ...
    @property
    def merged_into(self) -> UUID | str | None: ...
    @property
    def erased(self) -> bool: ...


def is_open(lead: OwnershipFacts, closed_stages: Collection[str]) -> bool:
    """Still being worked: not merged away, not erased, not in a closed stage."""
    return lead.merged_into is None and not lead.erased and lead.stage not in closed_stages


def counts_for(lead: OwnershipFacts, closed_stages: Collection[str]) -> str | None:
    """The rep this lead counts toward as an open lead (their load), if any.

    ``closed_stages`` is the pipeline's ``assignment.closed_stages``: a customer or a
    disqualified lead is nobody's work in progress, even while someone still owns it.
    """
    if lead.owner is None or not is_open(lead, closed_stages):
        return None
    return lead.owner


def in_pool(lead: OwnershipFacts, closed_stages: Collection[str]) -> bool:
    """Waiting in the public pool: open and owned by nobody, so any rep may claim it."""
    return lead.owner is None and is_open(lead, closed_stages)
