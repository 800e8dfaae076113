"""Normalising contact details, so the same person always reads the same way."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from leadflow.errors import InvalidInput

__all__ = ["normalise_email", "normalise_phone", "normalise_wechat"]

_WECHAT = re.compile(r"^[A-Za-z][-_A-Za-z0-9]{5,19}$")


def normalise_email(value: str, field: str = "email") -> str:
    """Lower-cased, IDNA-normalised address; no DNS lookups (no I/O in the core)."""
    try:
        result = validate_email(value.strip(), check_deliverability=False, strict=True)
    except EmailNotValidError as exc:
        raise InvalidInput(field, f"{value!r} is not a valid email address: {exc}") from None
    return result.normalized.lower()


def normalise_phone(value: str, region: str, field: str = "phone") -> str:
    """E.164 (``+8613800138000``); numbers without a country code are read in ``region``."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(field, f"{value!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(field, f"{value!r} is not a valid phone number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_wechat(value: str, field: str = "wechat") -> str:
    """WeChat ids: 6-20 characters, a letter first, then letters, digits, ``-`` or ``_``."""
    candidate = value.strip()
    if not _WECHAT.fullmatch(candidate):
        raise InvalidInput(
            field,
            f"{value!r} is not a WeChat id (6-20 characters: a letter, then letters, "
            "digits, - or _)",
        )
    return candidate.lower()
