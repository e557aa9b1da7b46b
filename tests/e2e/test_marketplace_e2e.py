"""The whole product as a user runs it: `crossdock serve` + the provider simulator over 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from crossdock.marketplace.identity import plan_uuid
from tests.e2e.conftest import Service, Simulator, free_port, run_cli

pytestmark = pytest.mark.e2e

EXAMPLE = {"starts_at": "2021-02-01T00:00:00Z", "ends_at": "2022-07-03T00:00:00Z"}


@pytest.fixture(scope="module")
def spec(fever_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((fever_dir / "openapi.yaml").read_text())
    return loaded


def validate(spec: dict[str, Any], status: int, body: Any) -> None:
    response = spec["paths"]["/search"]["get"]["responses"][status]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = {**response["content"]["application/json"]["schema"], "components": spec["components"]}
    OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER).validate(body)


def titles(service: Service, **params: str) -> list[str]:
    return [event["title"] for event in service.get("/search", **params).json()["data"]["events"]]


def runs(service: Service) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = service.get("/marketplace/runs").json()["runs"]
    return result


def sync(service: Service) -> dict[str, Any]:
    result = service.cli("marketplace", "sync", "--json")
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = orjson.loads(result.stdout)
    return summary


def test_brief_example_end_to_end(simulator: Simulator, make_service: Any, spec: dict[str, Any]) -> None:
    """Boot sync (response 1) + CLI syncs (2, 3): the brief's query returns 322, 291, 1591, valid per spec."""
    service = make_service(simulator.feed_url)
    service.wait_for(lambda: len(titles(service)) == 3, what="first scheduled sync")
    sync(service)
    third = sync(service)
    assert third["rejected"] == 1
    service.wait_for(
        lambda: (
            len(runs(service)) == 3
            and service.get("/health").json()["marketplace"]["read_model_version"] == runs(service)[0]["id"]
        ),
        what="read model refresh",
    )
    response = service.get("/search", **EXAMPLE)
    assert response.status_code == 200
    body = response.json()
    validate(spec, 200, body)
    assert [(e["title"], e["end_time"], e["min_price"], e["max_price"]) for e in body["data"]["events"]] == [
        ("Pantomima Full", "21:30:00", 55.0, 55.0),
        ("Camela en concierto", "21:30:00", 15.0, 30.0),
        ("Los Morancos", "21:00:00", 65.0, 75.0),
    ]
    assert [e["id"] for e in body["data"]["events"]] == [
        plan_uuid("fever", "322", "1642"),
        plan_uuid("fever", "291", "291"),
        plan_uuid("fever", "1591", "1642"),
    ]
    assert "Tributo a Juanito Valderrama" not in titles(service)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("starts_at=not-a-date", "invalid_datetime"),
        ("ends_at=2021-02-30T00:00:00Z", "invalid_datetime"),
        ("starts_at=", "invalid_datetime"),
        ("starts_at=2022-01-01T00:00:00Z&ends_at=2021-01-01T00:00:00Z", "invalid_range"),
        ("ends_at=1&ends_at=2", "duplicate_parameter"),
    ],
)
def test_bad_requests_are_400_envelopes(
    simulator: Simulator, make_service: Any, spec: dict[str, Any], query: str, code: str
) -> None:
    """Each 400 case over the real server answers the contract's error envelope."""
    service = make_service(simulator.feed_url)
    response = service.get(f"/search?{query}")
    assert response.status_code == 400
    validate(spec, 400, response.json())
    assert response.json()["error"]["code"] == code


def test_time_forms_never_500(simulator: Simulator, make_service: Any, spec: dict[str, Any]) -> None:
    """Z, offsets (encoded and not), naive and date-only bounds all answer 200 over the real server."""
    service = make_service(simulator.feed_url)
    service.wait_for(lambda: len(titles(service)) == 3, what="first sync")
    for query in (
        "starts_at=2021-02-01T00:00:00Z",
        "starts_at=2021-02-01T01:00:00+01:00",
        "starts_at=2021-02-01T01:00:00%2B01:00",
        "ends_at=2022-07-03",
        "starts_at=2021-02-01T00:00:00",
    ):
        response = service.get(f"/search?{query}")
        assert response.status_code == 200, query
        validate(spec, 200, response.json())


