"""The pipeline in force drawn as a diagram, its version history, and a diff of two.

Labels are the pipeline's own, in the page's language. The diff is
:func:`leadflow.domain.pipeline_change.diff`, what ``leadflow pipeline diff`` prints.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from leadflow.adapters.console.charts import pipeline_diagram
from leadflow.adapters.console.web import error_page, render, sign_in_redirect, viewer_of
from leadflow.domain.pipeline_change import diff as pipeline_diff
from leadflow.domain.pipeline_log import PIPELINE_LOG_ID, PipelineActivated
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.i18n import label_of, stage_labels
from leadflow.service.application import Leadflow

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _activations(lf: Leadflow) -> list[tuple[str, datetime, str]]:
    """Each ``PipelineActivated``: (version, recorded at, actor), in order."""
    return [
        (event.data.version, event.timestamp, event.actor)
        for event in lf.repository.event_store.get(PIPELINE_LOG_ID)
        if isinstance(event, PipelineActivated)
    ]


@router.get("/pipeline")
def pipeline_page(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return sign_in_redirect(request)
    params = dict(request.query_params)
    try:
        log = viewer.service.read(lambda lf: lf.pipeline_log())
        activated = viewer.service.read(_activations)
        pipeline = viewer.service.read(lambda lf: lf.pipeline)
        history = list(log.history)
        a, b = params.get("a"), params.get("b")
        diff = None
        if a or b:
            for name, version in (("a", a), ("b", b)):
                if version not in log.versions:
                    raise InvalidInput(name, f"{version!r} is not a recorded pipeline version")
            assert a is not None
            assert b is not None
            diff = [
                (c.key, c.before, c.after) for c in pipeline_diff(log.versions[a], log.versions[b])
            ]
    except LeadflowError as exc:
        return error_page(request, viewer, exc)
    versions = [
        {
            "index": i + 1,
            "version": v,
            "name": log.versions[v].name,
            "in_force": i == len(history) - 1,
            "recorded_at": activated[i][1].isoformat() if i < len(activated) else None,
            "actor": activated[i][2] if i < len(activated) else None,
        }
        for i, v in enumerate(history)
    ]
    return render(
        request,
        "pipeline.html",
        viewer,
        pipeline=pipeline,
        diagram=pipeline_diagram(pipeline, viewer.lang),
        versions=list(reversed(versions)),
        diff=diff,
        a=a,
        b=b,
        stage_labels=stage_labels(pipeline, viewer.lang),
        status_labels={n: label_of(c, viewer.lang) for n, c in pipeline.statuses.items()},
    )
