"""Every capability plugs in through its manifest alone: mounted, registered, and imported by no one else."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from crossdock.api.app import create_app
from crossdock.capabilities import CAPABILITIES
from crossdock.cli.main import app as cli_app
from crossdock.config import Settings
from crossdock.jobs.registry import JOBS
from crossdock.manifest import Capability
from crossdock.simulators.cli import app as simulate_app

SOURCE = Path(importlib.import_module("crossdock").__file__ or "").resolve().parent
LIST_MODULE = SOURCE / "capabilities.py"
runner = CliRunner()

by_name = pytest.mark.parametrize("capability", CAPABILITIES, ids=[c.name for c in CAPABILITIES])


def fastapi_of(app: object) -> FastAPI:
    """The FastAPI application inside the ASGI layers ``create_app`` puts around it."""
    current = app
    while not isinstance(current, FastAPI):
        current = current.app  # type: ignore[attr-defined]
    return current


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports are not used in this project)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def folder_of(capability: Capability) -> Path:
    return SOURCE / capability.package.split(".", 1)[1]


def test_names_are_unique_and_match_their_folders() -> None:
    """Each capability's public name is unique and its package is the name with underscores."""
    names = [capability.name for capability in CAPABILITIES]
    assert len(set(names)) == len(names)
    for capability in CAPABILITIES:
        assert folder_of(capability).is_dir(), capability.name
        manifest = importlib.import_module(f"{capability.package}.capability")
        assert manifest.CAPABILITY is capability


@by_name
def test_routes_are_mounted(capability: Capability) -> None:
    """Every route of the capability's router is in the app the shell builds (and its OpenAPI document)."""
    if capability.router is None:
        pytest.skip(f"{capability.name} has no HTTP routes")
    mounted = set(fastapi_of(create_app(Settings())).openapi()["paths"])
    own = {getattr(route, "path", None) for route in capability.router().routes}
    assert own
    assert own <= mounted


@by_name
def test_jobs_are_registered_under_the_capability(capability: Capability) -> None:
    """The capability's jobs are in the one job list, marked as its own, with unique names."""
    registered = {spec.name: spec for spec in JOBS}
    assert len(registered) == len(JOBS)
    for spec in capability.jobs:
        assert registered[spec.name] is spec
        assert spec.capability == capability.name
        assert spec.name.startswith(capability.package.split(".", 1)[1] + ".")


@by_name
def test_cli_group_and_simulator_are_present(capability: Capability) -> None:
    """`crossdock <name> --help` and `crossdock simulate <upstream> --help` work for the capability."""
    if capability.cli is not None:
        result = runner.invoke(cli_app, [capability.name, "--help"])
        assert result.exit_code == 0, result.output
    if capability.simulator is not None:
        result = runner.invoke(simulate_app, [capability.simulator.name, "--help"])
        assert result.exit_code == 0, result.output


@by_name
def test_settings_are_named_after_the_capability(capability: Capability) -> None:
    """A capability's settings group reads CROSSDOCK_<CAPABILITY>_* and is loaded with the settings."""
    if capability.settings is None:
        pytest.skip(f"{capability.name} has no settings")
    prefix = "CROSSDOCK_" + capability.name.upper().replace("-", "_") + "_"
    assert capability.settings.model_config.get("env_prefix") == prefix
    assert isinstance(Settings().of(capability.settings), capability.settings)


@by_name
def test_migrations_are_a_branch_named_after_the_capability(capability: Capability) -> None:
    """A capability's revisions live in its folder, on an Alembic branch labelled with its name."""
    if capability.migrations is None:
        pytest.skip(f"{capability.name} has no migrations")
    assert capability.migrations.resolve().is_relative_to(folder_of(capability))
    labels = []
    for path in capability.migrations.glob("*.py"):
        if path.name != "__init__.py":
            module = ast.parse(path.read_text())
            for node in module.body:
                if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "branch_labels":
                    labels.append(ast.literal_eval(node.value))  # type: ignore[arg-type]
    assert (capability.name,) in labels


def test_no_module_outside_a_capability_imports_it() -> None:
    """Only the one list imports a capability; capabilities do not import each other."""
    offenders = []
    for path in SOURCE.rglob("*.py"):
        imports = imported_modules(path)
        for capability in CAPABILITIES:
            inside = path.is_relative_to(folder_of(capability))
            if inside or path == LIST_MODULE:
                continue
            hits = {
                name
                for name in imports
                if name == capability.package or name.startswith(capability.package + ".")
            }
            if hits:
                offenders.append(f"{path.relative_to(SOURCE)} imports {sorted(hits)}")
    assert offenders == []


def test_the_check_above_would_catch_an_import(tmp_path: Path) -> None:
    """The import scan sees both import forms (so the rule cannot pass by not looking)."""
    module = tmp_path / "leak.py"
    module.write_text("import crossdock.marketplace.service\nfrom crossdock.site_outages import jobs\n")
    assert {"crossdock.marketplace.service", "crossdock.site_outages.jobs"} <= imported_modules(module)


@by_name
def test_simulator_does_not_use_the_capabilitys_client_side(capability: Capability) -> None:
    """A simulator fakes its upstream on its own: never imports its capability's client side."""
    simulator = folder_of(capability) / "simulator"
    if not simulator.is_dir():
        pytest.skip(f"{capability.name} has no simulator package")
    roles = ("provider", "feed", "service", "store", "jobs")
    client_side = {f"{capability.package}.{role}" for role in roles}
    for path in simulator.rglob("*.py"):
        assert not (imported_modules(path) & client_side), path.name
