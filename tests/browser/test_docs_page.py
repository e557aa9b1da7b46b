"""`/docs` works with no internet: Swagger UI's script and style come from the service itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Service, embedded_env, start_service
from tests.support.processes import stop


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    env = embedded_env(tmp_path)
    running = start_service(tmp_path, env)
    try:
        yield running
    finally:
        stop(running.process)


async def test_swagger_ui_renders_the_api_with_no_request_off_the_machine(
    service: Service, open_page: Any
) -> None:
    watched = await open_page()
    await watched.page.goto(f"{service.base_url}/docs")
    await watched.page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "Crossdock" in await watched.page.inner_text(".swagger-ui .info .title")
    # The operations are listed (the OpenAPI document was fetched and rendered).
    assert await watched.page.locator(".opblock").count() > 5
    watched.assert_clean()


async def test_redoc_leads_to_the_same_document(service: Service, open_page: Any) -> None:
    watched = await open_page()
    await watched.page.goto(f"{service.base_url}/redoc")
    await watched.page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert watched.page.url.endswith("/docs")
    watched.assert_clean()
