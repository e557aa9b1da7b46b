"""Use cases of the site-outages capability.

:func:`select_site_outages` is the pure rule (no I/O): keep the outages of the site's devices that
began at or after the cut-off, in source order, with the device's name. :func:`process_site_outages`
fetches, selects and posts through the resilient client, and records the run when given a database.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select

from crossdock.config import HttpSettings, KrakenflexSettings
from crossdock.errors import ConfigurationError, CrossdockError, InvalidInputError
from crossdock.httpclient import ResilientClient
from crossdock.observability.hooks import default_client_hooks
from crossdock.site_outages import provider
from crossdock.site_outages.models import SiteOutageRun
from crossdock.site_outages.provider import EnhancedOutagePayload, OutagePayload, SiteInfoPayload
from crossdock.storage import Database

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Selection:
    """The outages to post, and why the others were dropped."""

    kept: list[EnhancedOutagePayload]
    dropped_before_cutoff: int
    dropped_unknown_device: int


@dataclass(slots=True)
class SiteOutagesResult:
    """What one run did (also the job's summary and the CLI's --json output)."""

    site_id: str
    since: str
    outcome: str = "running"  # success | dry_run | skipped_empty | failed
    fetched: int = 0
    kept: int = 0
    dropped_before_cutoff: int = 0
    dropped_unknown_device: int = 0
    posted: int = 0
    attempts: int = 0
    retries: int = 0
    payload_sha256: str | None = None
    error: str | None = None
    duration_seconds: float = 0.0
    payload: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self, *, with_payload: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_payload:
            data.pop("payload")
        return data


def parse_since(value: str) -> datetime:
    """The cut-off as an aware instant; any RFC 3339 offset or precision."""
    try:
        return provider._instant(value)
    except ValueError:
        raise InvalidInputError(
            f"--since {value!r} is not an RFC 3339 date-time with an offset, e.g. 2022-01-01T00:00:00.000Z",
            code="invalid_since",
        ) from None


def select_site_outages(
    outages: Sequence[OutagePayload], site: SiteInfoPayload, *, since: datetime
) -> Selection:
    """Keep outages of the site's devices that began at or after ``since`` (inclusive), in source order.

    Compares instants, never strings; an outage that began before the cut-off is dropped even if it
    ended after. A device may have several outages: nothing is keyed by outage id.
    """
    names = {device.id: device.name for device in site.devices}
    kept: list[EnhancedOutagePayload] = []
    before = unknown = 0
    for outage in outages:
        name = names.get(outage.id)
        if name is None:
            unknown += 1
        elif outage.begin_at < since:
            before += 1
        else:
            kept.append(EnhancedOutagePayload(id=outage.id, name=name, begin=outage.begin, end=outage.end))
    return Selection(kept, before, unknown)


def build_client(
    settings: KrakenflexSettings, http: HttpSettings, *, api_key: str | None = None
) -> ResilientClient:
    """The client for the platform; refuses to exist without an API key (no default key)."""
    key = api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    if not key:
        raise ConfigurationError(
            "no API key for the energy platform: set CROSSDOCK_KRAKENFLEX_API_KEY or pass --api-key"
        )
    base = str(settings.base_url).rstrip("/") + "/"
    return ResilientClient.from_settings(
        provider.UPSTREAM,
        http,
        base_url=base,
        secret_headers={"x-api-key": key},
        hooks=default_client_hooks(),
    )


async def process_site_outages(
    *,
    client: ResilientClient,
    site_id: str,
    since: str = "2022-01-01T00:00:00.000Z",
    dry_run: bool = False,
    skip_empty: bool = False,
    db: Database | None = None,
) -> SiteOutagesResult:
    """Fetch all outages and the site's devices, select, and post them (unless ``dry_run``).

    Raises the :class:`CrossdockError` that stopped the run (after recording it when ``db`` is given).
    """
    started = time.monotonic()
    result = SiteOutagesResult(site_id=site_id, since=since)
    started_at = datetime.now(UTC)
    try:
        cutoff = parse_since(since)
        outages, outage_attempts = await provider.fetch_outages(client)
        site, site_attempts = await provider.fetch_site_info(client, site_id)
        result.attempts = outage_attempts + site_attempts
        selection = select_site_outages(outages, site, since=cutoff)
        result.fetched = len(outages)
        result.kept = len(selection.kept)
        result.dropped_before_cutoff = selection.dropped_before_cutoff
        result.dropped_unknown_device = selection.dropped_unknown_device
        result.payload = [outage.model_dump() for outage in selection.kept]
        body = orjson.dumps(result.payload)
        result.payload_sha256 = hashlib.sha256(body).hexdigest()
        calls = 2
        if dry_run:
            result.outcome = "dry_run"
        elif skip_empty and not selection.kept:
            result.outcome = "skipped_empty"
        else:
            calls += 1
            result.attempts += await provider.post_site_outages(client, site_id, selection.kept)
            result.posted = len(selection.kept)
            result.outcome = "success"
        result.retries = result.attempts - calls
    except CrossdockError as exc:
        result.outcome = "failed"
        result.error = exc.message
        result.attempts += getattr(exc, "attempts", 0)
        result.duration_seconds = round(time.monotonic() - started, 3)
        await _record(db, result, started_at)
        raise
    result.duration_seconds = round(time.monotonic() - started, 3)
    await _record(db, result, started_at)
    logger.info(
        "site outages %s: site=%s fetched=%d kept=%d posted=%d attempts=%d",
        result.outcome,
        site_id,
        result.fetched,
        result.kept,
        result.posted,
        result.attempts,
    )
    return result


def process_site_outages_sync(
    *,
    settings: KrakenflexSettings,
    http: HttpSettings,
    site_id: str,
    since: str | None = None,
    dry_run: bool = False,
    skip_empty: bool = False,
    api_key: str | None = None,
) -> SiteOutagesResult:
    """Blocking wrapper for scripts: builds the client from settings and runs one site.

    Example::

        from crossdock.config import get_settings
        from crossdock.site_outages import process_site_outages_sync

        settings = get_settings()
        result = process_site_outages_sync(settings=settings.krakenflex, http=settings.http,
                                           site_id="norwich-pear-tree")
        print(result.posted)
    """

    async def main() -> SiteOutagesResult:
        async with build_client(settings, http, api_key=api_key) as client:
            return await process_site_outages(
                client=client,
                site_id=site_id,
                since=since or settings.since,
                dry_run=dry_run,
                skip_empty=skip_empty,
            )

    return asyncio.run(main())


async def _record(db: Database | None, result: SiteOutagesResult, started_at: datetime) -> None:
    if db is None:
        return
    try:
        async with db.unit_of_work() as session:
            session.add(
                SiteOutageRun(
                    site_id=result.site_id,
                    started_at=started_at,
                    finished_at=datetime.now(UTC),
                    outcome=result.outcome,
                    since=result.since,
                    fetched=result.fetched,
                    kept=result.kept,
                    dropped_before_cutoff=result.dropped_before_cutoff,
                    dropped_unknown_device=result.dropped_unknown_device,
                    posted=result.posted,
                    attempts=result.attempts,
                    payload_sha256=result.payload_sha256,
                    error=(result.error or "")[:2000] or None,
                    duration_seconds=result.duration_seconds,
                )
            )
    except CrossdockError as exc:
        logger.warning("could not record the site-outages run: %s", exc.message)


async def list_runs(*, db: Database, limit: int = 20) -> list[SiteOutageRun]:
    async with db.reader() as session:
        rows = await session.execute(select(SiteOutageRun).order_by(SiteOutageRun.id.desc()).limit(limit))
        return list(rows.scalars())
