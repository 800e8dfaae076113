"""The store's record of which pipeline version was activated, when, and by whom.

Each activation is an event holding the whole validated pipeline document, so the
rules behind any past decision can be read back from its ``pipeline_version``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson

from leadflow.domain.aggregate import Aggregate
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


register_events(PipelineActivated)


@dataclass(eq=False)
class PipelineLog(Aggregate[PipelineActivated]):
    """Every pipeline version activated, in order; the last one is in force."""

    FAMILY: ClassVar[str] = "leadflow.org"

    id: UUID = PIPELINE_LOG_ID
    versions: dict[str, Pipeline] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    activated_at: list[datetime] = field(default_factory=list)
    """When each entry of ``history`` was recorded."""

    def _apply(self, event: PipelineActivated) -> None:
        data: Any = event.data
        pipeline = parse_pipeline(data.document, "stored pipeline")
        # The recorded hash names this pipeline for good: a later schema that adds keys with
        # defaults (e.g. [scoring]) would hash the same document differently.
        pipeline.__dict__["_version"] = data.version
        self.versions[data.version] = pipeline
        self.history.append(data.version)
        self.activated_at.append(event.timestamp)

    @property
    def current(self) -> Pipeline | None:
        return self.versions[self.history[-1]] if self.history else None

    def in_force_at(self, known_at: datetime) -> Pipeline | None:
        """The version in force at recording instant ``known_at`` (``None``: none yet)."""
        chosen: Pipeline | None = None
        for version, at in zip(self.history, self.activated_at, strict=True):
            if at > known_at:
                break
            chosen = self.versions[version]
        return chosen

    def find(self, version: str) -> Pipeline:
        """The version named by its hash or a unique prefix of it (at least 4 characters)."""
        from leadflow.errors import InvalidInput

        if len(version) < 4:
            raise InvalidInput("version", "give at least 4 characters of the version")
        found = [v for v in self.versions if v.startswith(version)]
        if not found:
            raise InvalidInput("version", f"no pipeline version {version!r} was ever activated")
        if len(found) > 1:
            raise InvalidInput("version", f"{version!r} is ambiguous: {', '.join(found)}")
        return self.versions[found[0]]

    def activate(self, pipeline: Pipeline, ctx: Context) -> bool:
        """Record ``pipeline`` as the one in force; False if it already is."""
        if self.history and self.history[-1] == pipeline.version:
            return False
        data = PipelineActivatedData(
            version=pipeline.version,
            name=pipeline.name,
            document=orjson.loads(pipeline.canonical_json()),
        )
        self._trigger(PipelineActivated, data, ctx)
        return True
