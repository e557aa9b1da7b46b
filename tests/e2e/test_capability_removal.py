"""Deleting a capability's folder and its line in the list leaves a working product.

For each capability, a copy of the package without it runs as a user would: the CLI answers, the
database migrates, the jobs are listed, and ``crossdock serve`` starts and answers over 127.0.0.1.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from crossdock.capabilities import CAPABILITIES
from crossdock.manifest import Capability
from tests.e2e.conftest import clean_env, start_service
from tests.support.processes import stop

pytestmark = pytest.mark.e2e

SOURCE = Path(importlib.import_module("crossdock").__file__ or "").resolve().parent


def package_without(capability: Capability, root: Path) -> Path:
    """A copy of ``crossdock`` under ``root`` without the capability's folder and list line."""
    copy = root / "crossdock"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(copy / capability.package.split(".", 1)[1])
    listing = copy / "capabilities.py"
    line = f'    manifest_of("{capability.package}"),\n'
    text = listing.read_text()
    assert text.count(line) == 1, "the list must name each capability on exactly one line"
    listing.write_text(text.replace(line, ""))
    return root


def run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=root,
    )


@pytest.mark.parametrize("capability", CAPABILITIES, ids=[c.name for c in CAPABILITIES])
def test_product_works_without_the_capability(capability: Capability, tmp_path: Path) -> None:
    """Without it: --help, db upgrade, jobs list, simulate --help and serve all work; it is gone from each."""
    root = package_without(capability, tmp_path / "src")
    env = clean_env(
        CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
        CROSSDOCK_VAR_DIR=str(tmp_path / "var"),
        CROSSDOCK_MARKETPLACE_SYNC_ENABLED="false",
    )
    where = run(root, env, "-c", "import crossdock; print(crossdock.__file__)")
    assert where.stdout.strip() == str(root / "crossdock" / "__init__.py"), where.stderr

    helped = run(root, env, "-m", "crossdock", "--help")
    assert helped.returncode == 0, helped.stderr
    if capability.cli is not None:
        assert f" {capability.name} " not in helped.stdout
    assert run(root, env, "-m", "crossdock", "simulate", "--help").returncode == 0

    upgraded = run(root, env, "-m", "crossdock", "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    listed = run(root, env, "-m", "crossdock", "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    jobs = {job["name"] for job in json.loads(listed.stdout)}
    assert not jobs & {spec.name for spec in capability.jobs}
    others = {spec.name for other in CAPABILITIES if other is not capability for spec in other.jobs}
    assert jobs == others | {"core.ping"}  # the core's own job stays

    service = start_service(tmp_path, {**env, "PYTHONPATH": str(root)}, cwd=root)
    try:
        base = service.base_url
        health = httpx.get(f"{base}/health", timeout=5)
        assert health.status_code == 200
        assert capability.name not in health.json()
        paths = set(httpx.get(f"{base}/openapi.json", timeout=5).json()["paths"])
        assert "/runs" in paths
        if capability.router is not None:
            own = {getattr(route, "path", "") for route in capability.router().routes}
            assert not own & paths
        runs = httpx.get(f"{base}/runs", timeout=5).json()["runs"]
        assert all(run["capability"] != capability.name for run in runs)
    finally:
        stop(service.process)
