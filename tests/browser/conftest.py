"""Browser tests: Debian's Chromium driven by Playwright for Python, against the real service.

The browser is the executable named by ``CROSSDOCK_TEST_BROWSER`` (``.ci/run`` installs Debian's
``chromium`` with apt-get and sets it to ``/usr/bin/chromium``); without the variable, a
``chromium`` on the PATH is used, and the tests are skipped when there is none. When the variable is
set, a missing browser is a failure. Nothing is ever downloaded: Playwright only drives that binary.

Every page a test opens is watched (:class:`Watched`): console errors, failed requests, answers of
400 or more, and any request leaving 127.0.0.1 (aborted: the pages must work with no internet).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

BROWSER_VARIABLE = "CROSSDOCK_TEST_BROWSER"
SCREENSHOTS_VARIABLE = "CROSSDOCK_TEST_SCREENSHOTS"
"""Where the tests save their screenshots: ``docs/console`` refreshes the committed ones (the README
shows them); unset, a temporary folder, so a test run leaves the working tree as it was."""


def screenshots_folder() -> Path:
    configured = os.environ.get(SCREENSHOTS_VARIABLE)
    if configured:
        return Path(configured).resolve()
    return Path(tempfile.gettempdir()) / f"crossdock-screenshots-{os.getpid()}"


LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def browser_executable() -> str:
    configured = os.environ.get(BROWSER_VARIABLE)
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            pytest.fail(f"{BROWSER_VARIABLE}={configured} is set but is not an executable browser")
        return configured
    found = shutil.which("chromium")
    if found is None:
        pytest.skip(f"no chromium on the PATH and {BROWSER_VARIABLE} is not set")
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Chromium for one test (Playwright's async API, on the test's own event loop)."""
    from playwright.async_api import async_playwright

    executable = browser_executable()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Watched:
    """A page and what went wrong on it."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"failed request: {what}" for what in self.failed),
            *(f"request off 127.0.0.1 (blocked): {url}" for url in self.external),
        ]

    def assert_clean(self) -> None:
        assert self.problems() == [], "\n".join(self.problems())

    async def screenshot(self, name: str) -> None:
        """Save the page as ``NAME.png`` in :func:`screenshots_folder` (``docs/console`` to refresh the
        committed ones: ``CROSSDOCK_TEST_SCREENSHOTS=docs/console make test-browser``)."""
        folder = screenshots_folder()
        folder.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def watch(page: Any) -> Watched:
    watched = Watched(page)

    async def route(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            await route.continue_()
        else:
            watched.external.append(route.request.url)
            await route.abort()

    await page.route("**/*", route)
    page.on(
        "console", lambda message: message.type == "error" and watched.console_errors.append(message.text)
    )
    page.on("pageerror", lambda error: watched.console_errors.append(str(error)))
    page.on("requestfailed", lambda request: watched.failed.append(f"{request.method} {request.url}"))
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and watched.failed.append(f"{response.status} {response.request.method} {response.url}")
        ),
    )
    return watched


@pytest.fixture
async def open_page(browser: Any) -> AsyncIterator[Any]:
    """``await open_page(width=1280)``: a new page in a fresh context, watched."""
    contexts: list[Any] = []

    async def make(width: int = 1280, height: int = 900) -> Watched:
        context = await browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        return await watch(await context.new_page())

    yield make
    for context in contexts:
        await context.close()
