"""Controller outages as a user meets them, with real processes on 127.0.0.1: the controllers simulator
feeding `crossdock serve` (also through `make run`), notifications surviving a flaky webhook and a
service killed with SIGKILL, and concurrent clients on two workers giving the reference events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossdock.storage.testing import throwaway_postgres_database
from tests.conftest import POSTGRES_URL_VARIABLE, postgres_url
from tests.e2e.conftest import clean_env, run_cli, wait_until_ready
from tests.support.processes import free_port
from tests.support.webhook import WebhookReceiver, check_final_state_notified, first_arrivals_by_key

pytestmark = pytest.mark.e2e

TYPES = ("panel_outage", "temperature_outage", "led_outage")
Key = tuple[str, str]
Spans = dict[Key, list[tuple[int, int, int]]]


# -- processes ---------------------------------------------------------------------------------------


@dataclass
class Serving:
    """A `crossdock serve` in a process group of its own (so SIGKILL takes its workers too)."""

    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole service at once, as a crash or the OOM killer would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM the service (it stops its workers and demo simulators), SIGKILL what is left."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # leftovers of the group, if any
        self.process.wait(timeout=10)


def serve(tmp_path: Path, env: dict[str, str], *args: str, name: str = "service") -> Serving:
    port = free_port()
    log = tmp_path / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crossdock", "serve", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
    serving = Serving(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_ready(f"{serving.base_url}/health", process, log)
    except BaseException:
        serving.stop()
        raise
    return serving


@pytest.fixture
def services() -> Iterator[list[Serving]]:
    """Services started by a test (append them); every one is stopped at the end."""
    started: list[Serving] = []
    yield started
    for serving in started:
        serving.stop()


def env_for(tmp_path: Path, **overrides: str) -> dict[str, str]:
    settings = {
        "CROSSDOCK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
        "CROSSDOCK_VAR_DIR": str(tmp_path / "var"),
        "CROSSDOCK_MARKETPLACE_SYNC_ENABLED": "false",
    }
    return clean_env(**{**settings, **overrides})


# -- events and the reference --------------------------------------------------------------------------


def all_events(base_url: str, **filters: str) -> list[dict[str, Any]]:
    """Every event, paged through GET /events."""
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "1000", **filters}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while True:
            page = client.get("/events", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            found.extend(body["events"])
            if body["next_cursor"] is None:
                return found
            params["cursor"] = body["next_cursor"]


def seconds(value: str | float) -> int:
    """A record's or an event's time as whole microseconds (RFC 3339 with Z, or Unix seconds)."""
    if isinstance(value, str):
        return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1_000_000)
    return round(value * 1_000_000)


def spans(events: list[dict[str, Any]]) -> Spans:
    result: Spans = defaultdict(list)
    for event in events:
        result[(event["controller_id"], event["outage_type"])].append(
            (seconds(event["start_time"]), seconds(event["end_time"]), event["report_count"])
        )
    return {key: sorted(value) for key, value in result.items()}


def reference(records: list[dict[str, Any]], gap_seconds: float) -> Spans:
    """The definition: per key, sort distinct timestamps, split where they differ by more than the gap."""
    stamps: dict[Key, set[int]] = defaultdict(set)
    for record in records:
        stamps[(record["controller_id"], record["outage_type"])].add(seconds(record["timestamp"]))
    gap = round(gap_seconds * 1_000_000)
    result: Spans = {}
    for key, values in stamps.items():
        events: list[tuple[int, int, int]] = []
        for stamp in sorted(values):
            if events and stamp - events[-1][1] <= gap:
                start, _end, count = events[-1]
                events[-1] = (start, stamp, count + 1)
            else:
                events.append((stamp, stamp, 1))
        result[key] = events
    return result


# -- the simulator ---------------------------------------------------------------------------------------


def test_simulated_controllers_reports_become_the_reference_events(
    tmp_path: Path, services: list[Serving]
) -> None:
    """`crossdock simulate controllers` with every fault posts to `serve`, prints a line per POST and a
    summary, and the service's events equal the reference computed from what its JSON log says it sent."""
    services.append(service := serve(tmp_path, env_for(tmp_path)))
    log = tmp_path / "sent.jsonl"
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable, "-m", "crossdock", "simulate", "controllers",
            "--target", service.base_url, "--controllers", "40", "--speed", "7200", "--duration", "5",
            "--start", "2025-09-01T00:00:00Z", "--seed", "7", "--loss", "0.05", "--duplicate-rate", "0.1",
            "--reorder-window", "3600", "--backlog-rate", "0.05", "--json-log", str(log),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0].startswith("controllers simulator: 40 controllers, speed 7200x")
    assert lines[-1].startswith(f"summary: {len(entries)} posts")
    assert len(lines) == len(entries) + 2
    assert 4 <= elapsed < 30
    assert {entry["kind"] for entry in entries} == {"live", "backlog"}
    assert {entry["form"] for entry in entries} == {"object", "array"}
    records = [record for entry in entries for record in entry["records"]]
    assert all(entry["status"] == 200 for entry in entries)
    assert sum(entry["answer"]["duplicates"] for entry in entries) > 0
    events = all_events(service.base_url)
    assert spans(events) == reference(records, 1500)
    assert any(event["merged_ids"] for event in events)  # reordering and backlogs bridged events