def test_provider_down_at_boot_then_recovers(simulator: Simulator, make_service: Any) -> None:
    """Provider down at start: /search is 200 and empty, health shows it; data appears once it is back."""
    simulator.control(down=True)
    service = make_service(simulator.feed_url)
    service.wait_for(
        lambda: runs(service) and runs(service)[0]["outcome"] == "failed", what="failed boot sync"
    )
    response = service.get("/search")
    assert response.status_code == 200
    assert response.json() == {"data": {"events": []}, "error": None}
    health = service.get("/health").json()
    assert health["status"] == "degraded"
    assert health["marketplace"]["last_sync"]["outcome"] == "failed"
    assert "marketplace" in health["upstreams"]
    failed = service.cli("marketplace", "sync")
    assert failed.returncode == 6
    last_line = failed.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: marketplace unavailable")
    assert "503" in last_line
    simulator.control(down=False)
    sync(service)
    service.wait_for(lambda: len(titles(service)) == 3, what="data after recovery")


def test_never_reachable_provider_serves_empty_list(make_service: Any) -> None:
    """Nothing listens at the provider URL at all: /search still answers 200 with an empty list."""
    service = make_service(f"http://127.0.0.1:{free_port()}/api/events")
    service.wait_for(lambda: runs(service) and runs(service)[0]["outcome"] == "failed", what="failed sync")
    assert service.get("/search", **EXAMPLE).json() == {"data": {"events": []}, "error": None}


def test_provider_failing_after_good_sync_changes_nothing(simulator: Simulator, make_service: Any) -> None:
    """5xx, truncated bodies, garbage and timeouts after a good sync: /search answers byte-identically."""
    service = make_service(simulator.feed_url)
    service.wait_for(lambda: len(titles(service)) == 3, what="first sync")
    before = service.get("/search", **EXAMPLE).content
    simulator.control(error_rate=1.0)
    assert service.cli("marketplace", "sync").returncode == 6
    simulator.control(error_rate=0.0, truncate_rate=1.0)
    truncated = service.cli("marketplace", "sync")
    assert truncated.returncode == 7, truncated.stderr
    simulator.control(truncate_rate=0.0)
    simulator.serve_body(b"<html><body>maintenance</body></html>")
    assert service.cli("marketplace", "sync").returncode == 7
    simulator.control(timeout_rate=1.0)
    assert service.cli("marketplace", "sync").returncode == 6
    assert service.get("/search", **EXAMPLE).content == before
    outcomes = [run["outcome"] for run in runs(service)]
    assert outcomes[:4] == ["failed"] * 4
    assert outcomes[4] == "success"


def test_online_offline_transitions(simulator: Simulator, make_service: Any, fever_dir: Path) -> None:
    """offline→online makes an event searchable; online→offline and leaving the feed keep it searchable."""
    online = (fever_dir / "response_1.xml").read_bytes()
    offline = online.replace(
        b'base_event_id="291" sell_mode="online"', b'base_event_id="291" sell_mode="offline"'
    )
    simulator.serve_body(offline)
    service = make_service(simulator.feed_url)
    service.wait_for(lambda: len(titles(service)) == 2, what="sync of the offline feed")
    assert "Camela en concierto" not in titles(service)
    simulator.serve_body(online)
    sync(service)
    service.wait_for(lambda: "Camela en concierto" in titles(service), what="offline→online")
    simulator.serve_body(offline)
    sync(service)
    without_291 = online.replace(
        online[
            online.index(b'<base_event base_event_id="291"') : online.index(
                b'<base_event base_event_id="322"'
            )
        ],
        b"",
    )
    simulator.serve_body(without_291)
    summary = sync(service)
    assert summary["left_feed"] == 1
    service.wait_for(
        lambda: (
            runs(service)[0]["id"] == service.get("/health").json()["marketplace"]["read_model_version"]
            or not runs(service)[0]["changed"]
        ),
        what="refresh",
    )
    assert "Camela en concierto" in titles(service)


