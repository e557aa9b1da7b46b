"""GET /search through the whole app (hot path and FastAPI route): contract, errors, freshness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from crossdock.api.app import create_app
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.storage import Database
from tests.support.asgi import running
from tests.support.feeds import ScriptedProvider, sync_through_runner

EXAMPLE = "starts_at=2021-02-01T00:00:00Z&ends_at=2022-07-03T00:00:00Z"


def settings_for(db: Database) -> Settings:
    return Settings(
        database=DatabaseSettings(url=db.url),
        api=ApiSettings(scheduler_enabled=False, read_model_poll_interval=3600),
    )


async def sync_samples(db: Database, fever_dir: Path, *names: str) -> None:
    provider = ScriptedProvider([fever_dir / name for name in names])
    for _ in names:
        await sync_through_runner(db, provider)


@pytest.fixture(scope="module")
def spec(fever_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((fever_dir / "openapi.yaml").read_text())
    return loaded


def validator_for(spec: dict[str, Any], status: int) -> OAS30Validator:
    responses = spec["paths"]["/search"]["get"]["responses"]
    response = responses[status]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = {**response["content"]["application/json"]["schema"], "components": spec["components"]}
    return OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)


@pytest.fixture(params=[True, False], ids=["hot-path", "fastapi-route"])
async def api(
    request: pytest.FixtureRequest, sqlite_database: Database, fever_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a database synced with responses 1, 2, 3, served both ways."""
    await sync_samples(sqlite_database, fever_dir, "response_1.xml", "response_2.xml", "response_3.xml")
    app = create_app(settings_for(sqlite_database), database=sqlite_database, fast_path=request.param)
    async with running(app) as client:
        yield client


async def test_brief_example(api: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    """The brief's query answers 322, 291, 1591 in the contract's envelope, valid against openapi.yaml."""
    response = await api.get(f"/search?{EXAMPLE}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    validator_for(spec, 200).validate(body)
    assert body["error"] is None
    assert [e["title"] for e in body["data"]["events"]] == [
        "Pantomima Full",
        "Camela en concierto",
        "Los Morancos",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "starts_at=2021-02-01T00:00:00",
        "ends_at=2022-07-03T00:00:00%2B02:00",
        "starts_at=2021-02-01&ends_at=2022-07-03",
        "starts_at=2021-02-01T01:00:00%2B01:00&ends_at=2022-07-03T00:00:00Z",
        "unknown=1",
    ],
)
async def test_every_time_form_answers_200(api: httpx.AsyncClient, spec: dict[str, Any], query: str) -> None:
    """Z, offset, naive, date-only, open bounds and unknown extra parameters never fail."""
    response = await api.get(f"/search?{query}")
    assert response.status_code == 200
    validator_for(spec, 200).validate(response.json())


async def test_same_instant_in_other_offsets_gives_same_answer(api: httpx.AsyncClient) -> None:
    """The UTC rule: 2021-02-01T00:00Z, 01:00+01:00 and naive 00:00 select the same events."""
    answers = {
        (await api.get("/search", params={"starts_at": value, "ends_at": "2022-07-03T00:00:00Z"})).content
        for value in ("2021-02-01T00:00:00Z", "2021-02-01T01:00:00+01:00", "2021-02-01T00:00:00")
    }
    assert len(answers) == 1


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("starts_at=yesterday", "invalid_datetime"),
        ("ends_at=2021-09-31T20:00:00", "invalid_datetime"),
        ("starts_at=", "invalid_datetime"),
        ("starts_at=2022-01-01T00:00:00Z&ends_at=2021-01-01T00:00:00Z", "invalid_range"),
        ("starts_at=2021-01-01&starts_at=2021-02-01", "duplicate_parameter"),
        ("starts_at=%FF%FE", "invalid_datetime"),
    ],
)
async def test_bad_requests_get_the_400_envelope(
    api: httpx.AsyncClient, spec: dict[str, Any], query: str, code: str
) -> None:
    """Every malformed request is a 400 in the contract's error shape, never FastAPI's 422."""
    response = await api.get(f"/search?{query}")
    assert response.status_code == 400
    body = response.json()
    validator_for(spec, 400).validate(body)
    assert body["data"] is None
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_unknown_route_uses_error_envelope(api: httpx.AsyncClient) -> None:
    """A 404 elsewhere in the API has the same envelope."""
    response = await api.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}, "data": None}


