"""Unexpected failures and an unreachable database: clear envelopes, never a stack trace."""

from __future__ import annotations

from datetime import datetime

import pytest

from crossdock.api.app import create_app
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.marketplace.readmodel import SearchIndex
from crossdock.storage import Database, create_database
from tests.support.asgi import running


class ExplodingIndex(SearchIndex):
    """A read model whose every answer fails, standing in for any bug behind /search."""

    def answer(self, starts_at: datetime | None, ends_at: datetime | None) -> bytes:
        raise RuntimeError("secret internals /srv/app.py line 42")


@pytest.mark.parametrize("fast_path", [True, False], ids=["hot-path", "fastapi-route"])
async def test_unexpected_failure_is_the_500_envelope(sqlite_database: Database, fast_path: bool) -> None:
    """A bug behind /search answers 500 in the contract's envelope without any internals."""
    settings = Settings(
        database=DatabaseSettings(url=sqlite_database.url),
        api=ApiSettings(scheduler_enabled=False, read_model_poll_interval=3600),
    )
    app = create_app(settings, database=sqlite_database, fast_path=fast_path)
    async with running(app, raise_app_exceptions=False) as client:
        holder = _holder_of(app)
        holder.swap(ExplodingIndex(version=99, plans=[]))
        response = await client.get("/search?starts_at=2021-01-01T00:00:00Z")
    assert response.status_code == 500
    body = response.json()
    assert body["data"] is None
    assert body["error"]["code"] == "internal_error"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_unreachable_database_still_serves_and_says_so() -> None:
    """Database down at start: /search is 503 not_ready (never an empty 200), /health 503 naming it."""
    db = create_database(DatabaseSettings(url="postgresql+asyncpg://crossdock@127.0.0.1:1/none"))
    settings = Settings(
        database=DatabaseSettings(url=db.url),
        api=ApiSettings(scheduler_enabled=False, read_model_poll_interval=3600),
    )
    try:
        async with running(create_app(settings, database=db)) as client:
            search = await client.get("/search")
            health = await client.get("/health")
            runs = await client.get("/marketplace/runs")
    finally:
        await db.dispose()
    # Issue #7: an empty 200 was indistinguishable from "no events"; until the read model has loaded
    # once, /search says it is not ready, in the contract's error envelope.
    assert search.status_code == 503
    assert search.json()["data"] is None
    assert search.json()["error"]["code"] == "not_ready"
    assert health.status_code == 503
    assert health.json()["database"]["reachable"] is False
    assert "127.0.0.1:1" in health.json()["database"]["error"]
    assert runs.status_code == 503
    assert runs.json()["error"]["code"] == "storage_error"


def _holder_of(app: object) -> object:
    """The search holder the app serves from (reached through the app's own wrappers)."""
    current = app
    while not hasattr(current, "holder") and not hasattr(current, "state"):
        current = current.app  # type: ignore[attr-defined]
    if hasattr(current, "holder"):
        return current.holder
    return current.state.service.runtimes["marketplace"].holder  # type: ignore[attr-defined]
