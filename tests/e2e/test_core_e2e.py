"""The shared core as a user meets it: one run listing for every capability, `make run`'s demo
simulator, and the same exit codes from every command (simulate included)."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Simulator, clean_env, run_cli, start_service
from tests.support.processes import free_port, stop

pytestmark = pytest.mark.e2e


def cli_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    settings = {
        "CROSSDOCK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
        "CROSSDOCK_VAR_DIR": str(tmp_path / "var"),
        "CROSSDOCK_HTTP_MAX_ATTEMPTS": "2",
        "CROSSDOCK_HTTP_BACKOFF_INITIAL": "0.01",
        "CROSSDOCK_HTTP_MAX_WAIT": "0.05",
    }
    return clean_env(**{**settings, **overrides})


def test_runs_started_from_the_cli_are_recorded_and_listed_together(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A CLI sync and a CLI site run are both recorded as runs (trigger cli), listed by `crossdock runs`."""
    env = cli_env(
        tmp_path,
        CROSSDOCK_MARKETPLACE_PROVIDER_URL=simulator.feed_url,
        CROSSDOCK_SITE_OUTAGES_BASE_URL=f"http://127.0.0.1:{free_port()}",
        CROSSDOCK_SITE_OUTAGES_API_KEY="test-not-a-real-key",
    )
    assert run_cli("marketplace", "sync", env=env).returncode == 0
    assert run_cli("site-outages", "process", "norwich-pear-tree", env=env).returncode == 6
    listed = run_cli("runs", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    runs: list[dict[str, Any]] = json.loads(listed.stdout)
    assert [(r["job"], r["subject"], r["trigger"], r["outcome"]) for r in runs] == [
        ("site_outages.process", "norwich-pear-tree", "cli", "failed"),
        ("marketplace.sync", "fever", "cli", "success"),
    ]
    only = json.loads(run_cli("runs", "--capability", "marketplace", "--json", env=env).stdout)
    assert [r["job"] for r in only] == ["marketplace.sync"]
    jobs = {job["name"]: job for job in json.loads(run_cli("jobs", "list", "--json", env=env).stdout)}
    assert jobs["marketplace.sync"]["last_outcome"] == "success"
    assert jobs["site_outages.process"]["last_outcome"] == "failed"
    table = run_cli("runs", env=env)
    assert "marketplace.sync" in table.stdout
    assert "site_outages.process" in table.stdout
    unknown = run_cli("runs", "--capability", "nope", env=env)
    assert unknown.returncode == 2
    assert "marketplace" in unknown.stderr


def test_jobs_run_runs_each_scheduled_site(tmp_path: Path) -> None:
    """`jobs run site_outages.process` runs once per configured site, each its own run record."""
    env = cli_env(
        tmp_path,
        CROSSDOCK_SITE_OUTAGES_BASE_URL=f"http://127.0.0.1:{free_port()}",
        CROSSDOCK_SITE_OUTAGES_API_KEY="test-not-a-real-key",
        CROSSDOCK_SITE_OUTAGES_SITES="norwich-pear-tree,kingfisher",
    )
    result = run_cli("jobs", "run", "site_outages.process", env=env)
    assert result.returncode == 1  # nothing listens: both runs fail, and say so
    runs = json.loads(run_cli("runs", "--capability", "site-outages", "--json", env=env).stdout)
    assert sorted(r["subject"] for r in runs) == ["kingfisher", "norwich-pear-tree"]
    nothing = run_cli("jobs", "run", "site_outages.process", env=cli_env(tmp_path))
    assert nothing.returncode == 2
    assert "CROSSDOCK_SITE_OUTAGES_SITES" in nothing.stderr.strip().splitlines()[-1]


def test_make_run_starts_the_demo_simulator_and_stops_it(tmp_path: Path) -> None:
    """`serve --with-simulator` starts the provider simulator, syncs from it, and stops it on exit."""
    env = cli_env(tmp_path, CROSSDOCK_API_READ_MODEL_POLL_INTERVAL="0.1")
    service = start_service(tmp_path, env, "--with-simulator")
    base = service.base_url
    try:
        line = next(line for line in service.log.read_text().splitlines() if line.startswith("provider:"))
        assert line.endswith("(local marketplace simulator)")
        simulator_url = line.split()[1]
        assert simulator_url.startswith("http://127.0.0.1:")
        for _ in range(100):
            events = httpx.get(f"{base}/search", timeout=5).json()["data"]["events"]
            if events:
                break
            time.sleep(0.1)
        assert len(events) == 3
    finally:
        stop(service.process)
    with pytest.raises(httpx.HTTPError):
        httpx.get(simulator_url, timeout=2)


def test_simulate_reports_a_taken_port_like_every_command(tmp_path: Path) -> None:
    """A simulator that cannot listen exits 2 with one `error:` line, like every configuration error."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("simulate", "marketplace", "--port", str(port), env=cli_env(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_db_upgrade_refuses_our_tables_without_a_migration_record(tmp_path: Path) -> None:
    """`db upgrade` on a database holding our tables but no alembic_version: exit 8, one line, untouched."""
    database = tmp_path / "leftover.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE site_outage_runs (id INTEGER PRIMARY KEY)")
    env = cli_env(tmp_path, CROSSDOCK_DATABASE_URL=f"sqlite:///{database}")
    result = run_cli("db", "upgrade", env=env)
    assert result.returncode == 8, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: database ")
    assert "site_outage_runs" in last
    assert "no migration record" in last
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"site_outage_runs"}


def test_keys_made_by_the_cli_guard_a_running_service(tmp_path: Path) -> None:
    """Keys from `crossdock keys create`, set in CROSSDOCK_API_KEYS, guard `serve`; /search stays open."""
    made = [
        json.loads(run_cli("keys", "create", name, "--scope", scope, "--json").stdout)
        for name, scope in (
            ("ops", "ops:read"),
            ("reader", "marketplace:read"),
        )
    ]
    env = cli_env(
        tmp_path,
        CROSSDOCK_API_KEYS=json.dumps([entry["entry"] for entry in made]),
        CROSSDOCK_MARKETPLACE_SYNC_ENABLED="false",
    )
    listed = run_cli("keys", "list", "--json", env=env)
    assert [row["name"] for row in json.loads(listed.stdout)] == ["ops", "reader"]
    assert made[0]["key"] not in listed.stdout
    service = start_service(tmp_path, env)
    base = service.base_url
    try:
        assert httpx.get(f"{base}/health", timeout=5).json() == {"status": "ok"}
        assert httpx.get(f"{base}/search", timeout=5).status_code == 200
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
        ops = {"Authorization": f"Bearer {made[0]['key']}"}
        reader = {"X-API-Key": made[1]["key"]}
        assert httpx.get(f"{base}/metrics", headers=ops, timeout=5).status_code == 200
        assert httpx.get(f"{base}/metrics", headers=reader, timeout=5).status_code == 403
        assert httpx.get(f"{base}/marketplace/runs", headers=reader, timeout=5).status_code == 200
        assert "database" in httpx.get(f"{base}/health", headers=ops, timeout=5).json()
    finally:
        stop(service.process)
    assert made[0]["key"] not in service.log.read_text()
