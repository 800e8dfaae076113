"""The limits every value is held to before it enters an event: the one home of them.

An append-only log never forgets a value: one that the write side accepts and a read
model, a report or a later release cannot handle is there for good. So every number is
finite and within a stated range, every time within a stated window, every string has
a length limit and no control characters (free text may hold line breaks and tabs and is
always printed escaped), and no string holds a NUL or a lone surrogate (neither can be
stored in PostgreSQL text or encoded as UTF-8 JSON).

The command models (:mod:`leadflow.domain.commands`), the roster, the context (who
acts, and when) and pipeline validation all use these, and docs/cli.md lists them.
Each check raises :class:`~leadflow.errors.InvalidInput` naming the field and the reason
when called directly, or a ``ValueError`` inside a pydantic model (which
:func:`~leadflow.domain.commands.validate_command` turns into the same error).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from leadflow.errors import InvalidInput

__all__ = [
    "AMOUNT_MAX",
    "ATTRIBUTES_MAX",
    "ATTRIBUTE_KEY_MAX",
    "ATTRIBUTE_VALUE_MAX",
    "CAPACITY_MAX",
    "CLAIM_LIMIT_MAX",
    "CLOCK_SKEW",
    "CURRENCIES",
    "DIMENSIONS_MAX",
    "DIMENSION_NAME_MAX",
    "DURATION_MAX",
    "EARLIEST",
    "ID_MAX",
    "LABEL_MAX",
    "LATEST",
    "NAME_MAX",
    "PIPELINE_NAME_MAX",
    "POINTS_MAX",
    "REF_MAX",
    "SCORE_MAX",
    "TEXT_MAX",
    "WEIGHT_MAX",
    "Amount",
    "Capacity",
    "Currency",
    "FreeText",
    "Id",
    "Label",
    "Name",
    "PlannedTime",
    "Ref",
    "Score",
    "Weight",
    "check_day",
    "check_duration",
    "check_finite",
    "check_free_text",
    "check_line",
    "check_occurred_at",
    "check_time",
    "dimension_problem",
    "line_problem",
    "text_problem",
]

# -- numbers ------------------------------------------------------------------------------

SCORE_MAX = 1_000_000.0
"""A score is finite, from ``-SCORE_MAX`` to ``SCORE_MAX``."""
POINTS_MAX = 10_000.0
"""A scoring rule adds or takes at most this many points per event."""
WEIGHT_MAX = 1_000.0
"""A rep's routing weight: more than 0, at most this."""
CAPACITY_MAX = 100_000
"""A rep's (or the pipeline's) cap of open leads: 0 to this."""
CLAIM_LIMIT_MAX = 100_000
"""A daily claim limit: 0 to this."""
AMOUNT_MAX = 1e15
"""A deal amount: 0 to this (a thousand trillion), finite."""

# -- times --------------------------------------------------------------------------------

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""No business time (``occurred_at``, an absence, a query's ``--as-of``) is before this."""
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""No planned or queried time is after this (``occurred_at`` is bounded by
:data:`CLOCK_SKEW` instead)."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far after now an ``occurred_at`` may be: the clock of the machine that sent it (a
web form, an import made elsewhere) may run a little ahead of the store's. "Now" is the
recording time the application's clock gives; the domain never reads a clock."""
DURATION_MAX = timedelta(days=3650)
"""A pipeline duration (SLA, recycle delay, hand-off window): more than 0, at most ten years."""

# -- strings ------------------------------------------------------------------------------

ID_MAX = 200
"""Ids and references: actors, reps, owners, account and opportunity references."""
NAME_MAX = 200
"""A person's or company's name."""
LABEL_MAX = 100
"""A source, campaign, team or other short label."""
REF_MAX = 500
"""An activity's external reference."""
TEXT_MAX = 2000
"""Free text: reasons, notes, activity details."""
PIPELINE_NAME_MAX = 64
"""A pipeline's own names: stages, statuses, rule ids (lower case, no spaces)."""
ATTRIBUTE_KEY_MAX = 64
ATTRIBUTE_VALUE_MAX = 1000
ATTRIBUTES_MAX = 100
"""At most this many profile attributes on a lead (and in one command)."""
DIMENSIONS_MAX = 20
"""At most this many reporting dimensions in a pipeline (``[reporting] dimensions``): each
is a read-model column of values per lead, and a grouping every report may ask for."""
DIMENSION_NAME_MAX = 64
"""A reporting dimension's name: an attribute name of at most this many characters, lower
case (a letter, then letters, digits, ``_``), so it is safe in any SQL or JSON path."""
_DIMENSION_NAME = re.compile(r"[a-z][a-z0-9_]*")

_ISO_4217 = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD
    MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP
    PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP
    SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV
    WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG
