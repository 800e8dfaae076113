"""A pipeline stored before the policy sections existed keeps the version it was recorded as."""

from __future__ import annotations

from leadflow.domain.context import Context
from leadflow.domain.pipeline_log import PipelineLog

from support.clock import FakeClock
from support.pipelines import default_document, pipeline_with


def test_a_stored_pipeline_without_policy_sections_keeps_its_recorded_version(
    clock: FakeClock,
) -> None:
    document = default_document()
    for section in ("scoring", "recycling", "sla"):
        document.pop(section)
    old = pipeline_with(**dict.fromkeys(("scoring", "recycling", "sla")))
    log = PipelineLog()
    ctx = Context(actor="user:test", occurred_at=clock.now, recorded_at=clock.now)
    log.activate(old, ctx)
    [event] = log.collect_events()
    # as an older release recorded it: no policy keys in the document, another hash
    stored = type(event)(
        originator_id=event.originator_id,
        originator_version=1,
        timestamp=event.timestamp,
        occurred_at=event.occurred_at,
        actor=event.actor,
        data=event.data.model_copy(update={"document": document, "version": "0ld0ld0ld0ld0ld0"}),
    )
    replayed = stored.mutate(None)
    assert replayed.current is not None
    assert replayed.current.version == "0ld0ld0ld0ld0ld0"
    assert replayed.versions["0ld0ld0ld0ld0ld0"].scoring.mql is None
