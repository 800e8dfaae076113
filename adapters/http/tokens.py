"""Scoped API tokens: created once, stored hashed, listed without their secret, revoked.

A token reads ``lf_<id>_<secret>``: the id finds the row, the secret is compared with
the stored SHA-256 in constant time. The secret is 256 random bits, so a fast hash is
enough (nobody can guess one to try against a stolen table).

A token acts as one identity, the actor of every event it records: ``--rep`` for the
``rep`` scope (required there), else the ``--actor`` given, else ``api:<name>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError

from leadflow.adapters.http.tables import TOKENS, as_utc
from leadflow.domain.permissions import SCOPES
from leadflow.domain.pipeline import Duration
from leadflow.domain.roster import is_rep_id
from leadflow.errors import InvalidInput, LeadflowError

__all__ = [
    "Token",
    "TokenNotFound",
    "TokenRefused",
    "active_token",
    "authenticate",
    "create_token",
    "list_tokens",
    "parse_expires",
    "revoke_token",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$")
_TOKEN = re.compile(r"^lf_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")


class TokenNotFound(LeadflowError):
    """No token has this id (exit code 4)."""

    def __init__(self, token_id: str) -> None:
        super().__init__(f"no token {token_id!r}")
        self.token_id = token_id


class TokenRefused(LeadflowError):
    """A bearer token that is missing, unknown, expired or revoked (HTTP 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Token:
    token_id: str
    name: str
    scope: str
    actor: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "name": self.name,
            "scope": self.scope,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def parse_expires(value: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w``: the pipeline's duration syntax."""
    try:
        parsed = TypeAdapter(Duration).validate_python(value)
    except ValidationError:
        raise InvalidInput("expires", f"{value!r} is not a duration like 90d or 12h") from None
    assert isinstance(parsed, timedelta)
    return parsed


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _row_token(row: Any) -> Token:
    created = as_utc(row.created_at)
    assert created is not None
    return Token(
        row.token_id,
        row.name,
        row.scope,
        row.actor,
        created,
        as_utc(row.expires_at),
        as_utc(row.revoked_at),
    )


def create_token(
    engine: sa.Engine,
    *,
    name: str,
    scope: str,
    now: datetime,
    rep: str | None = None,
    actor: str | None = None,
    expires_in: timedelta | None = None,
) -> tuple[Token, str]:
    """A new token and its secret (shown once: only its hash is kept)."""
    if not _NAME.match(name):
        raise InvalidInput("name", "1-100 letters, digits and _ . : @ -, starting alnum")
    if scope not in SCOPES:
        raise InvalidInput("scope", f"{scope!r} is not one of: {', '.join(SCOPES)}")
    if scope == "rep":
        if rep is None or not is_rep_id(rep):
            raise InvalidInput("rep", "a rep token names its rep (rep:<name>)")
        if actor is not None and actor != rep:
            raise InvalidInput("actor", "a rep token acts as its rep")
        identity = rep
    else:
        if rep is not None:
            raise InvalidInput("rep", "only a rep token names a rep")
        identity = actor or f"api:{name}"
        if is_rep_id(identity) or identity.startswith("system:"):
            raise InvalidInput("actor", f"{identity!r}: reps get rep tokens; system: is for rules")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("expires", "must be a positive duration")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    token = Token(
        token_id, name, scope, identity, now, now + expires_in if expires_in else None, None
    )
    with engine.begin() as conn:
        conn.execute(
            TOKENS.insert().values(
                token_id=token_id,
                name=name,
                scope=scope,
                actor=identity,
                secret_sha256=_digest(secret),
                created_at=now,
                expires_at=token.expires_at,
                revoked_at=None,
            )
        )
    return token, f"lf_{token_id}_{secret}"


def list_tokens(engine: sa.Engine) -> list[Token]:
    with engine.connect() as conn:
        rows = conn.execute(TOKENS.select().order_by(TOKENS.c.created_at, TOKENS.c.token_id))
        return [_row_token(row) for row in rows]


def revoke_token(engine: sa.Engine, token_id: str, now: datetime) -> Token:
    """Revoke a token (idempotent: a revoked token keeps its first revocation time)."""
    with engine.begin() as conn:
        row = conn.execute(TOKENS.select().where(TOKENS.c.token_id == token_id)).first()
        if row is None:
            raise TokenNotFound(token_id)
        if row.revoked_at is None:
            conn.execute(
                TOKENS.update().where(TOKENS.c.token_id == token_id).values(revoked_at=now)
            )
        row = conn.execute(TOKENS.select().where(TOKENS.c.token_id == token_id)).one()
    return _row_token(row)


def authenticate(engine: sa.Engine, presented: str, now: datetime) -> Token:
    """The token a bearer secret belongs to, or :class:`TokenRefused` saying why."""
    match = _TOKEN.match(presented)
    if match is None:
        raise TokenRefused("unknown token")
    token_id, secret = match.groups()
    with engine.connect() as conn:
        row = conn.execute(TOKENS.select().where(TOKENS.c.token_id == token_id)).first()
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        raise TokenRefused("unknown token")
    return _usable(_row_token(row), now)


def active_token(engine: sa.Engine, token_id: str, now: datetime) -> Token:
    """The token with this id, if it is still usable (a console session holds the id of
    the token it was signed in with, never its secret)."""
    with engine.connect() as conn:
        row = conn.execute(TOKENS.select().where(TOKENS.c.token_id == token_id)).first()
    if row is None:
        raise TokenRefused("unknown token")
    return _usable(_row_token(row), now)


def _usable(token: Token, now: datetime) -> Token:
    token_id = token.token_id
    if token.revoked_at is not None:
        raise TokenRefused(f"token {token_id} was revoked at {token.revoked_at.isoformat()}")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused(f"token {token_id} expired at {token.expires_at.isoformat()}")
    return token
