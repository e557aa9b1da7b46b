"""The submission engine at scale, end to end: 200 campaigns (1,000 nodes) submitted through
`POST /api/campaigns` to a `crossdock simulate dsp` process with a compressed limit, 10 % 5xx, 5 % of
POSTs committed then dropped and 5 % validation errors. Every node reaches a terminal state and the
simulator counts zero requests over the limit and zero duplicate entities — embedded (`serve` alone,
SQLite), with 2 workers on PostgreSQL and Redis, and with one of those workers SIGKILLed mid-run.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Cluster, cluster_factory
from tests.e2e.conftest import clean_env, embedded_env, running_simulator, start_service
from tests.support.processes import stop

CAMPAIGNS = 200
NODES_PER_CAMPAIGN = 5  # the campaign, 2 ad groups, 1 ad in each
# Compressed: 100 requests per 60 simulated seconds, 60 simulated seconds per real second.
LIMIT, SIM_WINDOW, TIME_SCALE = 100, 60.0, 60.0
REAL_WINDOW = SIM_WINDOW / TIME_SCALE
TERMINAL = {"completed", "error", "dead", "blocked", "cancelled"}
FINISH_TIMEOUT = 150.0


def campaign(number: int) -> dict[str, Any]:
    return {
        "dsp": "sim",
        "campaign": {
            "name": f"Spring sale {number}",
            "budget": 5000 + number,
            "start_date": "2027-03-01",
            "end_date": "2027-03-31",
            "objective": "conversions",
            "ad_groups": [
                {
                    "name": f"Group {number}-{group}",
                    "bid": 1.25,
                    "targeting": {"ages": ["25-34"], "interests": ["outdoor"], "geo": ["DE"]},
                    "ads": [
                        {
                            "type": "banner",
                            "creative_url": f"https://cdn.example/{number}/{group}.png",
                            "click_url": f"https://shop.example/p/{number}/{group}",
                        }
                    ],
                }
                for group in range(2)
            ],
        },
    }


@pytest.fixture
def dsp(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The faulty DSP simulator: its base URL and the (random, throw-away) account key."""
    key = f"e2e-{secrets.token_hex(12)}"
    env = clean_env(CROSSDOCK_SIMULATOR_DSP_API_KEYS=key)
    args = [
        "--limit", str(LIMIT), "--window", str(SIM_WINDOW), "--time-scale", str(TIME_SCALE),
        "--error-rate", "0.10", "--drop-after-commit-rate", "0.05", "--validation-error-rate", "0.05",
        "--processing-seconds", "6", "--seed", "2026",
    ]  # fmt: skip
    with running_simulator(tmp_path, "dsp", *args, env=env) as (base, _process):
        yield base, key


def engine_settings(dsp_url: str, key: str) -> dict[str, str]:
    account = {"url": dsp_url, "api_key": key, "limit": LIMIT, "window": REAL_WINDOW, "concurrency": 4}
    return {
        "CROSSDOCK_SUBMISSIONS_DSPS": json.dumps({"sim": account}),
        "CROSSDOCK_SUBMISSIONS_ADVANCE_INTERVAL": "0.5",
        "CROSSDOCK_SUBMISSIONS_POLL_INTERVAL": "0.3",
        "CROSSDOCK_SUBMISSIONS_BACKOFF_INITIAL": "0.2",
        "CROSSDOCK_SUBMISSIONS_BACKOFF_MAX": "2",
        "CROSSDOCK_SUBMISSIONS_LEASE_SECONDS": "5",
        "CROSSDOCK_SUBMISSIONS_PASS_SECONDS": "10",
    }


def submit_all(base_url: str) -> list[str]:
    ids = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for number in range(CAMPAIGNS):
            response = client.post("/api/campaigns", json=campaign(number))
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
    return ids


