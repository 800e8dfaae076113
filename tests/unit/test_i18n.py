"""One catalogue of words for the console and the HTML report (``leadflow.i18n``)."""

from __future__ import annotations

import re

from leadflow.i18n import CATALOGUE, texts_for


def test_every_word_has_its_chinese() -> None:
    """A missing word falls back to English: on a zh page that is an English word left."""
    assert set(CATALOGUE["zh"]) == set(CATALOGUE["en"])


def test_a_word_and_its_chinese_fill_in_the_same_values() -> None:
    for key, english in CATALOGUE["en"].items():
        chinese = CATALOGUE["zh"][key]
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", chinese))


def test_a_missing_word_falls_back_to_english_and_an_unknown_language_is_english() -> None:
    assert texts_for("zh")["report_heading"] == "线索漏斗报告"
    assert texts_for("fr")["report_heading"] == "Lead funnel report"
    assert texts_for("zh")["no_such_word"] == "no_such_word"
