"""Who is looking at the console, and whether a form really comes from a console page.

- **No API keys configured** (the embedded default): the console is open, like the API.
- **With keys**: ``GET /console/login`` asks for a key; a key holding ``ops:read`` is kept in an
  ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` over HTTPS) scoped to the site, and every
  console page checks it as the API checks a bearer key (so revoking the key signs the browser out).
  Pages need ``ops:read``; actions also need the capability's write scope. Without a valid cookie
  a page redirects to the sign-in form.
- **CSRF**: every state-changing console request is a POST carrying a token equal to the
  ``crossdock_csrf`` cookie (random, ``SameSite=Strict``), the double-submit pattern: another site
  can neither read that cookie nor set it, so it cannot forge the pair.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Request

from crossdock.api.auth import Access
from crossdock.api.state import get_state
from crossdock.apikeys import OPS_READ, Principal
from crossdock.errors import CrossdockError, InvalidInputError, PermissionDeniedError

SESSION_COOKIE = "crossdock_console"
CSRF_COOKIE = "crossdock_csrf"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 8 * 3600


class SignInRequired(CrossdockError):
    """A console page without a valid session: answered by a redirect to the sign-in form."""

    code = "sign_in_required"

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to the console with an API key")
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who looks at the console: ``principal`` is ``None`` when keys are off (everything allowed)."""

    principal: Principal | None

    @property
    def name(self) -> str | None:
        return self.principal.name if self.principal is not None else None

    def may(self, scope: str) -> bool:
        return self.principal is None or self.principal.may(scope)


def viewer_of(request: Request) -> Viewer | None:
    """The console's viewer, or ``None`` when keys are on and the request has no valid session."""
    keys = get_state(request).keys
    if not keys.enabled:
        return Viewer(None)
    presented = request.cookies.get(SESSION_COOKIE)
    principal = keys.identify(presented) if presented else None
    if principal is None or not principal.may(OPS_READ):
        return None
    return Viewer(principal)


class ConsoleAccess(Access):
    """A console route's rule: a signed-in viewer holding ``scope`` (a redirect to sign in, else 403)."""

    async def __call__(self, request: Request) -> None:
        viewer = viewer_of(request)
        if viewer is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(target)
        if self.scope is not None and not viewer.may(self.scope):
            raise PermissionDeniedError(f"the API key {viewer.name!r} does not hold the scope {self.scope}")
        request.state.viewer = viewer


def console_access(scope: str = OPS_READ) -> Any:
    """``dependencies=[console_access()]``: a console page (``ops:read``), or an action's scope."""
    return Depends(ConsoleAccess(scope))


def sign_in_url(next_path: str) -> str:
    return f"/console/login?next={quote(next_path, safe='/')}"


def csrf_token(request: Request) -> str:
    """The request's CSRF token (a new one when the browser has none; :func:`set_csrf_cookie` sends it)."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) != 43:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def csrf_matches(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted:
        return False
    return secrets.compare_digest(cookie.encode(), submitted.encode())


MAX_FORM_BYTES = 64 * 1024


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a console form (``application/x-www-form-urlencoded``, the browser's default for
    these forms; the standard library parses it). Too large or another type: 400."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInputError(
            "send the console's form (application/x-www-form-urlencoded)", code="invalid_form"
        )
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInputError(f"the form is larger than {MAX_FORM_BYTES} bytes", code="invalid_form")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInputError("the form could not be read", code="invalid_form") from None
    return dict(pairs)


async def checked_form(request: Request) -> dict[str, str]:
    """A console action's fields, once its CSRF token matched (403 otherwise)."""
    fields = await form_fields(request)
    if not csrf_matches(request, fields.get(CSRF_FIELD)):
        raise PermissionDeniedError("the form's CSRF token does not match: reload the page and try again")
    return fields


def cookie_options(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}
