"""Validated command inputs. Bad input is refused with the field and the reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from leadflow.domain.contact import normalise_email, normalise_phone, normalise_wechat
from leadflow.domain.events import ActivityKind
from leadflow.errors import InvalidInput

__all__ = ["CaptureLead", "RecordActivity", "validate_command"]

M = TypeVar("M", bound=BaseModel)

_ATTRIBUTE_KEY = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CaptureLead(_Command):
    """A new lead from a form, an import, a partner or an event.

    Contact details are normalised: email lower-cased and validated, phone to E.164
    (read in the pipeline's default region when it has no country code), WeChat id
    lower-cased. At least one of the pipeline's contact fields is required.
    """

    email: str | None = None
    phone: str | None = None
    wechat: str | None = None
    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=100)
    campaign: str | None = Field(default=None, max_length=100)
    attributes: dict[str, str] = Field(default_factory=dict)
    stage: str | None = None
    occurred_at: datetime | None = None

    @field_validator("email", "phone", "wechat", "name", "company", "source", "campaign", "stage")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalise_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        region = (info.context or {}).get("region", "CN")
        return None if value is None else normalise_phone(value, region)

    @field_validator("wechat")
    @classmethod
    def _wechat(cls, value: str | None) -> str | None:
        return None if value is None else normalise_wechat(value)

    @field_validator("attributes")
    @classmethod
    def _attribute_keys(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for key in value:
            if not re.match(_ATTRIBUTE_KEY, key):
                raise InvalidInput(
                    f"attributes.{key}",
                    "attribute names start with a letter and use letters, digits, _ . -",
                )
        return value

    def require_contact(self, fields: list[str]) -> None:
        if not any(getattr(self, name) for name in fields):
            raise InvalidInput("contact", "a lead needs at least one of: " + ", ".join(fields))


class RecordActivity(_Command):
    activity: ActivityKind
    detail: str | None = Field(default=None, max_length=2000)
    ref: str | None = Field(default=None, max_length=500)


def validate_command(model: type[M], data: dict[str, Any], **context: Any) -> M:
    """Validate ``data`` as ``model``; the first problem becomes an :class:`InvalidInput`."""
    try:
        return model.model_validate(data, context=context)
    except InvalidInput:
        raise
    except ValidationError as exc:
        error = exc.errors()[0]
        inner = error.get("ctx", {}).get("error")
        if isinstance(inner, InvalidInput):
            raise inner from None
        field = ".".join(str(part) for part in error["loc"]) or model.__name__
        message = "unknown field" if error["type"] == "extra_forbid" else error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        raise InvalidInput(field, message) from None
