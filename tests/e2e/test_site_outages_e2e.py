"""Site outages as an operator runs them: the CLI against the platform simulator over 127.0.0.1."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import clean_env, run_cli, running_simulator

pytestmark = pytest.mark.e2e


class Platform:
    """The krakenflex simulator process, its key, and the environment pointing the CLI at it."""

    def __init__(self, base_url: str, key: str, process: subprocess.Popen[bytes], tmp: Path) -> None:
        self.base_url = base_url
        self.key = key
        self.process = process
        self.env = clean_env(
            CROSSDOCK_KRAKENFLEX_BASE_URL=base_url,
            CROSSDOCK_KRAKENFLEX_API_KEY=key,
            CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'crossdock.db'}",
            CROSSDOCK_VAR_DIR=str(tmp / "var"),
            CROSSDOCK_HTTP_MAX_ATTEMPTS="12",
            CROSSDOCK_HTTP_BACKOFF_INITIAL="0.01",
            CROSSDOCK_HTTP_BACKOFF_MAX="0.05",
            CROSSDOCK_HTTP_MAX_WAIT="0.1",
            CROSSDOCK_HTTP_BREAKER_FAILURE_THRESHOLD="50",
            CROSSDOCK_HTTP_RATE_LIMIT="0",
        )

    def control(self, **changes: Any) -> None:
        httpx.put(f"{self.base_url}/_control", json=changes, timeout=5).raise_for_status()

    def posts(self) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.base_url}/_control/posts", timeout=5).json()
        return list(body["posts"] if isinstance(body, dict) else body)

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env={**self.env, **env})


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    key = "test-" + secrets.token_hex(12)  # generated per run: never a real credential
    with running_simulator(tmp_path, "krakenflex", "--api-key", key) as (base, process):
        yield Platform(base, key, process, tmp_path)


def expected_norwich(krakenflex_dir: Path) -> list[dict[str, str]]:
    body: list[dict[str, str]] = json.loads(
        (krakenflex_dir / "expected-site-outages-norwich-pear-tree.json").read_text()
    )
    return body


def accepted(platform: Platform) -> list[dict[str, Any]]:
    return [post for post in platform.posts() if post["status"] == 200]


def test_norwich_is_posted_and_accepted(platform: Platform, krakenflex_dir: Path) -> None:
    """The norwich outages are posted once, accepted by the platform, and the run is recorded."""
    result = platform.cli("site-outages", "process", "norwich-pear-tree", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["outcome"], summary["posted"]) == ("success", 10)
    (post,) = accepted(platform)
    assert post["body"] == expected_norwich(krakenflex_dir)
    runs = platform.cli("site-outages", "runs", "--json")
    assert json.loads(runs.stdout)[0]["outcome"] == "success"
    assert platform.key not in result.stdout + result.stderr + runs.stdout


def test_thirty_percent_errors_everywhere_still_succeeds(platform: Platform, krakenflex_dir: Path) -> None:
    """With 30 % of 500s on every endpoint, POST included, retries get the exact body accepted once."""
    platform.control(error_rate=0.3)
    result = platform.cli("site-outages", "process", "norwich-pear-tree", "--json")
    assert result.returncode == 0, result.stderr
    (post,) = accepted(platform)
    assert post["body"] == expected_norwich(krakenflex_dir)


def test_compat_script_does_the_same(platform: Platform) -> None:
    """`process_outages --site-name norwich-pear-tree` posts the accepted body too."""
    script = Path(sys.executable).with_name("process_outages")
    result = subprocess.run(
        [str(script), "--site-name", "norwich-pear-tree"],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(accepted(platform)) == 1


def test_dry_run_posts_nothing(platform: Platform, krakenflex_dir: Path, tmp_path: Path) -> None:
    """--dry-run computes the payload, writes it with --output, and posts nothing."""
    output = tmp_path / "payload.json"
    result = platform.cli(
        "site-outages", "process", "norwich-pear-tree", "--dry-run", "--output", str(output)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(output.read_text()) == expected_norwich(krakenflex_dir)
    assert platform.posts() == []


@pytest.mark.parametrize(
    ("args", "env", "code", "says"),
    [
        (["norwich-pear-tree"], {"CROSSDOCK_KRAKENFLEX_API_KEY": "wrong-key"}, 3, "Forbidden"),
        (["no-such-site"], {}, 4, "Site not found"),
        (["norwich-pear-tree", "--since", "2022-06-01T00:00:00Z"], {}, 5, "Unexpected outages received"),
        (["too-much-too-soon"], {}, 6, "exceeded your limit"),
        (["norwich-pear-tree", "--since", "yesterday"], {}, 2, "--since"),
        (["norwich-pear-tree"], {"CROSSDOCK_KRAKENFLEX_API_KEY": ""}, 2, "CROSSDOCK_KRAKENFLEX_API_KEY"),
    ],
)
def test_exit_codes_and_messages(
    platform: Platform, args: list[str], env: dict[str, str], code: int, says: str
) -> None:
    """Each failure has its exit code and a one-line message naming the site and the upstream's words."""
    result = platform.cli("site-outages", "process", *args, **env)
    assert result.returncode == code, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert says in last
    if code in (3, 4, 5, 6):
        assert args[0] in last
    assert platform.key not in result.stdout + result.stderr


def test_platform_down_is_exit_6(platform: Platform) -> None:
    """500 on every attempt: retries exhausted, exit 6, the run recorded as failed."""
    platform.control(error_rate=1.0)
    result = platform.cli("site-outages", "process", "norwich-pear-tree", CROSSDOCK_HTTP_MAX_ATTEMPTS="3")
    assert result.returncode == 6, result.stderr
    runs = json.loads(platform.cli("site-outages", "runs", "--json").stdout)
    assert runs[0]["outcome"] == "failed"


def test_skip_empty_posts_nothing_when_no_outage_is_kept(platform: Platform) -> None:
    """--skip-empty with nothing kept posts nothing and succeeds; the run says skipped_empty."""
    result = platform.cli(
        "site-outages",
        "process",
        "norwich-pear-tree",
        "--since",
        "2030-01-01T00:00:00Z",
        "--skip-empty",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "skipped_empty"
    assert platform.posts() == []