"""
CURRENCIES = frozenset(_ISO_4217.split())
"""ISO 4217 currency codes (the list ``pycountry`` ships, less XTS and XXX, which name no
currency; a unit test keeps the two equal)."""


def _bad_character(value: str, free_text: bool) -> str | None:
    for char in value:
        if char.isprintable() and char != "\x00":
            continue
        category = unicodedata.category(char)
        if category == "Cs":
            return f"holds a lone surrogate (U+{ord(char):04X}): not valid text"
        if char == "\x00":
            return "holds a NUL character (U+0000)"
        if not free_text and category in ("Cc", "Zl", "Zp"):
            return f"holds a control character (U+{ord(char):04X})"
    return None


def line_problem(value: str, max_length: int) -> str | None:
    """Why ``value`` is no good as a one-line string (``None``: it is)."""
    if len(value) > max_length:
        return f"is {len(value)} characters long; the limit is {max_length}"
    return _bad_character(value, free_text=False)


def text_problem(value: str, max_length: int) -> str | None:
    """Why ``value`` is no good as free text (``None``: it is). Free text may hold any
    character but NUL and lone surrogates; it is printed escaped."""
    if len(value) > max_length:
        return f"is {len(value)} characters long; the limit is {max_length}"
    return _bad_character(value, free_text=True)


def dimension_problem(name: object) -> str | None:
    """Why ``name`` is no good as a reporting dimension's name (``None``: it is)."""
    if not isinstance(name, str):
        return f"{name!r} is not a name"
    if len(name) > DIMENSION_NAME_MAX:
        return f"is {len(name)} characters long; the limit is {DIMENSION_NAME_MAX}"
    if not _DIMENSION_NAME.fullmatch(name):
        return f"{name!r} is not a lower-case name (a letter, then letters, digits or _)"
    return None


def check_line(field: str, value: str, max_length: int) -> str:
    problem = line_problem(value, max_length)
    if problem:
        raise InvalidInput(field, problem)
    return value


def check_free_text(field: str, value: str, max_length: int = TEXT_MAX) -> str:
    problem = text_problem(value, max_length)
    if problem:
        raise InvalidInput(field, problem)
    return value


def check_finite(field: str, value: float, low: float, high: float) -> float:
    """A finite number from ``low`` to ``high`` (both included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"{value!r} is not a number")
    if not math.isfinite(value):
        raise InvalidInput(field, f"{value!r} is not a finite number")
    if not low <= value <= high:
        raise InvalidInput(field, f"{value:g} is outside {low:g} .. {high:g}")
    return value


def check_time(
    field: str, value: datetime, earliest: datetime = EARLIEST, latest: datetime = LATEST
) -> datetime:
    """An aware time from ``earliest`` to ``latest``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must include a UTC offset")
    if not earliest <= value <= latest:
        raise InvalidInput(
            field,
            f"{value.isoformat()} is outside {earliest.date().isoformat()} .. "
            f"{latest.date().isoformat()}",
        )
    return value


def check_occurred_at(field: str, value: datetime, now: datetime) -> datetime:
    """A business time from :data:`EARLIEST` to ``now`` + :data:`CLOCK_SKEW` (``now``
    comes from the caller's clock)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must include a UTC offset")
    check_time(field, value, EARLIEST, max(value, EARLIEST))
    if value > now + CLOCK_SKEW:
        minutes = int(CLOCK_SKEW.total_seconds() // 60)
        raise InvalidInput(
            field,
            f"{value.isoformat()} is in the future (now is {now.isoformat()}; at most "
            f"{minutes} minutes ahead is accepted)",
        )
    return value


def check_day(field: str, value: date) -> date:
    """A calendar day from :data:`EARLIEST`'s to :data:`LATEST`'s."""
    if not EARLIEST.date() <= value <= LATEST.date():
        raise InvalidInput(
            field,
            f"{value.isoformat()} is outside {EARLIEST.date().isoformat()} .. "
            f"{LATEST.date().isoformat()}",
        )
    return value


def check_duration(field: str, value: timedelta, maximum: timedelta = DURATION_MAX) -> timedelta:
    """More than zero and at most ``maximum``."""
    if value <= timedelta(0):
        raise InvalidInput(field, "must be more than 0")
    if value > maximum:
        raise InvalidInput(field, f"is longer than the limit of {maximum.days}d")
    return value


# -- the same limits as pydantic types, for the command models --------------------------


def _line(max_length: int) -> AfterValidator:
    def check(value: str) -> str:
        if not isinstance(value, str):  # None where a body model makes the field optional
            return value
        problem = line_problem(value, max_length)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _text(value: str) -> str:
    if not isinstance(value, str):  # None where a body model makes the field optional
        return value
    problem = text_problem(value, TEXT_MAX)
    if problem:
        raise ValueError(problem)
    return value


def _currency(value: str) -> str:
    code = value.upper()
    if code not in CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (e.g. CNY, USD, EUR)")
    return code


def _time(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a UTC offset")
    if not EARLIEST <= value <= LATEST:
        raise ValueError(
            f"{value.isoformat()} is outside {EARLIEST.date().isoformat()} .. "
            f"{LATEST.date().isoformat()}"
        )
    return value


Id = Annotated[str, StringConstraints(min_length=1), _line(ID_MAX)]
Name = Annotated[str, _line(NAME_MAX)]
Label = Annotated[str, _line(LABEL_MAX)]
Ref = Annotated[str, _line(REF_MAX)]
FreeText = Annotated[str, StringConstraints(min_length=1), AfterValidator(_text)]
"""A reason, note or detail: not blank, at most :data:`TEXT_MAX` characters."""
Score = Annotated[float, Field(allow_inf_nan=False, ge=-SCORE_MAX, le=SCORE_MAX, strict=False)]
Amount = Annotated[float, Field(allow_inf_nan=False, ge=0, le=AMOUNT_MAX)]
Weight = Annotated[float, Field(allow_inf_nan=False, gt=0, le=WEIGHT_MAX)]
Capacity = Annotated[int, Field(ge=0, le=CAPACITY_MAX)]
Currency = Annotated[str, AfterValidator(_currency)]
PlannedTime = Annotated[datetime, AfterValidator(_time)]
"""A time from :data:`EARLIEST` to :data:`LATEST`, with its offset."""
AttributeValue = Annotated[str, _line(ATTRIBUTE_VALUE_MAX)]