def test_scheduler_syncs_on_its_interval(simulator: Simulator, make_service: Any) -> None:
    """With a 0.3 s interval the in-process scheduler keeps syncing; runs are listed by API and CLI."""
    service = make_service(simulator.feed_url, CROSSDOCK_MARKETPLACE_SYNC_INTERVAL="0.3")
    service.wait_for(lambda: len(runs(service)) >= 3, what="three scheduled runs")
    assert simulator.state()["counters"]["served"] >= 3
    listed = service.cli("marketplace", "runs", "--json")
    assert listed.returncode == 0
    assert len(orjson.loads(listed.stdout)) >= 3
    jobs = service.cli("jobs", "list", "--json")
    assert jobs.returncode == 0
    (sync_job,) = [job for job in orjson.loads(jobs.stdout) if job["name"] == "marketplace.sync"]
    assert sync_job["interval_seconds"] == 0.3
    assert sync_job["last_outcome"] in ("success", "running")
    assert "marketplace.sync" in service.cli("jobs", "list").stdout  # the table never wraps job names


def test_health_and_metrics_over_http(simulator: Simulator, make_service: Any) -> None:
    """/health shows database, circuit and last sync; /metrics shows requests, syncs and upstream calls."""
    service = make_service(simulator.feed_url)
    service.wait_for(lambda: len(titles(service)) == 3, what="first sync")
    health = service.get("/health").json()
    assert health["database"]["reachable"] is True
    assert health["upstreams"]["marketplace"]["state"] == "closed"
    assert health["marketplace"]["last_sync"]["outcome"] == "success"
    metrics = service.get("/metrics").text
    for name in (
        "crossdock_http_requests_total",
        "crossdock_sync_runs_total",
        "crossdock_upstream_requests_total",
        "crossdock_http_request_duration_seconds_bucket",
    ):
        assert name in metrics


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["marketplace"],
        ["marketplace", "sync"],
        ["marketplace", "runs"],
        ["simulate"],
        ["simulate", "marketplace"],
        ["jobs"],
        ["jobs", "list"],
        ["jobs", "run"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    """`--help` works on every command and sub-command."""
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_slow_provider_does_not_slow_search(simulator: Simulator, make_service: Any) -> None:
    """While a scheduled sync waits on a provider answering after 2 s, /search stays fast and unchanged."""
    simulator.control(rotate=False)  # always response 1, so the data cannot change during the test
    service = make_service(simulator.feed_url, CROSSDOCK_MARKETPLACE_SYNC_INTERVAL="0.2")
    service.wait_for(lambda: len(titles(service)) == 3, what="first sync")
    before = service.get("/search", **EXAMPLE).content
    simulator.control(latency_ms=2000)
    served = simulator.state()["counters"]["requests"]
    service.wait_for(lambda: simulator.state()["counters"]["requests"] > served, what="a sync in flight")
    slowest = 0.0
    for _ in range(20):
        started = time.monotonic()
        response = service.get("/search", **EXAMPLE)
        slowest = max(slowest, time.monotonic() - started)
        assert response.content == before
    assert slowest < 0.5


def test_two_workers_share_data_metrics_and_one_scheduler(simulator: Simulator, make_service: Any) -> None:
    """With 2 workers: both serve the synced data, /metrics sums both, only one scheduler syncs."""
    service = make_service(simulator.feed_url, CROSSDOCK_API_WORKERS="2")
    service.wait_for(lambda: len(titles(service)) == 3, what="first sync")
    time.sleep(1.0)  # every worker has polled the database by now (poll interval 0.1 s)
    answers = {service.get("/search", **EXAMPLE).content for _ in range(40)}
    assert len(answers) == 1
    metrics = service.get("/metrics").text
    line = next(
        m for m in metrics.splitlines() if m.startswith('crossdock_http_requests_total{route="/search"')
    )
    assert float(line.rsplit(" ", 1)[1]) >= 40
    assert len(runs(service)) == 1  # one scheduler: one boot sync, not one per worker
