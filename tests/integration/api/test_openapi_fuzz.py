"""Schemathesis over every operation in our /openapi.json, against the service on a real socket.

Bounded (a fixed number of examples per operation, no deadline drift): no answer may be a 5xx, and
every answer must match what the document says — status, content type, body schema, and the
``Allow`` header of a 405.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from crossdock.api.app import create_app
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.storage import create_database
from crossdock.storage.migrate import upgrade
from tests.support.feeds import ScriptedProvider, sync_through_runner
from tests.support.servers import serve_in_thread

EXAMPLES = 25
"""Examples per operation and mode: enough to reach every parameter shape, bounded in time."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    allow_header_conformance,
    unsupported_method,
]


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory, fever_dir: Path) -> Iterator[str]:
    """The service on 127.0.0.1 over an embedded database holding the three samples."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'crossdock.db'}"
    upgrade(url)

    async def load() -> None:
        db = create_database(DatabaseSettings(url=url))
        try:
            provider = ScriptedProvider([fever_dir / f"response_{n}.xml" for n in (1, 2, 3)])
            for _ in range(3):
                await sync_through_runner(db, provider)
        finally:
            await db.dispose()

    asyncio.run(load())
    app = create_app(
        Settings(
            database=DatabaseSettings(url=url),
            api=ApiSettings(scheduler_enabled=False, read_model_poll_interval=3600),
        )
    )
    with serve_in_thread(app, lifespan="on") as base:
        yield base


LOCAL_TIME = {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"}


def local_times(node: Any) -> Any:
    """The document with ``format: time`` read as the contract means it: a local ``HH:MM:SS``.

    The provider's contract (copied field by field into our document) marks ``start_time`` and
    ``end_time`` as ``format: time`` with examples such as ``22:38:19``: local wall-clock times. JSON
    Schema's ``time`` format is RFC 3339's full-time, which requires an offset, so a strict validator
    would reject the contract's own examples.
    """
    if isinstance(node, dict):
        if node.get("format") == "time":
            return {**{k: v for k, v in node.items() if k != "format"}, **LOCAL_TIME}
        return {key: local_times(value) for key, value in node.items()}
    if isinstance(node, list):
        return [local_times(item) for item in node]
    return node


def operations(document: dict[str, Any]) -> list[schemathesis.APIOperation]:
    loaded = schemathesis.openapi.from_dict(local_times(document))
    return [result.ok() for result in loaded.get_all_operations()]


MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def run_operations(found: list[schemathesis.APIOperation], base_url: str, mode: GenerationMode) -> None:
    for operation in found:
        if mode is GenerationMode.NEGATIVE and not list(operation.iter_parameters()):
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base_url, checks=CHECKS)

        check()


@pytest.mark.parametrize("mode", MODES, ids=["valid", "invalid"])
def test_every_operation_answers_as_documented(service_url: str, mode: GenerationMode) -> None:
    """Generated requests to every operation of our /openapi.json: no 5xx, every answer as documented."""
    found = operations(httpx.get(f"{service_url}/openapi.json", timeout=10).json())
    assert {operation.path for operation in found} >= {"/search", "/health", "/metrics", "/runs"}
    run_operations(found, service_url, mode)


@pytest.mark.parametrize("mode", MODES, ids=["valid", "invalid"])
def test_search_answers_as_the_providers_contract_says(
    service_url: str, fever_dir: Path, mode: GenerationMode
) -> None:
    """The provider's own openapi.yaml, fuzzed against /search: no 5xx, answers match the contract."""
    contract: dict[str, Any] = yaml.safe_load((fever_dir / "openapi.yaml").read_text())
    found = operations(contract)
    assert [operation.path for operation in found] == ["/search"]
    run_operations(found, service_url, mode)
