"""GET /search at the edges, through the whole app (hot path and FastAPI route): calendar overflow, not ready.

Both serving paths share one answer function; these tests run each case through both.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from crossdock.api.app import create_app
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.storage import Database, create_database
from crossdock.storage.migrate import upgrade_async
from tests.support.asgi import running

FAST_PATH = pytest.mark.parametrize("fast_path", [True, False], ids=["hot-path", "fastapi-route"])


def settings_for(url: str) -> Settings:
    return Settings(
        database=DatabaseSettings(url=url),
        api=ApiSettings(scheduler_enabled=False, read_model_poll_interval=3600),
    )


def error_validator(fever_dir: Path) -> OAS30Validator:
    spec: dict[str, Any] = yaml.safe_load((fever_dir / "openapi.yaml").read_text())
    response = spec["paths"]["/search"]["get"]["responses"][400]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = {**response["content"]["application/json"]["schema"], "components": spec["components"]}
    return OAS30Validator(schema)


def runtime_of(app: object) -> Any:
    """The marketplace runtime the app serves from (reached through the app's own wrappers)."""
    current = app
    while not hasattr(current, "state"):
        current = current.app  # type: ignore[attr-defined]
    return current.state.service.runtimes["marketplace"]  # type: ignore[attr-defined]


@FAST_PATH
@pytest.mark.parametrize(
    "query",
    [
        "starts_at=0001-01-01T00:00:00%2B01:00",
        "ends_at=9999-12-31T23:59:59-05:00",
        "starts_at=0001-01-01T00:00:00%2B01:00&ends_at=9999-12-31T23:59:59-05:00",
    ],
)
async def test_bound_overflowing_in_utc_is_400_without_a_traceback(
    sqlite_database: Database,
    fever_dir: Path,
    caplog: pytest.LogCaptureFixture,
    fast_path: bool,
    query: str,
) -> None:
    """A bound outside the calendar once in UTC is 400 invalid_datetime, and nothing is logged as an error."""
    app = create_app(settings_for(sqlite_database.url), database=sqlite_database, fast_path=fast_path)
    with caplog.at_level(logging.INFO):
        async with running(app, raise_app_exceptions=False) as client:
            responses = [await client.get(f"/search?{query}") for _ in range(3)]
    for response in responses:
        assert response.status_code == 400
        body = response.json()
        error_validator(fever_dir).validate(body)
        assert body["error"]["code"] == "invalid_datetime"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@FAST_PATH
async def test_search_is_503_not_ready_while_the_database_was_never_reachable(fast_path: bool) -> None:
    """Database down at start: /search is 503 not_ready in the error envelope, never an empty 200."""
    db = create_database(DatabaseSettings(url="postgresql+asyncpg://crossdock@127.0.0.1:1/none"))
    try:
        async with running(create_app(settings_for(db.url), database=db, fast_path=fast_path)) as client:
            responses = [await client.get(path) for path in ("/search", "/search?starts_at=2021-01-01")]
            head = await client.head("/search")
    finally:
        await db.dispose()
    for response in responses:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["data"] is None
        assert body["error"]["code"] == "not_ready"
        assert body["error"]["message"]
    if fast_path:  # the FastAPI route documents GET only; the hot path answers HEAD too
        assert head.status_code == 503


@FAST_PATH
async def test_search_answers_once_the_read_model_loads(tmp_path: Path, fast_path: bool) -> None:
    """A database unusable at start (no tables yet) gives 503; once it loads, /search answers 200."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'late.db'}"
    db = create_database(DatabaseSettings(url=url))
    app = create_app(settings_for(url), database=db, fast_path=fast_path)
    try:
        async with running(app) as client:
            before = await client.get("/search")
            await upgrade_async(url)
            assert await runtime_of(app).refresh()
            after = await client.get("/search")
    finally:
        await db.dispose()
    assert before.status_code == 503
    assert (after.status_code, after.json()) == (200, {"data": {"events": []}, "error": None})
