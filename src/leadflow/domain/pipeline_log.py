"""The store's record of which pipeline version was activated, when, and by whom.

Each activation is an event holding the whole validated pipeline document, so the
rules behind any past decision can be read back from its ``pipeline_version``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson

from leadflow.domain.context import Context
from leadflow.domain.events import Payload, RecordedEvent, register_events
from leadflow.domain.pipeline import Pipeline, parse_pipeline

__all__ = ["PIPELINE_LOG_ID", "PipelineActivated", "PipelineLog"]

PIPELINE_LOG_ID = uuid5(NAMESPACE_URL, "https://leadflow.dev/pipeline-log")


class PipelineActivatedData(Payload):
    version: str
    """The pipeline's content hash, as recorded by every decision made under it."""
    name: str
    """The pipeline's name."""
    document: dict[str, Any]
    """The validated pipeline, as JSON."""


@dataclass(frozen=True, kw_only=True)
class PipelineActivated(RecordedEvent[PipelineActivatedData]):
    """A pipeline version was put in force; it holds the whole validated document."""

    FAMILY = "leadflow.org"
    TYPE = "PipelineActivated"
    DATA = PipelineActivatedData

    def mutate(self, aggregate: PipelineLog | None) -> PipelineLog:
        log = aggregate if aggregate is not None else PipelineLog(id=self.originator_id)
        if self.originator_version != log.version + 1:
            raise ValueError(
                f"event version {self.originator_version} does not follow {log.version}"
            )
        pipeline = parse_pipeline(self.data.document, "stored pipeline")
        # The recorded hash names this pipeline for good: a later schema that adds keys with
        # defaults (e.g. [scoring]) would hash the same document differently.
        pipeline.__dict__["_version"] = self.data.version
        log.versions[self.data.version] = pipeline
        log.history.append(self.data.version)
        log.version = self.originator_version
        return log


register_events(PipelineActivated)


@dataclass(eq=False)
class PipelineLog:
    id: UUID = PIPELINE_LOG_ID
    version: int = 0
    versions: dict[str, Pipeline] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    _pending: list[PipelineActivated] = field(default_factory=list, repr=False)

    @property
    def current(self) -> Pipeline | None:
        return self.versions[self.history[-1]] if self.history else None

    def activate(self, pipeline: Pipeline, ctx: Context) -> bool:
        """Record ``pipeline`` as the one in force; False if it already is."""
        if self.history and self.history[-1] == pipeline.version:
            return False
        event = PipelineActivated(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=ctx.recorded_at,
            occurred_at=ctx.occurred_at,
            actor=ctx.actor,
            data=PipelineActivatedData(
                version=pipeline.version,
                name=pipeline.name,
                document=orjson.loads(pipeline.canonical_json()),
            ),
        )
        event.mutate(self)
        self._pending.append(event)
        return True

    def collect_events(self) -> list[PipelineActivated]:
        events, self._pending = self._pending, []
        return events
