"""Use cases of the site-outages capability.

:func:`select_site_outages` is the pure rule (no I/O): keep the outages of the site's devices that
began at or after the cut-off, in source order, with the device's name. :func:`process_site_outages`
fetches, selects and posts through the resilient client; the CLI and the scheduled job run it through
the core's runner (which records the run), the Python API (:func:`process_site_outages_sync`) calls
it directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson

from crossdock.config import HttpSettings, Settings
from crossdock.errors import CrossdockError, InvalidInputError, UpstreamError
from crossdock.httpclient import ResilientClient
from crossdock.jobs import records
from crossdock.jobs.models import RunRecord
from crossdock.jobs.spec import RunReport
from crossdock.observability.hooks import default_client_hooks
from crossdock.site_outages import provider
from crossdock.site_outages.provider import EnhancedOutagePayload, OutagePayload, SiteInfoPayload
from crossdock.site_outages.settings import SiteOutagesSettings, check_site_id
from crossdock.storage import Database

logger = logging.getLogger(__name__)

CAPABILITY = "site-outages"
PROCESS_JOB = "site_outages.process"


@dataclass(frozen=True, slots=True)
class Selection:
    """The outages to post, and why the others were dropped."""

    kept: list[EnhancedOutagePayload]
    dropped_before_cutoff: int
    dropped_unknown_device: int


@dataclass(slots=True)
class SiteOutagesResult:
    """What one run did (also the CLI's ``--json`` output)."""

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

    @property
    def post_attempted(self) -> bool:
        """Whether this run tried to POST its payload (accepted, refused, or the POST failed)."""
        # payload_sha256 is set once the selection is made; after it only the POST can fail, and a
        # dry run or a skipped empty run never posts.
        return self.payload_sha256 is not None and self.outcome in ("success", "failed")

    def note_on(self, report: RunReport) -> None:
        """Copy what the run record keeps onto ``report``."""
        report.attempts = self.attempts
        if self.outcome != "failed":
            report.outcome = self.outcome
        report.details.update(
            {name: getattr(self, name) for name in RUN_DETAILS},
        )
        if self.post_attempted:
            report.details["posted_payload"] = self.payload[:POSTED_PAYLOAD_KEPT]
            if len(self.payload) > POSTED_PAYLOAD_KEPT:
                report.details["posted_payload_truncated"] = True


RUN_DETAILS = (
    "since",
    "fetched",
    "kept",
    "dropped_before_cutoff",
    "dropped_unknown_device",
    "posted",
    "retries",
    "payload_sha256",
)
"""The facts of a run kept in the run record's ``details`` (with ``posted_payload`` below)."""

POSTED_PAYLOAD_KEPT = 1000
"""How many outages of the body a run POSTed its record keeps in ``details["posted_payload"]`` (the
console shows it; ``payload_sha256`` covers the whole body). A longer body is cut there and noted as
``posted_payload_truncated``, so one run of a huge site cannot bloat every listing of runs."""


def parse_since(value: str) -> datetime:
    """The cut-off as an aware instant; any RFC 3339 offset or precision."""
    try:
        return provider.instant(value)
    except ValueError:
        raise InvalidInputError(
            f"--since {value!r} is not an RFC 3339 date-time with an offset, e.g. 2022-01-01T00:00:00.000Z",
            code="invalid_since",
        ) from None


def check_run(settings: Settings, params: Mapping[str, Any]) -> None:
    """Refuse a run that cannot work before anything is recorded or sent: no site or a malformed site
    id (it goes into the platform's URL path), a bad cut-off, no key."""
    if not params.get("site_id"):
        raise InvalidInputError(
            "no site given: pass SITE_ID to `crossdock site-outages process`, or list the sites to "
            "process on a schedule in CROSSDOCK_SITE_OUTAGES_SITES"
        )
    check_site_id(str(params["site_id"]))
    group = settings.of(SiteOutagesSettings)
    parse_since(params.get("since") or group.since)
    provider.api_key_of(group)


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


async def process_site_outages(
    *,
    client: ResilientClient,
    settings: SiteOutagesSettings,
    site_id: str,
    since: str | None = None,
    dry_run: bool = False,
    skip_empty: bool = False,
    report: RunReport | None = None,
) -> SiteOutagesResult:
    """Fetch all outages and the site's devices, select, and post them (unless ``dry_run``).

    ``since`` defaults to the settings' cut-off. A malformed ``site_id`` raises
    :class:`InvalidInputError` before any request. Raises the :class:`CrossdockError` that stopped the
    run, its message naming the site (and the platform's own words). ``report`` receives the counts.
    """
    check_site_id(site_id)
    started = time.monotonic()
    result = SiteOutagesResult(site_id=site_id, since=since or settings.since)
    try:
        cutoff = parse_since(result.since)
        outages, outage_attempts = await provider.fetch_outages(client)
        result.attempts = outage_attempts
        site, site_attempts = await provider.fetch_site_info(client, site_id)
        result.attempts += site_attempts
        selection = select_site_outages(outages, site, since=cutoff)
        result.fetched = len(outages)
        result.kept = len(selection.kept)
        result.dropped_before_cutoff = selection.dropped_before_cutoff
        result.dropped_unknown_device = selection.dropped_unknown_device
        result.payload = [outage.model_dump() for outage in selection.kept]
        result.payload_sha256 = hashlib.sha256(orjson.dumps(result.payload)).hexdigest()
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
        result.attempts += getattr(exc, "attempts", 0)
        said = exc.upstream_message if isinstance(exc, UpstreamError) else None
        exc.add_context(
            f"site {site_id}", f' (upstream said: "{said}")' if said and said not in exc.message else ""
        )
        result.error = exc.message
        raise
    finally:
        result.duration_seconds = round(time.monotonic() - started, 3)
        if report is not None:
            result.note_on(report)
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
    settings: SiteOutagesSettings,
    http: HttpSettings,
    site_id: str,
    since: str | None = None,
    dry_run: bool = False,
    skip_empty: bool = False,
) -> SiteOutagesResult:
    """Blocking wrapper for scripts: builds the client from settings and runs one site (not recorded).

    Example::

        from crossdock.config import get_settings
        from crossdock.site_outages import SiteOutagesSettings, process_site_outages_sync

        settings = get_settings()
        result = process_site_outages_sync(settings=settings.of(SiteOutagesSettings),
                                           http=settings.http, site_id="norwich-pear-tree")
        print(result.posted)
    """

    async def main() -> SiteOutagesResult:
        all_settings = Settings(http=http).with_groups(settings)
        async with provider.build_client(all_settings, default_client_hooks()) as client:
            return await process_site_outages(
                client=client,
                settings=settings,
                site_id=site_id,
                since=since,
                dry_run=dry_run,
                skip_empty=skip_empty,
            )

    return asyncio.run(main())


async def list_runs(*, db: Database, site_id: str | None = None, limit: int = 20) -> list[RunRecord]:
    """The most recent site-outages runs (of one site when given), newest first."""
    return await records.list_runs(db, capability=CAPABILITY, subject=site_id, limit=limit)


async def get_run(*, db: Database, run_id: int) -> RunRecord | None:
    """One site-outages run by id; ``None`` when there is none (or it belongs to another capability)."""
    async with db.reader() as session:
        run = await session.get(RunRecord, run_id)
    return run if run is not None and run.capability == CAPABILITY else None