def node_states(base_url: str) -> dict[str, int]:
    """How many nodes of every campaign are in each state (from GET /api/campaigns, every page)."""
    states: dict[str, int] = {}
    cursor: str | None = None
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/campaigns", params=params).json()
            for item in page["campaigns"]:
                for state, count in item["nodes"].items():
                    states[state] = states.get(state, 0) + count
            cursor = page["next_cursor"]
            if cursor is None:
                return states


def wait_until_terminal(base_url: str, details: Any) -> dict[str, int]:
    deadline = time.monotonic() + FINISH_TIMEOUT
    states: dict[str, int] = {}
    while time.monotonic() < deadline:
        states = node_states(base_url)
        if sum(states.values()) == CAMPAIGNS * NODES_PER_CAMPAIGN and set(states) <= TERMINAL:
            return states
        time.sleep(0.5)
    pytest.fail(f"nodes still moving after {FINISH_TIMEOUT:.0f} s: {states}\n{details()}")


def assert_the_dsp_saw_no_excess_and_no_duplicate(dsp_url: str, states: dict[str, int]) -> dict[str, Any]:
    counters: dict[str, Any] = httpx.get(f"{dsp_url}/_control", timeout=10).json()["counters"]
    assert counters["over_limit"] == 0, counters
    assert counters["rate_limited"] == 0, counters
    assert counters["duplicates"] == {"campaigns": 0, "ad_groups": 0, "ads": 0}, counters
    (account,) = counters["by_key"].values()
    assert account["max_in_window"] <= LIMIT
    # The faults did happen, and the engine went through them.
    assert sum(counters["errors"].values()) > 50, counters["errors"]
    assert counters["dropped"] > 10, counters
    assert counters["replayed"] > 0, "a dropped POST is sent again with its key and answered the same entity"
    assert states.get("completed", 0) > 700, states
    assert states.get("error", 0) > 10, states  # the simulator's validation errors, kept
    print(f"states {states}; DSP counters {counters}")
    return counters