def simulator_processes(target: str) -> list[int]:
    """Pids of `crossdock simulate controllers` processes posting to ``target`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"controllers" in command and target.encode() in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the simulator")
def test_make_run_feeds_the_service_with_simulated_controllers(
    tmp_path: Path, services: list[Serving]
) -> None:
    """`serve --with-simulator` starts the controllers simulator against itself, events appear, and the
    simulator stops with the service — also when the service is killed."""
    env = env_for(tmp_path, CROSSDOCK_API_READ_MODEL_POLL_INTERVAL="0.1")
    services.append(service := serve(tmp_path, env, "--with-simulator"))
    line = next(line for line in service.log.read_text().splitlines() if line.startswith("controllers:"))
    assert f"posting to {service.base_url}/outages" in line
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all_events(service.base_url):
        time.sleep(0.2)
    assert all_events(service.base_url), (tmp_path / "var" / "controllers-simulator.log").read_text()
    assert simulator_processes(service.base_url)
    service.stop()
    assert simulator_processes(service.base_url) == []

    services.append(again := serve(tmp_path, env, "--with-simulator", name="again"))
    assert simulator_processes(again.base_url)
    os.kill(again.process.pid, signal.SIGKILL)  # the main process only: its child must notice
    deadline = time.monotonic() + 10
    while simulator_processes(again.base_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert simulator_processes(again.base_url) == []


# -- notifications ---------------------------------------------------------------------------------------


GAP = 3.0


def notification_stream(origin: float, keys: int, rng: random.Random) -> list[tuple[float, dict[str, Any]]]:
    """(second to send at, record) for ``keys`` controllers: reports every second, an outage split in two
    by a pause longer than the gap, a late report bridging them, a repeat, and late extensions."""
    planned: list[tuple[float, dict[str, Any]]] = []
    for number in range(keys):
        controller, outage_type = f"hook-{number:02d}", TYPES[number % 3]
        base = 0.5 + 0.3 * number + rng.uniform(0, 0.2)
        # (offset of the report, how late it is sent)
        reports = [(0.0, 0.1), (1.0, 0.1), (2.0, 0.1), (6.0, 0.1), (7.0, 0.1)]
        reports.append((4.0, 4.0))  # bridges 2 and 6: a merge
        reports.append((1.0, 7.5))  # a repeat
        if number % 2 == 0:
            reports.append((9.5, 1.5))  # after the event resolved: quietly reopened, resolved again
        for offset, late in reports:
            record = {
                "controller_id": controller,
                "outage_type": outage_type,
                "timestamp": origin + base + offset,
            }
            planned.append((base + offset + late, record))
    return sorted(planned, key=lambda item: item[0])


def post_until_stored(client: httpx.Client, service: list[Serving], body: object, *, deadline: float) -> None:
    """POST to the current service (``service[-1]``), retrying while it is down (killed, restarting)."""
    while True:
        try:
            if client.post(f"{service[-1].base_url}/outages", json=body).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("POST /outages kept failing")
        time.sleep(0.1)


def test_notifications_survive_a_flaky_webhook_and_a_killed_service(
    tmp_path: Path, services: list[Serving]
) -> None:
    """With a receiver failing 50 % and down for a while, and the service killed with SIGKILL mid-stream
    and restarted on the same database: every opened, merged and resolved notification the final events
    imply arrives at least once, first arrivals in the outbox's order per key; the runs show delivery."""
    receiver = WebhookReceiver(fail_rate=0.5, seed=2)
    receiver.start()
    env = env_for(
        tmp_path,
        CROSSDOCK_CONTROLLER_OUTAGES_WEBHOOK_URL=receiver.url,
        CROSSDOCK_CONTROLLER_OUTAGES_GAP=str(GAP),
        CROSSDOCK_CONTROLLER_OUTAGES_RESOLVE_INTERVAL="0.3",
        CROSSDOCK_CONTROLLER_OUTAGES_DELIVERY_INTERVAL="0.2",
        CROSSDOCK_HTTP_BACKOFF_INITIAL="0.05",
        CROSSDOCK_HTTP_BACKOFF_MAX="0.1",
        CROSSDOCK_HTTP_MAX_WAIT="0.2",
        CROSSDOCK_HTTP_READ_TIMEOUT="2",
        CROSSDOCK_HTTP_BREAKER_RESET_TIMEOUT="1",
    )
    current: list[Serving] = []  # the service to post to: the first, then the restarted one

    def crash_and_restart() -> None:
        """At 5 s into the stream, while the client keeps posting: SIGKILL, then start again."""
        time.sleep(max(0.0, began + 5 - time.monotonic()))
        current[0].kill()
        services.append(restarted := serve(tmp_path, env, name="second"))
        current.append(restarted)

    try:
        services.append(first := serve(tmp_path, env, name="first"))
        current.append(first)
        origin = time.time()
        began = time.monotonic()
        planned = notification_stream(origin, keys=10, rng=random.Random(4))
        sent: list[dict[str, Any]] = []
        with ThreadPoolExecutor(1) as crasher, httpx.Client(timeout=10) as client:
            crash = crasher.submit(crash_and_restart)
            index = 0
            while index < len(planned):
                now = time.monotonic() - began
                if receiver.listening and 3 <= now < 9:
                    receiver.stop()
                elif not receiver.listening and now >= 9:
                    receiver.start()
                due = [record for at, record in planned[index:] if at <= now]
                if not due:
                    time.sleep(0.05)
                    continue
                index += len(due)
                body: object = due[0] if len(due) == 1 else due
                post_until_stored(client, current, body, deadline=time.monotonic() + 60)
                sent.extend(due)
            crash.result(timeout=60)
        assert first.process.returncode == -signal.SIGKILL
        if not receiver.listening:
            receiver.start()
        service = current[-1]

        def settled() -> bool:
            events = all_events(service.base_url)
            if any(event["status"] != "resolved" for event in events):
                return False
            runs = httpx.get(
                f"{service.base_url}/runs",
                params={"job": "controller_outages.deliver", "limit": "1"},
                timeout=10,
            ).json()["runs"]
            if not runs or runs[0]["details"].get("pending") != 0:
                return False
            try:
                check_final_state_notified(events, receiver.delivered())
            except AssertionError:
                return False
            return True

        deadline = time.monotonic() + 120
        while not settled():
            assert time.monotonic() < deadline, "notifications did not settle in time"
            time.sleep(0.3)
        events = all_events(service.base_url)
        assert spans(events) == reference(sent, GAP)
        assert any(event["merged_ids"] for event in events)
        runs = httpx.get(
            f"{service.base_url}/runs",
            params={"job": "controller_outages.deliver", "limit": "500"},
            timeout=10,
        ).json()["runs"]
        assert any(run["details"]["failed"] > 0 for run in runs)
        assert sum(run["details"]["delivered"] for run in runs) > 0
        service.stop()
    finally:
        receiver.stop()

    with sqlite3.connect(tmp_path / "crossdock.db") as connection:
        rows = connection.execute(
            "SELECT body, delivered_at FROM controller_outage_outbox ORDER BY id"
        ).fetchall()
    assert all(delivered_at is not None for _body, delivered_at in rows)
    outbox: dict[Key, list[str]] = defaultdict(list)
    for body, _delivered_at in rows:
        parsed = json.loads(body)
        outbox[(parsed["event"]["controller_id"], parsed["event"]["outage_type"])].append(
            json.dumps(parsed, sort_keys=True)
        )
    delivered = receiver.delivered()
    assert first_arrivals_by_key(delivered) == dict(outbox)
    assert {body["kind"] for body in delivered} == {"opened", "merged", "resolved"}
    assert any(not arrival.accepted for arrival in receiver.arrivals)


