"""Progress of long CLI work: plain log lines when not on a terminal, throttled."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from crossdock.cli.progress import CliProgress


def test_plain_mode_logs_phases_and_throttles(caplog: pytest.LogCaptureFixture) -> None:
    """Off a TTY each phase logs one line and positions are logged at most every log_every seconds."""
    caplog.set_level(logging.INFO, logger="crossdock.progress")
    console = Console(file=io.StringIO(), force_terminal=False)
    with CliProgress(console=console, log_every=3600) as progress:
        assert not progress.interactive
        progress.phase("download", 1000)
        for done in range(0, 1001, 100):
            progress.advance(done)
        progress.phase("parse", 1000)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["Downloading feed (1000 bytes)", "Parsing and storing (1000 bytes)"]
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_migration_progress_counts_revisions(caplog: pytest.LogCaptureFixture) -> None:
    """The migration phase is logged in revisions, not bytes."""
    caplog.set_level(logging.INFO, logger="crossdock.progress")
    with CliProgress(console=Console(file=io.StringIO(), force_terminal=False)) as progress:
        progress.phase("migrate", 5)
    assert [record.getMessage() for record in caplog.records] == ["Migrating database (5 revisions)"]
