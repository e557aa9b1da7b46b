"""Migrations on real databases: a database of the previous release upgrades with its runs carried over,
and one holding our tables without a migration record is refused, untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from crossdock.capabilities import CAPABILITIES
from crossdock.errors import StorageError
from crossdock.jobs import records
from crossdock.marketplace.models import Plan
from crossdock.marketplace.schemas import SyncRunRead
from crossdock.site_outages.schemas import SiteOutagesRunRead
from crossdock.storage import Database
from crossdock.storage.migrate import upgrade_async

STARTED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def previous_release_schema() -> sa.MetaData:
    """The tables release 0.1.0 created (revisions 0001 and 0002 as they were then)."""
    meta = sa.MetaData()
    times = {"started_at": False, "finished_at": True}
    sa.Table(
        "marketplace_sync_runs",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(32), nullable=False),
        *(sa.Column(name, sa.DateTime(timezone=True), nullable=null) for name, null in times.items()),
        sa.Column("outcome", sa.String(16), nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=False)
            for name in ("seen", "inserted", "updated", "unchanged", "rejected", "left_feed")
        ),
        sa.Column("changed", sa.Boolean, nullable=False),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("feed_bytes", sa.Integer),
        sa.Column("feed_sha256", sa.String(64)),
        sa.Column("attempts", sa.Integer),
        sa.Column("error", sa.Text),
    )
    sa.Table(
        "site_outage_runs",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(128), nullable=False),
        *(sa.Column(name, sa.DateTime(timezone=True), nullable=null) for name, null in times.items()),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("since", sa.String(64), nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=False)
            for name in ("fetched", "kept", "dropped_before_cutoff", "dropped_unknown_device", "posted")
        ),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("payload_sha256", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.Column("duration_seconds", sa.Float),
    )
    sa.Table(
        "job_runs",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_name", sa.String(64), nullable=False),
        *(sa.Column(name, sa.DateTime(timezone=True), nullable=null) for name, null in times.items()),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("summary", sa.JSON),
        sa.Column("error", sa.Text),
    )
    sa.Table(
        "upstream_states",
        meta,
        sa.Column("upstream", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table("alembic_version", meta, sa.Column("version_num", sa.String(32), primary_key=True))
    Plan.__table__.to_metadata(meta)  # unchanged since 0.1.0
    return meta


async def build_previous_release(url: str) -> None:
    """A database as 0.1.0 left it: its tables at revision 0002, with a few recorded runs and a plan."""
    meta = previous_release_schema()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(meta.create_all)
            tables = meta.tables
            await connection.execute(tables["alembic_version"].insert(), [{"version_num": "0002"}])
            sync_run = {
                "provider": "fever",
                "started_at": STARTED,
                "finished_at": STARTED,
                "outcome": "success",
                "seen": 3,
                "inserted": 3,
                "updated": 0,
                "unchanged": 0,
                "rejected": 0,
                "left_feed": 0,
                "changed": True,
                "duration_seconds": 0.5,
                "feed_bytes": 1736,
                "feed_sha256": "a" * 64,
                "attempts": 1,
                "error": None,
            }
            failed = {**sync_run, "outcome": "failed", "seen": 0, "inserted": 0, "changed": False}
            failed.update(feed_bytes=None, feed_sha256=None, attempts=4, error="marketplace unavailable")
            await connection.execute(tables["marketplace_sync_runs"].insert(), [sync_run, failed])
            await connection.execute(
                tables["site_outage_runs"].insert(),
                [
                    {
                        "site_id": "norwich-pear-tree",
                        "started_at": STARTED,
                        "finished_at": STARTED,
                        "outcome": "success",
                        "since": "2022-01-01T00:00:00.000Z",
                        "fetched": 40,
                        "kept": 10,
                        "dropped_before_cutoff": 5,
                        "dropped_unknown_device": 25,
                        "posted": 10,
                        "attempts": 3,
                        "payload_sha256": "f" * 64,
                        "error": None,
                        "duration_seconds": 1.5,
                    }
                ],
            )
            await connection.execute(
                tables["job_runs"].insert(),
                [{"job_name": "marketplace.sync", "started_at": STARTED, "outcome": "success"}],
            )
            await connection.execute(
                text(
                    "INSERT INTO marketplace_plans (id, provider, base_event_id, event_id, title, sell_mode, "
                    "ever_online, starts_at, digest, present_in_feed, first_seen_at, last_changed_at, zones) "
                    "VALUES ('id-1', 'fever', '291', '291', 'Camela', 'online', true, "
                    "'2021-06-30 21:00:00', 'd', true, '2026-11-20 10:00:00', '2026-11-20 10:00:00', '[]')"
                )
            )
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


@pytest.fixture
async def empty_url(database: Database) -> str:
    """The URL of an empty database (SQLite, and PostgreSQL when configured): the fixture's, emptied."""
    engine = create_async_engine(database.url)
    try:
        async with engine.begin() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            for name in names:
                await connection.execute(text(f'DROP TABLE "{name}"'))
    finally:
        await engine.dispose()
    return database.url