# -- concurrency -----------------------------------------------------------------------------------------


REPORTS = 20_000
KEYS = 500
CLIENTS = 8
ORIGIN = 1_756_684_800  # 2025-09-01T00:00:00Z


def concurrency_stream(rng: random.Random) -> tuple[list[dict[str, Any]], int]:
    """A shuffled stream of REPORTS distinct reports over KEYS keys plus 10 % repeats; the repeat count."""
    records = []
    per_key = REPORTS // KEYS
    for number in range(KEYS):
        controller, outage_type = f"conc-{number:03d}", TYPES[number % 3]
        at = ORIGIN + rng.randrange(0, 3600)
        for _ in range(per_key):
            at += rng.choices((600, 1200, 3600), weights=(70, 20, 10))[0]
            records.append({"controller_id": controller, "outage_type": outage_type, "timestamp": at})
    repeats = rng.sample(records, REPORTS // 10)
    stream = records + repeats
    rng.shuffle(stream)
    return stream, len(repeats)


def client_posts(records: list[dict[str, Any]], rng: random.Random) -> list[object]:
    """One client's bodies: arrays of 100-400 records, with single-record objects mixed in."""
    bodies: list[object] = []
    index = 0
    while index < len(records):
        if rng.random() < 0.15:
            bodies.append(records[index])
            index += 1
        else:
            size = rng.randint(100, 400)
            bodies.append(records[index : index + size])
            index += size
    return bodies


def send(base_url: str, bodies: list[object]) -> tuple[int, int]:
    accepted = duplicates = 0
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for body in bodies:
            response = client.post("/outages", json=body)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["rejected"] == []
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
    return accepted, duplicates


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """A throw-away database on the CROSSDOCK_TEST_POSTGRES_URL server, dropped afterwards."""
    url = postgres_url()
    if url is None:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    # One event loop of its own for entering and leaving (the test itself is synchronous).
    with asyncio.Runner() as runner:
        manager = throwaway_postgres_database(url)
        database = runner.run(manager.__aenter__())
        try:
            yield database
        finally:
            runner.run(manager.__aexit__(None, None, None))


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_concurrent_clients_on_two_workers_give_the_reference_events(
    kind: str, tmp_path: Path, services: list[Serving], request: pytest.FixtureRequest
) -> None:
    """8 concurrent clients post a shuffled stream of 20,000 reports over 500 keys with 10 % repeats (arrays
    and single records) to `serve --workers 2`: each report is accepted exactly once, and the events, paged
    through GET /events, equal the reference (SQLite: the embedded default; PostgreSQL: a throw-away one)."""
    if kind == "postgres":
        url: str = request.getfixturevalue("postgres_database_url")
        env = clean_env(CROSSDOCK_DATABASE_URL=url, CROSSDOCK_MARKETPLACE_SYNC_ENABLED="false")
        upgraded = run_cli("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
    else:
        env = clean_env(CROSSDOCK_MARKETPLACE_SYNC_ENABLED="false")  # ./var/crossdock.db in tmp_path
    services.append(service := serve(tmp_path, env, "--workers", "2"))
    rng = random.Random(2024)
    stream, repeats = concurrency_stream(rng)
    per_client = [client_posts(stream[number::CLIENTS], random.Random(number)) for number in range(CLIENTS)]
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda bodies: send(service.base_url, bodies), per_client))
    posted = time.monotonic() - started
    assert sum(accepted for accepted, _d in answers) == REPORTS
    assert sum(duplicates for _a, duplicates in answers) == repeats
    events = all_events(service.base_url)
    assert spans(events) == reference(stream, 1500)
    assert {event["status"] for event in events} == {"resolved"}
    posts = sum(map(len, per_client))
    print(f"\n{kind}: {len(stream)} records in {posts} POSTs by {CLIENTS} clients: {posted:.1f} s")