def assert_trees_are_consistent(base_url: str, campaign_ids: list[str]) -> None:
    """No child completed under a parent that did not; every error keeps the DSP's message."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for campaign_id in campaign_ids[:: max(1, CAMPAIGNS // 40)]:
            tree = client.get(f"/api/campaigns/{campaign_id}").json()["tree"]
            stack = [(tree, None)]
            while stack:
                node, parent = stack.pop()
                if parent is not None and node["state"] == "completed":
                    assert parent["state"] == "completed", (parent, node)
                if node["state"] == "error":
                    assert node["error_message"], node
                if node["state"] == "blocked":
                    assert parent is not None
                    assert parent["state"] in {"error", "dead", "blocked"}
                stack.extend((child, node) for child in node["children"])


def test_embedded_serve_on_sqlite_completes_every_node_within_the_limit_and_never_twice(
    tmp_path: Path, dsp: tuple[str, str]
) -> None:
    dsp_url, key = dsp
    env = embedded_env(
        tmp_path,
        **engine_settings(dsp_url, key),
    )
    service = start_service(tmp_path, env)
    try:
        ids = submit_all(service.base_url)
        states = wait_until_terminal(service.base_url, lambda: service.log.read_text()[-4000:])
        assert_the_dsp_saw_no_excess_and_no_duplicate(dsp_url, states)
        assert_trees_are_consistent(service.base_url, ids)
    finally:
        stop(service.process)


@pytest.fixture
def make_cluster(tmp_path: Path, redis_url: str) -> Iterator[Any]:
    """A deployment on a throw-away PostgreSQL database with Redis as the broker and the budget."""
    with cluster_factory(tmp_path, redis_url, redis_url) as make:
        yield make


def start_cluster(make_cluster: Any, dsp_url: str, key: str) -> tuple[Cluster, str, list[Any]]:
    cluster: Cluster = make_cluster(**engine_settings(dsp_url, key))
    base = cluster.serve()
    workers = [cluster.start("worker", "worker") for _ in range(2)]
    cluster.start("scheduler", "scheduler")
    return cluster, base, workers


@pytest.mark.postgres
def test_two_workers_on_postgresql_and_redis_complete_every_node_within_the_limit_and_never_twice(
    make_cluster: Any, dsp: tuple[str, str]
) -> None:
    dsp_url, key = dsp
    cluster, base, _workers = start_cluster(make_cluster, dsp_url, key)
    ids = submit_all(base)
    states = wait_until_terminal(base, cluster.logs)
    assert_the_dsp_saw_no_excess_and_no_duplicate(dsp_url, states)
    assert_trees_are_consistent(base, ids)
    passes = cluster.rows(
        "SELECT worker, count(*) FROM runs WHERE job = 'submissions.advance' AND status = 'succeeded' "
        "GROUP BY worker"
    )
    assert len(passes) == 2, f"both workers should have run passes: {passes}"


@pytest.mark.postgres
def test_a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(
    make_cluster: Any, dsp: tuple[str, str]
) -> None:
    dsp_url, key = dsp
    cluster, base, workers = start_cluster(make_cluster, dsp_url, key)
    ids = submit_all(base)

    def holder() -> int | None:
        # The worker that is in the middle of a pass right now, once a fifth of the nodes completed.
        if node_states(base).get("completed", 0) < CAMPAIGNS * NODES_PER_CAMPAIGN // 5:
            return None
        rows = cluster.rows(
            "SELECT worker FROM runs WHERE job = 'submissions.advance' AND status = 'running' "
            "AND worker IS NOT NULL"
        )
        pids = {int(str(worker).rsplit(":", 2)[1]) for (worker,) in rows}
        return next((process.pid for process in workers if process.pid in pids), None)

    pid = cluster.wait_for(holder, timeout=60, what="a worker in the middle of a pass")
    os.kill(pid, signal.SIGKILL)
    killed = next(process for process in workers if process.pid == pid)
    killed.wait(timeout=10)

    states = wait_until_terminal(base, cluster.logs)
    assert_the_dsp_saw_no_excess_and_no_duplicate(dsp_url, states)
    assert_trees_are_consistent(base, ids)
    lost = cluster.rows("SELECT count(*) FROM runs WHERE job = 'submissions.advance' AND status = 'lost'")
    assert lost[0][0] >= 1, "the killed worker's pass is recorded lost (and its work taken over)"


def test_make_run_starts_a_dsp_simulator_that_campaigns_reach(tmp_path: Path) -> None:
    """`serve --with-simulator` (`make run`) also starts a DSP simulator with a fresh key and points
    the engine at it: a posted campaign completes there; the key is never printed."""
    env = clean_env(
        CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
        CROSSDOCK_VAR_DIR=str(tmp_path / "var"),
        CROSSDOCK_SUBMISSIONS_POLL_INTERVAL="0.5",
        CROSSDOCK_SUBMISSIONS_ADVANCE_INTERVAL="0.5",
    )
    service = start_service(tmp_path, env, "--with-simulator")
    try:
        line = next(line for line in service.log.read_text().splitlines() if line.startswith("dsp:"))
        assert "(local DSP simulator, account 'demo';" in line
        assert "api_key" not in service.log.read_text()
        body = campaign(1)
        body["dsp"] = "demo"
        body["campaign"]["ad_groups"] = body["campaign"]["ad_groups"][:1]
        answer = httpx.post(f"{service.base_url}/api/campaigns", json=body, timeout=10)
        assert answer.status_code == 202, answer.text
        campaign_id = answer.json()["id"]

        def done() -> str | None:
            status = httpx.get(f"{service.base_url}/api/campaigns/{campaign_id}", timeout=10).json()["status"]
            return status if status in {"Completed", "Error"} else None

        finished = service.wait_for(done, timeout=60, what="the demo campaign to finish")
        assert finished in {"Completed", "Error"}
    finally:
        stop(service.process)
