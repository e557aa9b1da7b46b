"""Peak memory of parsing a hostile feed stays flat: each feed is parsed in a fresh process.

The outcome of the same feeds is checked by ``test_sync_hardening.py``; ``bench/limits_bench.py``
measures whole ``crossdock marketplace sync`` commands on them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.marketplace.hostile_feeds import EXPECTED_REJECTED, HOSTILE_FEEDS, write_hostile_feed

# Before the limits these cost +60 MB (title) to +276 MB (300k zones) over the imports.
FLAT_MB = 32

PARSE = """
import json, resource, sys
from crossdock.marketplace.feed import RejectedSession, SessionPayload, iter_feed
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
stored = rejected = 0
for item in iter_feed(sys.argv[1]):
    stored += isinstance(item, SessionPayload)
    rejected += isinstance(item, RejectedSession)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mb": (peak - before) / 1024, "stored": stored, "rejected": rejected}))
"""


@pytest.mark.parametrize("name", sorted(HOSTILE_FEEDS))
def test_parsing_a_hostile_feed_keeps_peak_memory_flat(tmp_path: Path, name: str) -> None:
    """Parsing each hostile feed grows the process's peak RSS by less than FLAT_MB over its imports."""
    path = write_hostile_feed(tmp_path / f"{name}.xml", name)
    completed = subprocess.run(
        [sys.executable, "-c", PARSE, str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(completed.stdout)
    assert result["stored"] >= 2
    assert result["rejected"] == sum(EXPECTED_REJECTED[name].values())
    assert result["growth_mb"] < FLAT_MB, result
