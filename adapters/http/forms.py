"""Web forms: how a plain HTML form's fields become a capture, and what counts as spam.

A form is configured once (``leadflow form create``) and stored in ``lf_forms``: which
form field fills which lead field, the source and campaign its leads get, the URL a
visitor is sent to afterwards, the honeypot field, the minimum fill time and the rate
limits. The page itself holds no token.

A submission is spam when the honeypot field is filled (people never see it) or when it
came back faster than a person can fill a form: the page's ``_lf_fill_ms`` field holds
how long the page was open before it was sent, in milliseconds, measured by two lines
of script in the browser (so the visitor's clock being off does not matter). Spam gets
the same answer as a real submission, so a bot learns nothing; it creates no lead and
is counted in ``lf_form_counts``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadflow.adapters.http.tables import FORM_COUNTS, FORMS
from leadflow.domain.commands import validate_command
from leadflow.errors import InvalidInput, LeadflowError

__all__ = [
    "FILL_TIME_FIELD",
    "LEAD_FIELDS",
    "FormDefinition",
    "FormNotFound",
    "RateLimit",
    "count",
    "counts",
    "get_form",
    "list_forms",
    "mapped_capture",
    "save_form",
    "spam_reason",
]

FILL_TIME_FIELD = "_lf_fill_ms"
LEAD_FIELDS = ("email", "phone", "wechat", "name", "company", "campaign")
"""Lead fields a form field may fill, besides ``attributes.<key>``."""

_FORM_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ATTRIBUTE = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
_RATE = re.compile(r"^(\d{1,6})/(\d{1,6})(s|m|h)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


class FormNotFound(LeadflowError):
    def __init__(self, form_id: str) -> None:
        super().__init__(f"no form {form_id!r}")
        self.form_id = form_id


class RateLimit(BaseModel):
    """At most ``requests`` in any ``seconds``-long window."""

    model_config = ConfigDict(frozen=True)
    requests: int = Field(ge=1, le=1_000_000)
    seconds: int = Field(ge=1, le=86_400)

    @classmethod
    def parse(cls, text: str, field: str) -> RateLimit:
        """``50/10s``, ``5/1m``, ``500/24h``."""
        match = _RATE.match(text.strip())
        if match is None:
            raise InvalidInput(field, f"{text!r} is not a rate like 50/10s or 5/1m")
        requests, span, unit = match.groups()
        try:
            return cls(requests=int(requests), seconds=int(span) * _UNIT_SECONDS[unit])
        except ValidationError as exc:
            raise InvalidInput(field, exc.errors()[0]["msg"]) from None

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds}s"


class FormDefinition(BaseModel):
    """One web form. ``fields`` maps a form field's name to a lead field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    form_id: str = Field(pattern=_FORM_ID)
    fields: dict[str, str] = Field(min_length=1, max_length=50)
    source: str | None = Field(default=None, max_length=100)
    campaign: str | None = Field(default=None, max_length=100)
    thank_you_url: str | None = Field(default=None, max_length=2000)
    honeypot: str | None = Field(default="website", max_length=100)
    min_fill_seconds: float = Field(default=3.0, ge=0, le=3600)
    form_rate: RateLimit = RateLimit(requests=50, seconds=10)
    client_rate: RateLimit = RateLimit(requests=5, seconds=60)

    @field_validator("fields")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        for name, target in value.items():
            if not re.match(r"^[A-Za-z0-9_.\-\[\]]{1,100}$", name) or name == FILL_TIME_FIELD:
                raise ValueError(f"{name!r} is not a usable form field name")
            attribute = target.removeprefix("attributes.")
            if target not in LEAD_FIELDS and not (
                target.startswith("attributes.")
                and re.match(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$", attribute)
            ):
                raise ValueError(
                    f"{name}={target}: a form field fills one of {', '.join(LEAD_FIELDS)} "
                    "or attributes.<key>"
                )
        return value

    @field_validator("thank_you_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?://|/)", value):
            raise ValueError("must be an http(s) URL or a path starting with /")
        return value

    @classmethod
    def checked(cls, data: Mapping[str, Any]) -> FormDefinition:
        """Validated, errors naming the field (like every input)."""
        return validate_command(cls, dict(data))


def mapped_capture(form: FormDefinition, submitted: Mapping[str, str]) -> dict[str, Any]:
    """The capture a submission asks for: mapped fields, the form's source and campaign."""
    data: dict[str, Any] = {"source": form.source, "campaign": form.campaign, "attributes": {}}
    for name, target in form.fields.items():
        value = submitted.get(name, "").strip()
        if not value:
            continue
        if target.startswith("attributes."):
            data["attributes"][target.removeprefix("attributes.")] = value[:2000]
        else:
            data[target] = value
    return data


def spam_reason(form: FormDefinition, submitted: Mapping[str, str]) -> str | None:
    """``honeypot``, ``too_fast`` or ``None`` (a person, as far as we can tell)."""
    if form.honeypot and submitted.get(form.honeypot, "").strip():
        return "honeypot"
    if form.min_fill_seconds > 0:
        try:
            filled = float(submitted.get(FILL_TIME_FIELD, "")) / 1000
        except ValueError:
            return "too_fast"  # no fill time: a script posted without loading the page
        if not filled >= form.min_fill_seconds:  # NaN is too fast as well
            return "too_fast"
    return None


def save_form(engine: sa.Engine, form: FormDefinition, now: datetime) -> bool:
    """Create or replace a form; True if it is new."""
    with engine.begin() as conn:
        existing = conn.execute(
            sa.select(FORMS.c.form_id).where(FORMS.c.form_id == form.form_id)
        ).first()
        definition = form.model_dump_json()
        if existing is None:
            conn.execute(
                FORMS.insert().values(form_id=form.form_id, definition=definition, created_at=now)
            )
            return True
        conn.execute(
            FORMS.update().where(FORMS.c.form_id == form.form_id).values(definition=definition)
        )
        return False


def get_form(engine: sa.Engine, form_id: str) -> FormDefinition:
    with engine.connect() as conn:
        row = conn.execute(sa.select(FORMS.c.definition).where(FORMS.c.form_id == form_id)).first()
    if row is None:
        raise FormNotFound(form_id)
    return FormDefinition.model_validate_json(row.definition)


def list_forms(engine: sa.Engine) -> list[FormDefinition]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(FORMS.c.definition).order_by(FORMS.c.form_id))
        return [FormDefinition.model_validate_json(row.definition) for row in rows]


def count(engine: sa.Engine, form_id: str, outcome: str) -> None:
    """Add one to the form's count of ``outcome`` (captured, matched, spam_…, …)."""
    where = sa.and_(FORM_COUNTS.c.form_id == form_id, FORM_COUNTS.c.outcome == outcome)
    with engine.begin() as conn:
        add_one = FORM_COUNTS.update().where(where).values(count=FORM_COUNTS.c.count + 1)
        updated = conn.execute(add_one)
        if updated.rowcount:
            return
        try:
            with conn.begin_nested():
                conn.execute(FORM_COUNTS.insert().values(form_id=form_id, outcome=outcome, count=1))
        except sa.exc.IntegrityError:  # another request inserted it first
            conn.execute(add_one)


def counts(engine: sa.Engine, form_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(FORM_COUNTS.c.outcome, FORM_COUNTS.c.count.label("n")).where(
                FORM_COUNTS.c.form_id == form_id
            )
        )
        return {row.outcome: int(row.n) for row in rows}
