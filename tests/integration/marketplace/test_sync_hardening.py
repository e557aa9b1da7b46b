"""One bad value never fails a whole sync: bad records are rejected with their reason, the rest stored.

Runs against real SQLite and PostgreSQL (when configured) through the one runner, like the scheduler
and the CLI; the provider is a scripted transport, the feeds are the hostile ones of
:mod:`tests.integration.marketplace.hostile_feeds`.
"""

from __future__ import annotations

import errno
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crossdock.cli.errors import exit_code_for
from crossdock.errors import StorageError
from crossdock.marketplace import provider, service, store
from crossdock.marketplace.identity import plan_uuid
from crossdock.marketplace.models import Plan
from crossdock.marketplace.schemas import SyncRunRead
from crossdock.marketplace.settings import MarketplaceSettings
from crossdock.storage import Database
from tests.integration.marketplace.hostile_feeds import (
    EXPECTED_REJECTED,
    HEAD,
    HOSTILE_FEEDS,
    TAIL,
    good_record,
    write_hostile_feed,
)
from tests.support.feeds import FEED_URL, ScriptedProvider, sync_through_runner


async def stored_titles(db: Database, *idents: int) -> list[str | None]:
    async with db.reader() as session:
        rows = [await session.get(Plan, plan_uuid("fever", str(i), str(i))) for i in idents]
    return [row.title if row is not None else None for row in rows]


def overflowing(attribute: str, value: str) -> bytes:
    record = good_record(7, "Overflow")
    attributes = {
        "event_start_date": b'event_start_date="2021-06-30T21:00:00"',
        "event_end_date": b'event_end_date="2021-06-30T22:00:00"',
        "sell_from": b'sell_from="2020-07-01T00:00:00"',
        "sell_to": b'sell_to="2021-06-30T20:00:00"',
    }
    return record.replace(attributes[attribute], f'{attribute}="{value}"'.encode())


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("event_start_date", "0001-01-01T00:00:00+01:00"),
        ("event_end_date", "9999-12-31T23:59:59-05:00"),
        ("sell_from", "0001-01-01T00:00:00+01:00"),
        ("sell_to", "9999-12-31T23:59:59-05:00"),
    ],
)
async def test_date_overflowing_in_utc_rejects_one_record_and_the_sync_succeeds(
    database: Database, attribute: str, value: str
) -> None:
    """A date overflowing once in UTC (OverflowError) is one rejected record, counted by reason."""
    body = HEAD + good_record(1, "Before") + overflowing(attribute, value) + good_record(2, "After") + TAIL
    summary = await sync_through_runner(database, ScriptedProvider([body]))
    assert (summary.outcome, summary.seen, summary.inserted, summary.rejected) == ("success", 3, 2, 1)
    assert summary.rejected_reasons == {"invalid_date": 1}
    assert await stored_titles(database, 1, 7, 2) == ["Before", None, "After"]
    (run,) = await service.list_sync_runs(db=database, limit=1)
    assert SyncRunRead.from_run(run).rejected_reasons == {"invalid_date": 1}


async def test_earlier_good_version_survives_a_later_overflowing_one(database: Database) -> None:
    """A stored session keeps its last good values when the feed later sends an overflowing date for it."""
    good = HEAD + good_record(7, "Good") + TAIL
    bad = HEAD + overflowing("event_start_date", "0001-01-01T00:00:00+01:00") + TAIL
    scripted = ScriptedProvider([good, bad])
    await sync_through_runner(database, scripted)
    second = await sync_through_runner(database, scripted)
    assert (second.rejected, second.left_feed) == (1, 0)
    assert await stored_titles(database, 7) == ["Good"]


@pytest.mark.parametrize("name", sorted(HOSTILE_FEEDS))
async def test_hostile_feed_syncs_with_its_bad_record_rejected(
    database: Database, tmp_path: Path, name: str
) -> None:
    """Each hostile feed syncs: the hostile record is rejected and counted by reason, the good ones stored."""
    path = write_hostile_feed(tmp_path / f"{name}.xml", name)
    summary = await sync_through_runner(database, ScriptedProvider([path]))
    assert summary.outcome == "success"
    assert summary.rejected_reasons == EXPECTED_REJECTED[name]
    assert summary.rejected == sum(EXPECTED_REJECTED[name].values())
    assert await stored_titles(database, 1, 2) == ["Before", "After"]
    if name == "unknown-8mb":
        assert summary.ignored_elements == 8 * 1024 * 1024 // 4 + 1  # the <x/> and their wrapper


async def test_identical_feed_shortcut_keeps_the_reasons(database: Database) -> None:
    """A byte-identical re-sync reports the same rejection reasons as the sync it skips."""
    body = HEAD + overflowing("event_start_date", "0001-01-01T00:00:00+01:00") + TAIL
    scripted = ScriptedProvider([body])
    await sync_through_runner(database, scripted)
    again = await sync_through_runner(database, scripted)
    assert again.skipped_identical_feed
    assert again.rejected_reasons == {"invalid_date": 1}


class FullDisk:
    """A local file on a full disk: every write fails with ENOSPC, like the feed's temporary file would."""

    def __init__(self) -> None:
        self.written = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def truncate(self, size: int | None = None) -> int:
        return 0

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        return None


class BrokenDisk:
    """The feed's temporary file on a failing disk: reading it back fails with EIO."""

    def read(self, size: int = -1) -> bytes:
        raise OSError(errno.EIO, "Input/output error")


async def test_disk_full_while_downloading_is_a_one_line_storage_error() -> None:
    """ENOSPC writing the downloaded feed is a StorageError (exit code 8) with one line, not retried."""
    scripted = ScriptedProvider([HEAD + good_record(1, "Before") * 100 + TAIL])
    settings = MarketplaceSettings(provider_url=FEED_URL, max_feed_bytes=10**8)
    async with scripted.client() as client:
        with pytest.raises(StorageError) as caught:
            await provider.download_feed(client, settings, FullDisk())  # type: ignore[arg-type]
    message = caught.value.message
    assert "\n" not in message
    assert "No space left on device" in message
    assert FEED_URL in message
    assert exit_code_for(caught.value) == 8
    assert scripted.requests == 1


async def test_unreadable_temporary_feed_is_a_storage_error_naming_the_file(database: Database) -> None:
    """EIO reading the feed back is a one-line StorageError about the feed's file, not the database."""
    with pytest.raises(StorageError) as caught:
        await store.apply_feed(
            database,
            "fever",
            BrokenDisk(),
            progress=None,
            now=datetime.now(UTC),  # type: ignore[arg-type]
        )
    message = caught.value.message
    assert "Input/output error" in message
    assert "temporary file" in message
    assert "database" not in message
    assert "\n" not in message
    assert exit_code_for(caught.value) == 8


async def test_no_temporary_file_for_the_feed_is_a_storage_error(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A temporary directory that cannot take the feed's file fails the run with a one-line StorageError."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(StorageError) as caught:
        await sync_through_runner(database, ScriptedProvider([HEAD + good_record(1, "Before") + TAIL]))
    assert "temporary file" in caught.value.message
    assert "\n" not in caught.value.message
    assert exit_code_for(caught.value) == 8
