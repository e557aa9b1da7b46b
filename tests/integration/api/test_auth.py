"""API keys through the whole app: who may read what, in the error envelope; open when none are set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from crossdock.api.app import create_app
from crossdock.api.auth import access_rules, undeclared_routes
from crossdock.apikeys import OPS_READ, create_key
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.storage import Database
from tests.support.asgi import running

OPS_KEY, OPS_ENTRY = create_key("ops", (OPS_READ,))
MARKET_KEY, MARKET_ENTRY = create_key("market", ("marketplace:read",))
PROTECTED = ["/metrics", "/runs", "/marketplace/runs", "/openapi.json", "/docs", "/redoc"]
SUCCESS = {"/redoc": 307}  # to /docs (ReDoc itself would need a CDN)


def settings_for(db: Database, *, keys: bool) -> Settings:
    entries = (OPS_ENTRY, MARKET_ENTRY) if keys else ()
    return Settings(
        database=DatabaseSettings(url=db.url),
        api=ApiSettings(scheduler_enabled=False, read_model_poll_interval=3600, keys=entries),
    )


@pytest.fixture
async def guarded(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app with two keys configured: one holding ops:read, one holding marketplace:read."""
    app = create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    async with running(app) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("path", PROTECTED)
async def test_protected_routes_need_a_key(guarded: httpx.AsyncClient, path: str) -> None:
    """Without a key a protected route answers 401 in the envelope, with WWW-Authenticate."""
    response = await guarded.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.json()["data"] is None
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", PROTECTED)
async def test_an_ops_key_reads_operations(guarded: httpx.AsyncClient, path: str) -> None:
    """ops:read opens the operational routes; marketplace:read alone only the marketplace's."""
    ops = await guarded.get(path, headers=bearer(OPS_KEY))
    market = await guarded.get(path, headers={"X-API-Key": MARKET_KEY})
    if path == "/marketplace/runs":
        assert (ops.status_code, market.status_code) == (403, 200)
    else:
        assert (ops.status_code, market.status_code) == (SUCCESS.get(path, 200), 403)
    refused = ops if ops.status_code == 403 else market
    assert refused.json()["error"]["code"] == "forbidden"


async def test_wrong_or_malformed_keys_are_401(guarded: httpx.AsyncClient) -> None:
    """An unknown key, a key one character off or a non-Bearer Authorization header is refused."""
    for headers in (
        bearer(create_key("ops", (OPS_READ,))[0]),
        bearer(OPS_KEY[:-1] + ("A" if OPS_KEY[-1] != "A" else "B")),
        {"Authorization": f"Basic {OPS_KEY}"},
        {"X-API-Key": "nonsense"},
    ):
        response = await guarded.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert OPS_KEY not in response.text


async def test_health_without_ops_key_is_liveness_only(guarded: httpx.AsyncClient) -> None:
    """Without ops:read, /health answers only its status; with it, the database and upstream details."""
    anonymous = await guarded.get("/health")
    assert (anonymous.status_code, anonymous.json()) == (200, {"status": "ok"})
    market = await guarded.get("/health", headers=bearer(MARKET_KEY))
    assert market.json() == {"status": "ok"}
    detailed = (await guarded.get("/health", headers=bearer(OPS_KEY))).json()
    assert detailed["database"] == {"reachable": True}
    assert "upstreams" in detailed


async def test_search_stays_public(guarded: httpx.AsyncClient) -> None:
    """GET /search needs no key even when keys are configured."""
    response = await guarded.get("/search")
    assert response.status_code == 200


async def test_without_keys_everything_stays_open(sqlite_database: Database) -> None:
    """With no keys configured (the embedded default) every route answers without credentials."""
    app = create_app(settings_for(sqlite_database, keys=False), database=sqlite_database)
    async with running(app) as client:
        statuses = {path: (await client.get(path)).status_code for path in PROTECTED}
        health = (await client.get("/health")).json()
    assert statuses == {path: SUCCESS.get(path, 200) for path in PROTECTED}
    assert health["database"] == {"reachable": True}


async def test_no_redirect_copies_the_host_header(guarded: httpx.AsyncClient) -> None:
    """A trailing slash is an unknown path: 404 in the envelope, never a redirect built from Host."""
    response = await guarded.get("/health/", headers={"Host": "attacker.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json()["error"]["code"] == "not_found"


async def test_a_405_names_the_allowed_methods(guarded: httpx.AsyncClient) -> None:
    """A method a route does not serve answers 405 with the Allow header RFC 9110 requires."""
    response = await guarded.request("TRACE", "/search")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_every_route_declares_its_access(sqlite_database: Database) -> None:
    """Each route says whether it is public or which scope it needs: none is open by omission."""
    app: object = create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    while not isinstance(app, FastAPI):
        app = app.app  # type: ignore[attr-defined]
    assert undeclared_routes(app) == []
    rules = access_rules(app)
    assert rules[("/search", "GET")] is None
    assert rules[("/metrics", "GET")] == OPS_READ
    assert rules[("/marketplace/runs", "GET")] == "marketplace:read"
