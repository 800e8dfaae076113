"""Property: the same person under any formatting of their phone or email is one lead."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import phonenumbers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from leadflow.adapters.store import open_store

PREFIXES = ["138", "139", "150", "186", "177"]


@st.composite
def cn_mobile(draw: st.DrawFn) -> str:
    number = draw(st.sampled_from(PREFIXES)) + draw(st.text("0123456789", min_size=8, max_size=8))
    assume(phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")))
    return number


@st.composite
def phone_format(draw: st.DrawFn, national: str) -> str:
    """``national`` (11 digits) written as people write it."""
    country = draw(st.sampled_from(["", "+86 ", "+86-", "+86", "0086 ", "(+86) "]))
    sep = draw(st.sampled_from(["", " ", "-", "."]))
    grouped = sep.join([national[:3], national[3:7], national[7:]])
    pad = draw(st.sampled_from(["", " ", "  "]))
    return f"{pad}{country}{grouped}{pad}"


@st.composite
def email_format(draw: st.DrawFn, local: str, domain: str) -> str:
    def recase(text: str) -> str:
        flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
        return "".join(c.upper() if f else c for c, f in zip(text, flips, strict=True))

    pad = draw(st.sampled_from(["", " "]))
    return f"{pad}{recase(local)}@{recase(domain)}{pad}"


@st.composite
def captures_of_one_person(draw: st.DrawFn) -> list[dict[str, str]]:
    """The first capture brings phone and email; later ones phone, email or both."""
    national = draw(cn_mobile())
    local = draw(st.from_regex(r"[a-z][a-z0-9]{2,8}", fullmatch=True))
    domain = draw(st.sampled_from(["example.com", "mail.example.cn", "corp.example.org"]))
    count = draw(st.integers(min_value=2, max_value=6))
    captures = [{"phone": draw(phone_format(national)), "email": draw(email_format(local, domain))}]
    for _ in range(count - 1):
        which = draw(st.sampled_from(["phone", "email", "both"]))
        capture: dict[str, str] = {}
        if which in ("phone", "both"):
            capture["phone"] = draw(phone_format(national))
        if which in ("email", "both"):
            capture["email"] = draw(email_format(local, domain))
        captures.append(capture)
    return captures


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(captures=captures_of_one_person())
def test_any_formatting_of_the_same_phone_or_email_never_yields_two_leads(
    tmp_path: Path, captures: list[dict[str, str]]
) -> None:
    app = open_store(f"sqlite:///{tmp_path / f'{uuid4().hex}.db'}", actor="user:test")
    try:
        ids = {app.capture(**capture, source="web").lead_id for capture in captures}

        assert len(ids) == 1
        assert len(list(app.read_events(types=["LeadCaptured"]))) == 1
        assert len(list(app.read_events(types=["TouchRecorded"]))) == len(captures) - 1
    finally:
        app.close()
