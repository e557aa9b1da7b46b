"""Site outages hardening (issue 7), as an operator meets it: the CLI against the simulator on 127.0.0.1.

Unlike ``test_site_outages_e2e.py`` the CLI runs with default retry settings here: only the platform's
URL and key, the database and the var directory are set.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import clean_env, run_cli, running_simulator
from tests.support.processes import stop

pytestmark = pytest.mark.e2e

SITE = "norwich-pear-tree"


class Platform:
    """The krakenflex simulator process and the environment pointing the CLI at it."""

    def __init__(self, base_url: str, key: str, tmp: Path) -> None:
        self.base_url = base_url
        self.key = key
        self.env = clean_env(
            CROSSDOCK_SITE_OUTAGES_BASE_URL=base_url,
            CROSSDOCK_SITE_OUTAGES_API_KEY=key,
            CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'crossdock.db'}",
            CROSSDOCK_VAR_DIR=str(tmp / "var"),
        )

    def control(self, **changes: Any) -> None:
        httpx.put(f"{self.base_url}/_control", json=changes, timeout=5).raise_for_status()

    def counters(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.base_url}/_control", timeout=5).json()
        return dict(state["counters"])

    def accepted(self) -> list[Any]:
        posts = httpx.get(f"{self.base_url}/_control/posts", timeout=5).json()
        return [(post["site_id"], post["body"]) for post in posts if post["status"] == 200]

    def clear_posts(self) -> None:
        httpx.delete(f"{self.base_url}/_control/posts", timeout=5).raise_for_status()

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env={**self.env, **env}, timeout=150)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "crossdock", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    key = "test-" + secrets.token_hex(12)  # generated per run: never a real credential
    environment = clean_env(CROSSDOCK_SIMULATOR_KRAKENFLEX_API_KEY=key)  # the key by environment, too
    with running_simulator(tmp_path, "krakenflex", env=environment) as (base, _process):
        yield Platform(base, key, tmp_path)


@pytest.fixture
def expected(krakenflex_dir: Path) -> list[dict[str, str]]:
    body: list[dict[str, str]] = json.loads(
        (krakenflex_dir / "expected-site-outages-norwich-pear-tree.json").read_text()
    )
    return body


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one `error: ` line ending stderr (log lines may precede it; a traceback may not)."""
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:], result.stderr
    return lines[-1]


def unwritable_directory(tmp_path: Path) -> Path:
    """A directory where creating a file fails: mode 0500, or, for root (who ignores modes), /sys."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        return locked
    # Root ignores permission bits, but sysfs refuses new files even to root.
    if Path("/sys").is_dir():
        return Path("/sys")
    pytest.skip("running as root without sysfs: no directory refuses writes")


def test_malformed_site_ids_exit_2_before_any_request_or_record(platform: Platform) -> None:
    """Traversal, query strings, slashes and huge ids: exit 2, one quoted line, nothing sent or recorded."""
    for site_id in ("../../../x", "norwich-pear-tree?x=1", "a/b", "y" * 500):
        result = platform.cli("site-outages", "process", site_id)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result)
        assert "is not valid" in line
        assert len(line) < 300
        assert ("'" + site_id[:20]) in line
    assert platform.counters()["requests"] == 0
    runs = platform.cli("site-outages", "runs", "--json")
    assert json.loads(runs.stdout) == []


def test_malformed_scheduled_site_is_a_configuration_error(platform: Platform) -> None:
    """A bad id in CROSSDOCK_SITE_OUTAGES_SITES stops `jobs run` with exit 2 naming the variable."""
    result = platform.cli(
        "jobs", "run", "site_outages.process", CROSSDOCK_SITE_OUTAGES_SITES="norwich-pear-tree,../../admin"
    )
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert line.startswith("error: invalid setting CROSSDOCK_SITE_OUTAGES_SITES: ")
    assert platform.counters()["requests"] == 0


@pytest.mark.parametrize("case", ["symlink", "existing", "directory", "unwritable", "missing-parent"])
def test_unusable_output_exits_2_before_any_request(platform: Platform, tmp_path: Path, case: str) -> None:
    """--output to a symlink, an existing file (no --force), a directory or unwritable: exit 2 first."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    target = {
        "symlink": tmp_path / "link.json",
        "existing": victim,
        "directory": tmp_path,
        "unwritable": unwritable_directory(tmp_path) / "crossdock-payload.json",
        "missing-parent": tmp_path / "no-such-dir" / "payload.json",
    }[case]
    if case == "symlink":
        target.symlink_to(victim)
    result = platform.cli("site-outages", "process", SITE, "--output", str(target))
    assert result.returncode == 2, result.stderr
    assert one_error_line(result).startswith(f"error: cannot write --output {str(target)!r}: ")
    assert platform.counters()["requests"] == 0
    assert victim.read_text() == "keep"


