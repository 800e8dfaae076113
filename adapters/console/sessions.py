"""Console sessions: signed in with an API token, kept on the server, ended on sign-out.

The browser holds only a random session id in a cookie (``HttpOnly``, ``SameSite=Strict``,
``Secure`` over TLS); the table ``lf_console_sessions`` keeps its SHA-256, the id of the
API token it was opened with (never the token's secret), a CSRF token and its expiry.
Every request checks the session *and* the token again, so revoking a token ends its
sessions too. Sessions live in the store's database, so every ``--workers`` process
sees the same ones and they survive a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from leadflow.adapters.http.tables import Timestamp, as_utc
from leadflow.adapters.http.tokens import Token, TokenRefused, active_token

__all__ = [
    "CONSOLE_TABLES",
    "SESSIONS",
    "SESSION_LIFETIME",
    "Session",
    "end_session",
    "open_session",
    "session_of",
]

SESSION_LIFETIME = timedelta(hours=12)
"""A session ends this long after sign-in at the latest."""

CONSOLE_TABLES = sa.MetaData()
SESSIONS = sa.Table(
    "lf_console_sessions",
    CONSOLE_TABLES,
    sa.Column("session_sha256", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.String(32), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp),
    sa.Index("lf_console_sessions_token", "token_id"),
)


@dataclass(frozen=True)
class Session:
    token: Token
    csrf: str
    """Sent back with every write (a hidden form field); compared in constant time."""
    expires_at: datetime

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(engine: sa.Engine, token: Token, now: datetime) -> tuple[Session, str]:
    """A new session for a token already authenticated; returns it and the cookie value."""
    cookie = secrets.token_urlsafe(32)
    session = Session(token, secrets.token_urlsafe(32), now + SESSION_LIFETIME)
    if token.expires_at is not None and token.expires_at < session.expires_at:
        session = Session(token, session.csrf, token.expires_at)
    with engine.begin() as conn:
        conn.execute(
            SESSIONS.insert().values(
                session_sha256=_digest(cookie),
                token_id=token.token_id,
                csrf=session.csrf,
                created_at=now,
                expires_at=session.expires_at,
                ended_at=None,
            )
        )
    return session, cookie


def session_of(engine: sa.Engine, cookie: str | None, now: datetime) -> Session | None:
    """The live session this cookie opens, or ``None`` (unknown, ended, expired, or its
    token revoked or expired)."""
    if not cookie or len(cookie) > 200:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            SESSIONS.select().where(SESSIONS.c.session_sha256 == _digest(cookie))
        ).first()
    if row is None or row.ended_at is not None:
        return None
    expires = as_utc(row.expires_at)
    assert expires is not None
    if expires <= now:
        return None
    try:
        token = active_token(engine, row.token_id, now)
    except TokenRefused:
        return None
    return Session(token, row.csrf, expires)


def end_session(engine: sa.Engine, cookie: str | None, now: datetime) -> bool:
    """Sign-out: the session is refused from now on, whoever holds the cookie."""
    if not cookie:
        return False
    with engine.begin() as conn:
        done = conn.execute(
            SESSIONS.update()
            .where(SESSIONS.c.session_sha256 == _digest(cookie), SESSIONS.c.ended_at.is_(None))
            .values(ended_at=now)
        )
    return bool(done.rowcount)