async def test_runs_endpoint_lists_runs(api: httpx.AsyncClient) -> None:
    """GET /marketplace/runs lists the three syncs, newest first, with counts."""
    runs = (await api.get("/marketplace/runs", params={"limit": 5})).json()["runs"]
    assert [run["outcome"] for run in runs] == ["success"] * 3
    assert runs[0]["rejected"] == 1
    bad = await api.get("/marketplace/runs", params={"limit": 0})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_request"


async def test_openapi_documents_search_like_the_spec(api: httpx.AsyncClient, spec: dict[str, Any]) -> None:
    """/openapi.json describes /search with the spec's operation, parameters, responses and item fields."""
    served = (await api.get("/openapi.json")).json()
    operation = served["paths"]["/search"]["get"]
    wanted = spec["paths"]["/search"]["get"]
    assert operation["operationId"] == wanted["operationId"]
    assert operation["summary"] == wanted["summary"]
    params = {p["name"]: p for p in operation["parameters"]}
    for parameter in wanted["parameters"]:
        served_param = params[parameter["name"]]
        assert served_param["in"] == "query"
        assert served_param.get("required", False) is False
        assert served_param["schema"]["format"] == "date-time"
        assert served_param["description"] == parameter["description"]
    assert {str(code) for code in wanted["responses"]} <= set(operation["responses"])
    summary = served["components"]["schemas"]["EventSummary"]
    wanted_summary = spec["components"]["schemas"]["EventSummary"]
    assert set(summary["required"]) == set(wanted_summary["required"])
    assert set(summary["properties"]) == set(wanted_summary["properties"])
    assert (await api.get("/docs")).status_code == 200


async def test_health_reports_database_and_last_sync(api: httpx.AsyncClient) -> None:
    """/health says the database is reachable and shows the last sync's outcome and age."""
    body = (await api.get("/health")).json()
    assert body["status"] == "ok"
    assert body["database"] == {"reachable": True}
    assert body["marketplace"]["last_sync"]["outcome"] == "success"
    assert body["marketplace"]["last_sync"]["age_seconds"] >= 0
    assert body["marketplace"]["searchable_plans"] == 3


async def test_metrics_count_search_requests(api: httpx.AsyncClient) -> None:
    """/metrics exposes request counts by route and status and latency histograms."""
    await api.get(f"/search?{EXAMPLE}")
    await api.get("/search?starts_at=bad")
    text = (await api.get("/metrics")).text
    assert 'crossdock_http_requests_total{route="/search",status="200"}' in text
    assert 'crossdock_http_requests_total{route="/search",status="400"}' in text
    assert "crossdock_http_request_duration_seconds_bucket" in text


async def test_never_synced_answers_empty_list(sqlite_database: Database) -> None:
    """With no data ever stored (provider never reachable) /search answers 200 with no events."""
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        response = await client.get("/search")
    assert response.status_code == 200
    assert orjson.loads(response.content) == {"data": {"events": []}, "error": None}


async def test_new_data_is_served_after_another_process_syncs(
    sqlite_database: Database, fever_dir: Path
) -> None:
    """A sync stored by someone else becomes visible through the read-model poll, without restarts."""
    settings = settings_for(sqlite_database).model_copy(
        update={"api": ApiSettings(scheduler_enabled=False, read_model_poll_interval=0.05)}
    )
    async with running(create_app(settings, database=sqlite_database)) as client:
        assert (await client.get("/search")).json()["data"]["events"] == []
        await sync_samples(sqlite_database, fever_dir, "response_1.xml")
        for _ in range(100):
            events = (await client.get("/search")).json()["data"]["events"]
            if events:
                break
            await asyncio.sleep(0.05)
        assert len(events) == 3