def test_force_replaces_an_existing_output_atomically(
    platform: Platform, tmp_path: Path, expected: Any
) -> None:
    """With --force an existing file is replaced by the payload (no temporary left) and the POST accepted."""
    target = tmp_path / "payload.json"
    target.write_text("old")
    refused = platform.cli("site-outages", "process", SITE, "--output", str(target))
    assert refused.returncode == 2
    result = platform.cli("site-outages", "process", SITE, "--output", str(target), "--force")
    assert result.returncode == 0, result.stderr
    assert json.loads(target.read_text()) == expected
    assert platform.accepted() == [(SITE, expected)]
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".payload.json")]


def test_output_lost_after_the_post_says_the_post_was_accepted(
    platform: Platform, tmp_path: Path, expected: Any
) -> None:
    """If the directory vanishes during the run: exit 2, one line saying the POST was accepted."""
    folder = tmp_path / "out"
    folder.mkdir()
    platform.control(latency_ms=400)
    process = platform.popen("site-outages", "process", SITE, "--output", str(folder / "payload.json"))
    try:
        deadline = time.monotonic() + 60
        # The output is checked before the first request: remove its directory once requests flow.
        while platform.counters()["requests"] == 0:
            assert process.poll() is None, "the run ended before reaching the platform"
            assert time.monotonic() < deadline, "the run never reached the platform"
            time.sleep(0.02)
        folder.rmdir()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        stop(process)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert result.returncode == 2, stderr
    line = one_error_line(result)
    assert line.startswith(
        f"error: site {SITE}: the platform accepted the POST, but the payload could not be written"
    )
    assert "No such file or directory" in line
    assert platform.accepted() == [(SITE, expected)]


def test_forty_percent_500s_with_default_settings(platform: Platform, expected: Any) -> None:
    """Default settings, 40 % 500s on every endpoint: three runs in a row each get the body accepted once."""
    platform.control(error_rate=0.4)
    for _ in range(3):
        platform.clear_posts()
        result = platform.cli("site-outages", "process", SITE, "--json")
        assert result.returncode == 0, result.stderr
        assert platform.accepted() == [(SITE, expected)]
    assert platform.counters()["errors"] > 0


def test_retry_after_on_every_call_is_honoured(platform: Platform, expected: Any) -> None:
    """429 + Retry-After: 1 on each call's first attempt: success, one 429 per call, none retried early."""
    platform.control(rate_limit_rate=1.0, retry_after=1)
    started = time.monotonic()
    result = platform.cli("site-outages", "process", SITE, "--json")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["attempts"], summary["retries"]) == (6, 3)
    seen = platform.counters()
    assert (seen["rate_limited"], seen["early_retries"]) == (3, 0)
    assert elapsed >= 3
    assert platform.accepted() == [(SITE, expected)]


def test_platform_retry_budget_is_a_setting(platform: Platform) -> None:
    """CROSSDOCK_SITE_OUTAGES_MAX_ATTEMPTS=2 against a platform always failing: exit 6 after 2 requests."""
    platform.control(error_rate=1.0)
    result = platform.cli("site-outages", "process", SITE, CROSSDOCK_SITE_OUTAGES_MAX_ATTEMPTS="2")
    assert result.returncode == 6, result.stderr
    assert "after 2 attempts (attempts exhausted)" in one_error_line(result)
    assert platform.counters()["requests"] == 2
