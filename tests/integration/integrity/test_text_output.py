"""User text is printed literally: never read as Rich markup, control characters escaped.

A name, attribute, reason, actor, rep, source or pipeline label holding ``[/]`` once
crashed the text output of show, history, explain, rep list, audit, funnel --by and
pipeline show; a terminal escape in free text was printed raw.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leadflow.service.pipeline_files import default_pipeline_text

from support.cli import capture, leadflow

MARKUP = "[/] [bold]x[/bold] [link=http://e.x]y[/link]"


@pytest.fixture
def db_url(db_url: str) -> str:
    leadflow(db_url, "init")
    return db_url


def test_markup_in_every_kind_of_user_text_is_printed_as_it_is(db_url: str, tmp_path: Path) -> None:
    labelled = tmp_path / "labels.toml"
    labelled.write_text(
        default_pipeline_text().replace(
            'label = "Marketing qualified lead"', f'label = "{MARKUP}"'
        ),
        encoding="utf-8",
    )
    leadflow(db_url, "pipeline", "activate", str(labelled))
    leadflow(db_url, "rep", "add", "rep:mei")
    lead = capture(
        db_url,
        "--email", "ann@example.com",
        "--name", MARKUP,
        "--source", MARKUP,
        "--attr", f"industry={MARKUP}",
        "--actor", f"user:{MARKUP}",
    )  # fmt: skip
    leadflow(db_url, "rep", "add", "rep:li")
    leadflow(db_url, "handoff", lead, "rep:li", "--note", MARKUP, "--actor", "rep:mei")
    leadflow(db_url, "reject", lead, "--reason", MARKUP, "--actor", "rep:li")

    outputs = {
        args: leadflow(db_url, *args)
        for args in (
            ("show", lead),
            ("history", lead),
            ("explain", lead),
            ("rep", "list"),
            ("audit",),
            ("funnel", "--by", "owner"),
            ("funnel", "--by", "source"),
            ("pipeline", "show"),
            ("events",),
        )
    }

    assert MARKUP in outputs[("show", lead)]
    assert MARKUP in outputs[("funnel", "--by", "source")]
    assert "[bold]x[/bold]" in outputs[("pipeline", "show")]  # the cell wraps at spaces
    assert MARKUP in outputs[("events",)]


def test_control_characters_in_free_text_are_stored_but_printed_escaped(db_url: str) -> None:
    lead = capture(db_url, "--email", "ann@example.com")
    leadflow(db_url, "disqualify", lead, "--reason", "spam\x1b[2J\x1b]0;owned\x07\nsecond line")

    shown = leadflow(db_url, "show", lead) + leadflow(db_url, "events")

    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "spam\\u001b[2J\\u001b]0;owned\\u0007\\nsecond line" in shown
