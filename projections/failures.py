"""Events a read model could not apply: recorded, reported, never skipped in silence.

When a projection raises on a batch, the runner finds the first event it fails on
(applying the batch's events one at a time in a transaction it rolls back), applies the
events before it, and records the failure here: the read model stays at the position
before the bad event, the other read models go on, and ``leadflow projections`` and
``leadflow doctor`` name it. The row is removed once the read model moves past the
event (a fixed release, a rebuild).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from leadflow.errors import LeadflowError
from leadflow.projections._sql import READ_MODELS, Timestamp

__all__ = ["FAILURES", "ProjectionFailed", "ProjectionFailure", "clear", "failures", "record"]

FAILURES = sa.Table(
    "lf_projection_failures",
    READ_MODELS,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("lead_id", sa.String(36), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", Timestamp, nullable=False),
)


@dataclass(frozen=True)
class ProjectionFailure:
    name: str
    position: int
    event_id: str
    event_type: str
    lead_id: str
    error: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "position": self.position,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "lead_id": self.lead_id,
            "error": self.error,
        }


class ProjectionFailed(LeadflowError):
    """A read model stopped before an event it cannot apply (the others went on)."""

    def __init__(self, failed: list[ProjectionFailure]) -> None:
        parts = [
            f"{f.name} stopped before position {f.position} (event {f.event_id}, "
            f"{f.event_type}): {f.error}"
            for f in failed
        ]
        super().__init__(
            "read model behind the log: " + "; ".join(parts) + " (see leadflow doctor)"
        )
        self.failed = failed


def record(conn: sa.Connection, failure: ProjectionFailure) -> None:
    conn.execute(FAILURES.delete().where(FAILURES.c.name == failure.name))
    conn.execute(
        FAILURES.insert().values(
            name=failure.name,
            position=failure.position,
            event_id=failure.event_id,
            event_type=failure.event_type,
            lead_id=failure.lead_id,
            error=failure.error[:4000],
            failed_at=datetime.now(UTC),
        )
    )


def clear(conn: sa.Connection, name: str, past: int | None = None) -> None:
    """Forget ``name``'s failure (only one at or before ``past``, if given)."""
    condition = FAILURES.c.name == name
    if past is not None:
        condition = condition & (FAILURES.c.position <= past)
    conn.execute(FAILURES.delete().where(condition))


def failures(conn: sa.Connection) -> list[ProjectionFailure]:
    rows = conn.execute(sa.select(FAILURES).order_by(FAILURES.c.name)).mappings().all()
    return [
        ProjectionFailure(
            name=row["name"],
            position=int(row["position"]),
            event_id=row["event_id"],
            event_type=row["event_type"],
            lead_id=row["lead_id"],
            error=row["error"],
        )
        for row in rows
    ]
