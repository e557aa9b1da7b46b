"""The console's own routes (overview, sign-in, static files) and its installation into the app."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import RedirectResponse, Response

from crossdock.api.assets import asset_response
from crossdock.api.auth import PUBLIC
from crossdock.api.ops import upstream_states
from crossdock.api.state import AppStateDep, get_state
from crossdock.apikeys import OPS_READ
from crossdock.console import overview
from crossdock.console.render import render
from crossdock.console.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    SignInRequired,
    console_access,
    cookie_options,
    csrf_matches,
    form_fields,
    sign_in_url,
)
from crossdock.errors import CrossdockError

STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = frozenset({"console.css", "console.js", "icon.svg"})

router = APIRouter(include_in_schema=False)


@router.get("/console", dependencies=[console_access()])
async def overview_page(request: Request, state: AppStateDep) -> Response:
    now = datetime.now(UTC)
    found = overview.Overview(capabilities=await overview.capability_rows(state.db, now))
    rates = overview.upstream_rates(time.monotonic())
    limit = state.settings.http.rate_limit
    for name, upstream in sorted((await upstream_states(state)).items()):
        rate = rates.get(name)
        use = f"{100 * rate / limit:.0f} %" if rate is not None and limit > 0 else "—"
        found.upstreams.append({"name": name, "rate": rate, "limit": limit, "use": use, **upstream})
        if upstream["state"] != "closed":
            found.alerts.append(f"upstream {name}: circuit {upstream['state']}")
    for row in found.capabilities:
        if row.failing and row.last_run is not None:
            found.alerts.append(f"{row.name}: last run failed — {row.last_run.error or 'no message'}")
    lost = await overview.lost_runs(state.db, now - timedelta(hours=24))
    if lost:
        found.alerts.append(f"{lost} run(s) lost with their worker in the last 24 h")
    jobs = state.settings.jobs
    if jobs.distributed:
        found.distributed = await overview.distributed_status(state.db, jobs.queue)
        if not found.distributed["schedulers"]:
            found.alerts.append("no scheduler is running")
        if not found.distributed["workers"]:
            found.alerts.append("no worker is running")
    return render(request, "overview.html", overview=found, title="Overview")


@router.get("/console/login", dependencies=[PUBLIC])
async def login_form(request: Request, next: str = "/console") -> Response:
    if not get_state(request).keys.enabled:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", next=_safe_next(next), error=None, title="Sign in")


@router.post("/console/login", dependencies=[PUBLIC])
async def login(request: Request) -> Response:
    fields = await form_fields(request)
    key = fields.get("key", "")[:512]
    target = _safe_next(fields.get("next", "/console"))
    keys = get_state(request).keys
    if not csrf_matches(request, fields.get(CSRF_FIELD)):
        return _sign_in_again(request, 400, target, "The form expired: try again.")
    principal = keys.identify(key.strip()) if keys.enabled and key.strip() else None
    if keys.enabled and principal is None:
        return _sign_in_again(request, 401, target, "That key is not valid.")
    if keys.enabled and principal is not None and not principal.may(OPS_READ):
        return _sign_in_again(request, 403, target, f"That key does not hold {OPS_READ}.")
    response = RedirectResponse(target, status_code=303)
    if keys.enabled:
        response.set_cookie(SESSION_COOKIE, key.strip(), max_age=SESSION_MAX_AGE, **cookie_options(request))
    return response


@router.post("/console/logout", dependencies=[PUBLIC])
async def logout(request: Request) -> Response:
    fields = await form_fields(request)
    response = RedirectResponse("/console/login", status_code=303)
    if csrf_matches(request, fields.get(CSRF_FIELD)):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/console/static/{name}", dependencies=[PUBLIC])
async def static_file(name: str) -> Response:
    """The console's style sheet, script and icon (written here; public, no data)."""
    return asset_response(STATIC, name, STATIC_FILES)


def _sign_in_again(request: Request, status: int, target: str, error: str) -> Response:
    return render(request, "login.html", status, next=target, error=error, title="Sign in")


def _safe_next(target: str) -> str:
    """Only a console path of this site (never ``//host`` or a scheme): no open redirect."""
    if target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


def install(app: FastAPI) -> None:
    """Mount the console: its routes, every capability's page, HTML answers for its errors."""
    from crossdock.capabilities import CAPABILITIES

    app.include_router(router)
    for capability in CAPABILITIES:
        if capability.console is not None:
            app.include_router(capability.console().router())
    json_handler: Any = app.exception_handlers[CrossdockError]

    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, SignInRequired):
            return RedirectResponse(sign_in_url(exc.next_path), status_code=303)
        if request.url.path.startswith("/console") and isinstance(exc, CrossdockError):
            from crossdock.api.errors import status_for

            status = status_for(exc)
            return render(request, "error.html", status, status=status, message=exc.message, title="Error")
        answer: Response = await json_handler(request, exc)
        return answer

    app.add_exception_handler(CrossdockError, handle)
