"""The shared operational routes through the whole app: the one run listing, metrics labels, health."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import AnyHttpUrl, SecretStr

from crossdock.api.app import create_app
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import run_job
from crossdock.site_outages.jobs import PROCESS
from crossdock.site_outages.settings import SiteOutagesSettings
from crossdock.storage import Database
from tests.support.asgi import running
from tests.support.feeds import ScriptedProvider, sync_through_runner
from tests.support.processes import free_port


def settings_for(db: Database) -> Settings:
    return Settings(
        database=DatabaseSettings(url=db.url),
        api=ApiSettings(scheduler_enabled=False, read_model_poll_interval=3600),
    )


async def record_one_run_of_each(db: Database, fever_dir: Path) -> None:
    """A marketplace sync that works and a site-outages run refused by the platform (nothing listens)."""
    await sync_through_runner(db, ScriptedProvider([fever_dir / "response_1.xml"]))
    unreachable = SiteOutagesSettings(
        base_url=AnyHttpUrl(f"http://127.0.0.1:{free_port()}"), api_key=SecretStr(secrets.token_hex(8))
    )
    ctx = JobContext(settings=settings_for(db).with_groups(unreachable), db=db)
    try:
        await run_job(ctx, PROCESS, params={"site_id": "kingfisher"}, trigger="cli")
    finally:
        await ctx.aclose()


async def test_runs_lists_every_capability_and_filters(sqlite_database: Database, fever_dir: Path) -> None:
    """GET /runs lists the runs of all capabilities, newest first; ?capability= and ?job= narrow it."""
    await record_one_run_of_each(sqlite_database, fever_dir)
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        everything = (await client.get("/runs")).json()["runs"]
        marketplace = (await client.get("/runs", params={"capability": "marketplace"})).json()["runs"]
        by_job = (await client.get("/runs", params={"job": "site_outages.process"})).json()["runs"]
        view = (await client.get("/marketplace/runs")).json()["runs"]
    assert [(r["capability"], r["trigger"]) for r in everything] == [
        ("site-outages", "cli"),
        ("marketplace", "api"),
    ]
    assert everything[0]["outcome"] == "failed"
    assert [r["id"] for r in marketplace] == [everything[1]["id"]]
    assert [r["subject"] for r in by_job] == ["kingfisher"]
    assert [(r["id"], r["provider"], r["inserted"]) for r in view] == [(everything[1]["id"], "fever", 3)]
    assert marketplace[0]["details"]["inserted"] == 3


async def test_bad_run_filters_are_400_envelopes(sqlite_database: Database) -> None:
    """An out-of-range limit answers 400 in the error envelope, never FastAPI's 422 shape."""
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        response = await client.get("/runs", params={"limit": "0"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_metrics_label_requests_by_route_template(sqlite_database: Database) -> None:
    """Requests are counted under their route (or the docs page's path); unknown paths under 'other'."""
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        await client.get("/marketplace/runs")
        await client.get("/docs")
        await client.get("/no/such/path/12345")
        metrics = (await client.get("/metrics")).text
    routes = {
        line.split('route="', 1)[1].split('"', 1)[0]
        for line in metrics.splitlines()
        if line.startswith("crossdock_http_requests_total{")
    }
    assert {"/marketplace/runs", "/docs", "other"} <= routes
    assert not any("12345" in route for route in routes)


async def test_health_has_each_capability_section(sqlite_database: Database, fever_dir: Path) -> None:
    """/health shows the database, the upstreams and the section of each capability that has one."""
    await sync_through_runner(sqlite_database, ScriptedProvider([fever_dir / "response_1.xml"]))
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        body = (await client.get("/health")).json()
    assert body["status"] == "ok"
    assert body["database"] == {"reachable": True}
    assert body["marketplace"]["last_sync"]["outcome"] == "success"
    assert body["marketplace"]["searchable_plans"] == 3
