"""The errors leadflow raises, one class per thing a caller can do something about."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

__all__ = [
    "ConcurrencyConflict",
    "Conflict",
    "IllegalTransition",
    "InvalidInput",
    "KeyUnavailable",
    "LeadNotFound",
    "LeadflowError",
    "NotPermitted",
    "PipelineInvalid",
    "StoreNotFound",
    "UndecodableEvent",
]


class LeadflowError(Exception):
    """Base class of every error leadflow raises on purpose."""


class InvalidInput(LeadflowError):
    """A command's input is invalid; ``field`` names the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class PipelineInvalid(LeadflowError):
    """A pipeline file failed validation; each problem names its key."""

    def __init__(self, problems: Sequence[tuple[str, str]], source: str = "pipeline") -> None:
        lines = "\n".join(f"  {key}: {reason}" for key, reason in problems)
        super().__init__(f"invalid {source}:\n{lines}")
        self.problems = list(problems)


class IllegalTransition(LeadflowError):
    """A stage or status change the pipeline does not allow."""

    def __init__(
        self, kind: str, from_: str, to: str, allowed: Sequence[str], rule: str | None = None
    ) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none"
        by = f" (automation rule {rule!r})" if rule else ""
        super().__init__(
            f"illegal {kind} change{by}: {from_} -> {to}; allowed from {from_}: {allowed_text}"
        )
        self.kind = kind
        self.from_ = from_
        self.to = to
        self.allowed = list(allowed)
        self.rule = rule


class Conflict(LeadflowError):
    """The request conflicts with what another writer did (exit code 3 in the CLI)."""


class ConcurrencyConflict(Conflict):
    """Another writer changed the same lead first; reload and retry."""

    def __init__(self, lead_id: UUID | str, detail: str = "") -> None:
        super().__init__(
            f"lead {lead_id} was changed by another writer; reload and retry"
            + (f" ({detail})" if detail else "")
        )
        self.lead_id = lead_id


class LeadNotFound(LeadflowError):
    def __init__(self, lead_id: UUID | str) -> None:
        super().__init__(f"lead {lead_id} not found")
        self.lead_id = lead_id


class NotPermitted(LeadflowError):
    """The actor may not do this; ``allowed`` says who may (exit code 6 in the CLI)."""

    def __init__(self, actor: str, action: str, allowed: Sequence[str], why: str = "") -> None:
        who = ", ".join(allowed) if allowed else "nobody"
        super().__init__(
            f"{actor} may not {action}" + (f": {why}" if why else "") + f" (who may: {who})"
        )
        self.actor = actor
        self.action = action
        self.allowed = list(allowed)


class UndecodableEvent(LeadflowError):
    """An event in the log that this release cannot decode (recorded by an older one
    before a bound was enforced): named, so that a reader can report it and go on."""

    def __init__(self, position: int, aggregate_id: UUID | str, topic: str, error: str) -> None:
        super().__init__(f"event at position {position} ({topic}) cannot be read: {error}")
        self.position = position
        self.aggregate_id = aggregate_id
        self.topic = topic
        self.error = error


class StoreNotFound(LeadflowError):
    """No store at the URL (exit code 4): only ``init``, ``demo`` and ``import`` create one,
    so that a typo in a path never answers zeros from a new, empty store."""

    def __init__(self, url: str) -> None:
        super().__init__(f"no store at {url}; create it with leadflow init")
        self.url = url


class KeyUnavailable(LeadflowError):
    """Personal data cannot be read or written: the master key is missing or is not this
    keystore's, or the keystore holds no key for a lead (exit code 6 in the CLI)."""
