"""Which key a request carries and whether it may use a route: one dependency per route.

With no keys configured (``CROSSDOCK_API_KEYS`` empty: the embedded default, bound to loopback)
every route is open. With keys, a route declared ``require(scope)`` answers 401 without a valid key
and 403 when the key lacks the scope, in the error envelope; ``PUBLIC`` routes stay open (``/search``,
the liveness part of ``/health``). Every route declares one or the other (a test checks), so a
forgotten declaration cannot leave a route open by accident. Keys come as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request

from crossdock.api.state import get_state
from crossdock.apikeys import Principal
from crossdock.errors import AuthenticationError, PermissionDeniedError

HOW_TO_SEND = "send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def presented_key(request: Request) -> str | None:
    """The key the request carries, or ``None``; a malformed Authorization header is a 401."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError(f"the Authorization header must be 'Bearer <key>'; {HOW_TO_SEND}")
        return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key is not None else None


def principal_of(request: Request) -> Principal | None:
    """Who the request's key belongs to, or ``None`` when it carries none; an unknown key is a 401."""
    key = presented_key(request)
    if key is None:
        return None
    principal = get_state(request).keys.identify(key)
    if principal is None:
        raise AuthenticationError(f"the API key is not valid; {HOW_TO_SEND} with a configured key")
    return principal


def may_see(request: Request, scope: str) -> bool:
    """Whether the request may see what ``scope`` protects (always, when no keys are configured)."""
    if not get_state(request).keys.enabled:
        return True
    principal = principal_of(request)
    return principal is not None and principal.may(scope)


def authorize(request: Request, scope: str) -> None:
    """Raise 401/403 unless keys are off or the request's key holds ``scope``."""
    if not get_state(request).keys.enabled:
        return
    principal = principal_of(request)
    if principal is None:
        raise AuthenticationError(f"this route needs an API key with the scope {scope}; {HOW_TO_SEND}")
    if not principal.may(scope):
        raise PermissionDeniedError(f"the API key {principal.name!r} does not hold the scope {scope}")


class Access:
    """A route's access rule as a FastAPI dependency: a scope, or ``None`` for a public route."""

    def __init__(self, scope: str | None) -> None:
        self.scope = scope

    async def __call__(self, request: Request) -> None:
        if self.scope is not None:
            authorize(request, self.scope)


def require(scope: str) -> Any:
    """``dependencies=[require("marketplace:read")]``: the route needs a key holding ``scope``."""
    return Depends(Access(scope))


PUBLIC: Any = Depends(Access(None))
"""``dependencies=[PUBLIC]``: the route is open to anyone, keys or not."""


def access_rules(app: FastAPI) -> dict[tuple[str, str], str | None]:
    """Each route's access rule by (path template, method): a scope, ``None`` if public.

    Routes declaring no rule are left out; a test checks there are none.
    """
    rules: dict[tuple[str, str], str | None] = {}
    for route in _flat(list(app.router.routes)):
        access = [
            d.dependency for d in getattr(route, "dependencies", []) if isinstance(d.dependency, Access)
        ]
        if access:
            for method in getattr(route, "methods", ()):
                rules[(str(getattr(route, "path", "")), method)] = access[0].scope
    return rules


def undeclared_routes(app: FastAPI) -> list[str]:
    """Paths of routes that declare no access rule (there must be none)."""
    return [
        str(getattr(route, "path", route))
        for route in _flat(list(app.router.routes))
        if not any(isinstance(d.dependency, Access) for d in getattr(route, "dependencies", []))
    ]


def _flat(routes: list[Any]) -> list[Any]:
    # Routers included into the app stay nested (FastAPI keeps the original router): walk them.
    flat: list[Any] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        flat.extend(_flat(list(nested.routes)) if nested is not None else [route])
    return flat
