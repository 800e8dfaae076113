"""Bearer tokens on every ``/v1`` endpoint: who is calling, and may their scope do this.

A missing, unknown, expired or revoked token is refused with 401; a token whose scope
does not grant the action with 403 (the grants are :data:`leadflow.domain.permissions.
SCOPES`). The identity is the token's actor: it is the actor of every event recorded
on the request, never a field of the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadflow.adapters.http.service import Service
from leadflow.adapters.http.tokens import Token, TokenRefused, authenticate
from leadflow.domain.permissions import check_scope

__all__ = ["Caller", "requires", "service_of"]

_bearer = HTTPBearer(auto_error=False, description="An API token (`leadflow token create`).")

Caller = Token


def service_of(request: Request) -> Service:
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


def _caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Token:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise TokenRefused("an Authorization: Bearer token is required")
    service = service_of(request)
    token = authenticate(service.engine, credentials.credentials, service.now())
    request.state.caller = token
    return token


def requires(action: str) -> Callable[..., Token]:
    """A dependency: the caller, whose token's scope must grant ``action``."""

    def dependency(caller: Annotated[Token, Depends(_caller)]) -> Token:
        check_scope(f"token {caller.token_id} ({caller.name})", caller.scope, action)
        return caller

    dependency.__name__ = f"requires_{action}"
    return dependency
