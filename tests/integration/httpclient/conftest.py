"""A fault-injecting upstream on a real socket on 127.0.0.1 for the HTTP client's integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.httpclient.faulty_upstream import FaultyUpstream
from tests.support.servers import serve_in_thread


@pytest.fixture(scope="module")
def faulty_upstream() -> FaultyUpstream:
    return FaultyUpstream()


@pytest.fixture(scope="module")
def upstream_url(faulty_upstream: FaultyUpstream) -> Iterator[str]:
    """Base URL of one FaultyUpstream server shared by the module's tests (they use distinct ?key=)."""
    with serve_in_thread(faulty_upstream) as base_url:
        yield base_url
