"""The console's core through the whole app: the overview, sign-in with an API key kept in an
HttpOnly SameSite cookie, CSRF on every form, HTML error pages, and its own static files."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crossdock.api.app import create_app
from crossdock.apikeys import OPS_READ, create_key
from crossdock.config import Settings
from crossdock.jobs import records
from crossdock.storage import Database
from tests.support.asgi import running
from tests.support.console import console_settings, csrf_of

OPS_KEY, OPS_ENTRY = create_key("operator", (OPS_READ,))
MARKET_KEY, MARKET_ENTRY = create_key("market", ("marketplace:read",))


def settings_for(db: Database, *, keys: bool) -> Settings:
    return console_settings(db, (OPS_ENTRY, MARKET_ENTRY) if keys else ())


@pytest.fixture
async def open_console(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(
        create_app(settings_for(sqlite_database, keys=False), database=sqlite_database)
    ) as client:
        yield client


@pytest.fixture
async def guarded(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(
        create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    ) as client:
        yield client


async def record(db: Database, capability: str, job: str, *, failed: bool) -> None:
    started = datetime.now(UTC) - timedelta(minutes=5)
    run_id = await records.start_run(
        db, capability=capability, job=job, subject=None, trigger="schedule", started_at=started
    )
    await records.finish_run(
        db,
        run_id,
        outcome="failed" if failed else "success",
        finished_at=started + timedelta(seconds=2),
        duration_seconds=2.0,
        attempts=1,
        changed=not failed,
        details={},
        error="upstream answered 500 three times" if failed else None,
    )


async def test_the_overview_lists_every_capability_with_its_runs_and_draws_their_charts(
    open_console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    await record(sqlite_database, "marketplace", "marketplace.sync", failed=False)
    page = await open_console.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name in ("marketplace", "site-outages", "controller-outages", "submissions"):
        assert f'data-capability="{name}"' in page.text
    assert "Nothing is failing." in page.text
    assert "100 % of 1 runs" in page.text
    assert '<svg class="chart"' in page.text
    assert 'class="bar ok"' in page.text  # the hour with the successful run is drawn


async def test_a_failing_capability_is_at_the_top_with_its_error(
    open_console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    await record(sqlite_database, "marketplace", "marketplace.sync", failed=False)
    await record(sqlite_database, "marketplace", "marketplace.sync", failed=True)
    page = (await open_console.get("/console")).text
    attention = page.index("Needs attention")
    assert attention < page.index('data-capability="marketplace"')
    assert "marketplace: last run failed — upstream answered 500 three times" in page
    assert 'class="bar bad"' in page
    assert "50 % of 2 runs" in page


async def test_without_keys_the_console_is_open_and_sign_in_leads_to_it(
    open_console: httpx.AsyncClient,
) -> None:
    login = await open_console.get("/console/login")
    assert login.status_code == 303
    assert login.headers["location"] == "/console"


async def test_with_keys_a_page_redirects_to_the_sign_in_form(guarded: httpx.AsyncClient) -> None:
    page = await guarded.get("/console?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console%3Fx%3D1"
    form = await guarded.get("/console/login")
    assert form.status_code == 200
    assert 'type="password"' in form.text
    assert '<label for="key">API key</label>' in form.text


async def test_signing_in_sets_an_httponly_samesite_cookie_and_opens_the_console(
    guarded: httpx.AsyncClient,
) -> None:
    token = csrf_of((await guarded.get("/console/login")).text)
    answer = await guarded.post(
        "/console/login", data={"key": OPS_KEY, "next": "/console", "csrf_token": token}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console"
    cookie = next(
        value for value in answer.headers.get_list("set-cookie") if value.startswith("crossdock_console=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    page = await guarded.get("/console")
    assert page.status_code == 200
    assert "operator" in page.text  # who is signed in
    # Signing out needs the CSRF token too, and ends the session.
    out = await guarded.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    guarded.cookies.delete("crossdock_console")
    assert (await guarded.get("/console")).status_code == 303


async def test_wrong_keys_and_keys_without_ops_read_are_refused_with_a_reason(
    guarded: httpx.AsyncClient,
) -> None:
    token = csrf_of((await guarded.get("/console/login")).text)
    wrong = await guarded.post("/console/login", data={"key": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    assert "That key is not valid." in wrong.text
    narrow = await guarded.post("/console/login", data={"key": MARKET_KEY, "csrf_token": token})
    assert narrow.status_code == 403
    assert "does not hold ops:read" in narrow.text
    assert "crossdock_console" not in guarded.cookies


async def test_a_form_without_its_csrf_token_does_nothing(guarded: httpx.AsyncClient) -> None:
    await guarded.get("/console/login")  # the browser holds a CSRF cookie …
    forged = await guarded.post("/console/login", data={"key": OPS_KEY, "csrf_token": "x" * 43})
    assert forged.status_code == 400  # … but another site's form cannot know it
    assert "crossdock_console" not in guarded.cookies


async def test_sign_in_never_redirects_off_the_console(guarded: httpx.AsyncClient) -> None:
    token = csrf_of((await guarded.get("/console/login")).text)
    for target in ("//evil.example/", "https://evil.example/", "/docs"):
        answer = await guarded.post(
            "/console/login", data={"key": OPS_KEY, "next": target, "csrf_token": token}
        )
        assert answer.headers["location"] == "/console"


async def test_static_files_are_served_and_nothing_else(open_console: httpx.AsyncClient) -> None:
    css = await open_console.get("/console/static/console.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    script = await open_console.get("/console/static/console.js")
    assert "data-refresh" in script.text
    assert (await open_console.get("/console/static/..%2Fsession.py")).status_code == 404
    assert (await open_console.get("/console/static/page.py")).status_code == 404


async def test_the_pages_reference_no_asset_off_this_service(open_console: httpx.AsyncClient) -> None:
    page = (await open_console.get("/console")).text
    assert not re.search(r'(src|href)="(https?:)?//', page)
