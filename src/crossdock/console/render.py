"""The console's templates: one Jinja environment over the core's and every capability's folder."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from crossdock.console.session import CSRF_COOKIE, CSRF_FIELD, cookie_options, csrf_token

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value.astimezone(UTC)).total_seconds()
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{max(0, seconds):.0f} s ago"


@cache
def environment() -> Environment:
    from crossdock.capabilities import CAPABILITIES

    folders = [TEMPLATES]
    for capability in CAPABILITIES:
        if capability.console is not None:
            folders.append(capability.console().templates)
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(folder)) for folder in folders]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    return env


def navigation() -> list[tuple[str, str]]:
    from crossdock.capabilities import CAPABILITIES

    pages = [("Overview", "/console")]
    for capability in CAPABILITIES:
        if capability.console is not None:
            page = capability.console()
            pages.append((page.title, page.path))
    return pages


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A full page (or a fragment: templates that do not extend the layout), with the CSRF cookie."""
    token = csrf_token(request)
    viewer = getattr(request.state, "viewer", None)
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            path=request.url.path,
            nav=navigation(),
            viewer=viewer,
            csrf_field=CSRF_FIELD,
            csrf_token=token,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, **cookie_options(request))
    return response
