"""The site-outages console page: each site's runs with their outcome, counts and attempts, and the
payload last POSTed to the platform.

Thin: reads the core's run record through :mod:`crossdock.site_outages.service` and shapes it for
the templates. Changes nothing, so it has no action and needs no write scope; never shows the
platform's key or URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from crossdock.api.state import AppState, AppStateDep
from crossdock.console.charts import Bar, bar_chart
from crossdock.console.render import render
from crossdock.console.session import console_access
from crossdock.errors import InvalidInputError, NotFoundError
from crossdock.httpclient.redaction import redact_text
from crossdock.jobs.models import RunRecord
from crossdock.site_outages import service
from crossdock.site_outages.settings import SiteOutagesSettings, check_site_id
from crossdock.storage import Database

router = APIRouter(include_in_schema=False)

PATH = "/console/site-outages"
TITLE = "Site outages"
WINDOW = 200
"""How many of the newest runs (of the chosen site, or of all) the page reads; filters apply to them."""
CHARTED = 40
"""How many of the shown runs the chart draws (the newest, oldest on the left)."""
OUTCOMES = ("success", "failed", "dry_run", "skipped_empty", "running", "queued", "lost")
TONES = {"success": "ok", "failed": "bad", "lost": "bad", "running": "warn", "queued": "warn"}
MAX_RUN_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as the page shows it."""

    id: int
    site: str
    trigger: str
    outcome: str
    tone: str
    started_at: datetime
    duration_seconds: float | None
    since: str
    fetched: int
    kept: int
    dropped_before_cutoff: int
    dropped_unknown_device: int
    posted: int
    attempts: int
    retries: int
    payload_sha256: str | None
    error: str | None
    posted_payload: Any
    payload_truncated: bool

    @property
    def posted_json(self) -> str | None:
        """The body this run POSTed, pretty-printed; ``None`` when it posted nothing (or ran before
        the body was recorded)."""
        if self.posted_payload is None:
            return None
        return orjson.dumps(self.posted_payload, option=orjson.OPT_INDENT_2).decode()

    @property
    def sha_chunks(self) -> list[str]:
        """The payload's sha256 in pieces the page may break between (64 characters do not fit 375 px)."""
        sha = self.payload_sha256 or ""
        return [sha[start : start + 16] for start in range(0, len(sha), 16)]

    @property
    def accepted(self) -> bool:
        return self.outcome == "success"


@dataclass
class SiteRow:
    """One site's recent runs, summed up."""

    site: str
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    last: RunRow | None = None


@dataclass
class SitesView:
    site: str | None
    outcome: str | None
    runs: list[RunRow]
    sites: list[SiteRow]
    chart: Markup
    last_posted: RunRow | None
    window: int = WINDOW
    outcomes: tuple[str, ...] = OUTCOMES
    site_names: list[str] = field(default_factory=list)


def _count(details: dict[str, Any], name: str) -> int:
    value = details.get(name, 0)
    return int(value) if isinstance(value, int | float) else 0


def row_of(run: RunRecord, secrets: list[str]) -> RunRow:
    details = run.details or {}
    return RunRow(
        id=run.id,
        site=run.subject or "",
        trigger=run.trigger,
        outcome=run.outcome,
        tone=TONES.get(run.outcome, "muted"),
        started_at=run.started_at,
        duration_seconds=run.duration_seconds,
        since=str(details.get("since", "")),
        fetched=_count(details, "fetched"),
        kept=_count(details, "kept"),
        dropped_before_cutoff=_count(details, "dropped_before_cutoff"),
        dropped_unknown_device=_count(details, "dropped_unknown_device"),
        posted=_count(details, "posted"),
        attempts=run.attempts or 0,
        retries=_count(details, "retries"),
        payload_sha256=details.get("payload_sha256"),
        # Stored redacted by the client already; masked again in case the key changed since.
        error=redact_text(run.error, extra_secrets=secrets) if run.error else None,
        posted_payload=details.get("posted_payload"),
        payload_truncated=bool(details.get("posted_payload_truncated", False)),
    )


def _filters(site: str | None, outcome: str | None) -> tuple[str | None, str | None]:
    """The chosen site and outcome (empty: all); a malformed one is refused with 400."""
    site = site.strip() if site else None
    if site:
        check_site_id(site)
    outcome = outcome.strip() if outcome else None
    if outcome and outcome not in OUTCOMES:
        raise InvalidInputError(
            f"outcome {outcome[:32]!a} is not one of {', '.join(OUTCOMES)}", code="invalid_outcome"
        )
    return site or None, outcome or None


def _chart(rows: list[RunRow]) -> Markup:
    charted = list(reversed(rows[:CHARTED]))
    bars = [
        Bar(
            f"#{row.id}",
            row.attempts,
            row.tone,
            f"{row.site}, {row.outcome}, {row.posted} posted, {row.retries} retries",
        )
        for row in charted
    ]
    label = f"HTTP attempts of each run shown (the newest {CHARTED} at most), oldest on the left"
    return bar_chart(label, bars)


def _sites(rows: list[RunRow], configured: list[str]) -> list[SiteRow]:
    found = {site: SiteRow(site) for site in configured}
    for row in rows:  # newest first: the first run seen of a site is its last
        summary = found.setdefault(row.site, SiteRow(row.site))
        summary.runs += 1
        summary.succeeded += row.outcome == "success"
        summary.failed += row.outcome in ("failed", "lost")
        summary.attempts += row.attempts
        if summary.last is None:
            summary.last = row
    return sorted(found.values(), key=lambda summary: summary.site)


def _secrets(state: AppState) -> list[str]:
    group = state.settings.of(SiteOutagesSettings)
    return [group.api_key.get_secret_value()] if group.api_key else []


async def _rows(db: Database, secrets: list[str], site: str | None) -> list[RunRow]:
    return [row_of(run, secrets) for run in await service.list_runs(db=db, site_id=site, limit=WINDOW)]


@router.get(PATH, dependencies=[console_access()])
async def site_outages_page(
    request: Request, state: AppStateDep, site: str | None = None, outcome: str | None = None
) -> Response:
    """Runs per site (filter by site and outcome), a chart of their attempts, the last posted body."""
    site, outcome = _filters(site, outcome)
    secrets = _secrets(state)
    every = await _rows(state.db, secrets, None)
    of_site = every if site is None else await _rows(state.db, secrets, site)
    configured = state.settings.of(SiteOutagesSettings).site_ids
    shown = [row for row in of_site if outcome is None or row.outcome == outcome]
    sites = _sites(every, configured)
    view = SitesView(
        site=site,
        outcome=outcome,
        runs=shown,
        sites=sites,
        chart=_chart(shown),
        last_posted=next((row for row in of_site if row.posted_payload is not None), None),
        site_names=sorted({summary.site for summary in sites} | ({site} if site else set())),
    )
    return render(request, "site-outages/page.html", title=TITLE, view=view)


@router.get(PATH + "/runs/{run_id}", dependencies=[console_access()])
async def site_outages_run(request: Request, state: AppStateDep, run_id: str) -> Response:
    """One run: its facts, its error and the body it posted."""
    number = int(run_id) if run_id.isascii() and run_id.isdigit() and len(run_id) <= 10 else 0
    run = await service.get_run(db=state.db, run_id=number) if 1 <= number <= MAX_RUN_ID else None
    if run is None:
        raise NotFoundError(f"no site-outages run {run_id[:20]!a}")
    row = row_of(run, _secrets(state))
    return render(request, "site-outages/run.html", title=f"Site-outages run #{row.id}", run=row)