async def test_previous_release_upgrades_with_its_runs_carried_over(
    empty_url: str, database: Database
) -> None:
    """0.1.0's sync and site runs become run records with the same counts; its run tables are gone."""
    await build_previous_release(empty_url)
    await upgrade_async(empty_url)
    capability_tables = {table for capability in CAPABILITIES for table in capability.tables}
    assert (
        await table_names(empty_url)
        == {"alembic_version", "runs", "job_processes", "upstream_states"} | capability_tables
    )
    syncs = [SyncRunRead.from_run(run) for run in await records.list_runs(database, capability="marketplace")]
    assert [(r.outcome, r.seen, r.inserted, r.attempts, r.feed_bytes, r.error) for r in syncs] == [
        ("failed", 0, 0, 4, None, "marketplace unavailable"),
        ("success", 3, 3, 1, 1736, None),
    ]
    assert syncs[1].changed is True
    (site,) = [
        SiteOutagesRunRead.from_run(run)
        for run in await records.list_runs(database, capability="site-outages")
    ]
    assert (site.site_id, site.outcome, site.fetched, site.kept, site.posted, site.attempts) == (
        "norwich-pear-tree",
        "success",
        40,
        10,
        10,
        3,
    )
    every = await records.list_runs(database)
    assert len(every) == 3  # job_runs duplicated the sync runs: not carried twice
    assert {run.trigger for run in every} == {"legacy"}
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Plan)) == 1
    await upgrade_async(empty_url)  # repeatable
    assert len(await records.list_runs(database)) == 3


async def test_our_tables_without_a_migration_record_are_refused(empty_url: str) -> None:
    """Some of our tables but no alembic_version: one line saying what to do, and nothing is changed."""
    engine = create_async_engine(empty_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE site_outage_runs (id INTEGER PRIMARY KEY)"))
    finally:
        await engine.dispose()
    with pytest.raises(StorageError) as caught:
        await upgrade_async(empty_url)
    message = caught.value.message
    assert "\n" not in message
    assert "site_outage_runs" in message
    assert "no migration record" in message
    assert "crossdock db upgrade" in message
    assert await table_names(empty_url) == {"site_outage_runs"}


async def test_other_applications_tables_do_not_block_a_first_upgrade(empty_url: str) -> None:
    """A database holding only tables that are not ours is migrated normally beside them."""
    engine = create_async_engine(empty_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    finally:
        await engine.dispose()
    await upgrade_async(empty_url)
    assert {"someone_elses", "runs"} <= await table_names(empty_url)


async def test_every_capabilitys_tables_are_migrated(empty_url: str) -> None:
    """`db upgrade` creates each listed capability's tables, from its own migration folder."""
    await upgrade_async(empty_url)
    present = await table_names(empty_url)
    for capability in CAPABILITIES:
        assert set(capability.tables) <= present, capability.name


def test_previous_release_schema_matches_its_revisions() -> None:
    """The 0.1.0 schema used above names the tables the unmigrated-database check knows as legacy."""
    from crossdock.storage.migrate import known_tables

    assert set(previous_release_schema().tables) - {"alembic_version"} <= known_tables()
