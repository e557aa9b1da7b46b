"""The marketplace's console page: sync runs over time, the catalogue's size, ``/search`` by range.

Thin, like the API routes: runs are the core's run records of this capability, read through
:func:`crossdock.marketplace.service.list_sync_runs` and viewed as
:class:`~crossdock.marketplace.schemas.SyncRunRead` (the same view as ``GET /marketplace/runs``);
the search is answered by the read model and the very function behind ``GET /search``
(:func:`crossdock.marketplace.search.search_answer`), never by an HTTP call, so the page and the API
cannot disagree. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from crossdock.api.state import AppStateDep, runtime_of
from crossdock.console.charts import Bar, Series, bar_chart, line_chart
from crossdock.console.render import render
from crossdock.console.session import console_access
from crossdock.errors import InvalidInputError, NotFoundError
from crossdock.httpclient.redaction import redact_text
from crossdock.jobs.models import RunRecord
from crossdock.marketplace import service, store
from crossdock.marketplace.readmodel import SearchIndexHolder
from crossdock.marketplace.runtime import MarketplaceRuntime
from crossdock.marketplace.schemas import SyncRunRead
from crossdock.marketplace.search import parse_bound, search_answer
from crossdock.storage import Database

PATH = "/console/marketplace"
CHARTED_RUNS = 50
LISTED_RUNS = 20
SHOWN_RESULTS = 200
"""Rows of the search table: the count says how many matched, ``/search`` gives them all."""

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """How many plans are stored, still in the feed, searchable, and what the read model serves."""

    stored: int
    in_feed: int
    searchable: int
    last_changed_at: datetime | None
    served: int
    served_version: int
    loaded: bool
    read_model_error: str | None


@dataclass
class Search:
    """The search form's bounds as typed, and what ``/search`` answers for them."""

    starts_at: str
    ends_at: str
    events: list[dict[str, Any]] = field(default_factory=list)
    matched: int = 0
    ready: bool = True
    error: str | None = None

    @property
    def shown(self) -> list[dict[str, Any]]:
        return self.events[:SHOWN_RESULTS]


@dataclass
class Runs:
    """The latest sync runs (newest first) and their charts (oldest to newest)."""

    latest: list[SyncRunRead]
    duration_chart: Any
    counts_chart: Any


@router.get(PATH, dependencies=[console_access()])
async def marketplace_page(
    request: Request, state: AppStateDep, starts_at: str | None = None, ends_at: str | None = None
) -> Response:
    runtime = runtime_of(request, service.CAPABILITY, MarketplaceRuntime)
    search = _search(runtime.holder, starts_at, ends_at)
    return render(
        request,
        "marketplace/page.html",
        status_code=400 if search.error else 200,
        title="Marketplace",
        runs=await _runs(state.db),
        catalogue=await _catalogue(state.db, runtime),
        search=search,
        limit=SHOWN_RESULTS,
    )


@router.get(f"{PATH}/live", dependencies=[console_access()])
async def live_fragment(request: Request, state: AppStateDep) -> Response:
    """The catalogue, charts and runs table again (the page refreshes them while it is open)."""
    runtime = runtime_of(request, service.CAPABILITY, MarketplaceRuntime)
    return render(
        request,
        "marketplace/live.html",
        runs=await _runs(state.db),
        catalogue=await _catalogue(state.db, runtime),
    )


@router.get(PATH + "/runs/{run_id}", dependencies=[console_access()])
async def run_page(request: Request, state: AppStateDep, run_id: int) -> Response:
    async with state.db.reader() as session:
        record = await session.get(RunRecord, run_id)
    if record is None or record.capability != service.CAPABILITY:
        raise NotFoundError(f"no marketplace sync run {run_id}")
    run = _view(record)
    return render(request, "marketplace/run.html", title=f"Sync run {run.id}", run=run)


def _view(record: RunRecord) -> SyncRunRead:
    run = SyncRunRead.from_run(record)
    if run.error:
        # Stored already redacted by the client; masked again in case a secret was registered since.
        run.error = redact_text(run.error)
    return run


def changed(run: SyncRunRead) -> int:
    """Plans a run changed: new, updated, or gone from the feed."""
    return run.inserted + run.updated + run.left_feed


async def _runs(db: Database) -> Runs:
    records = await service.list_sync_runs(db=db, limit=CHARTED_RUNS)
    runs = [_view(record) for record in records]
    finished = [run for run in reversed(runs) if run.finished_at is not None]
    seconds = [run.duration_seconds or 0.0 for run in finished]
    # Milliseconds under a second; the axis label must fit its 40 px margin ("999ms", "1234s").
    in_ms = max(seconds, default=0.0) < 1
    bars = [
        Bar(
            run.started_at.strftime("%H:%M:%S"),
            value * 1000 if in_ms else value,
            "bad" if run.outcome == "failed" else "ok",
            f"run {run.id}, {run.outcome}",
        )
        for run, value in zip(finished, seconds, strict=True)
    ]
    duration_chart = bar_chart(
        f"Duration of the last {len(bars)} sync runs, oldest to newest (failed runs in red)",
        bars,
        unit="ms" if in_ms else "s",
    )
    # A failed run stored nothing: its counts would read as a drop to zero.
    good = [run for run in finished if run.outcome != "failed"]
    counts_chart = line_chart(
        f"Plans seen, changed and rejected by the last {len(good)} successful sync runs",
        [
            Series("seen", [(run.started_at.timestamp(), run.seen) for run in good], "ok"),
            Series("changed", [(run.started_at.timestamp(), changed(run)) for run in good], "warn"),
            Series("rejected", [(run.started_at.timestamp(), run.rejected) for run in good], "bad"),
        ],
        x_labels=(
            (good[0].started_at.strftime("%H:%M:%S"), good[-1].started_at.strftime("%H:%M:%S"))
            if good
            else ("", "")
        ),
    )
    return Runs(latest=runs[:LISTED_RUNS], duration_chart=duration_chart, counts_chart=counts_chart)


async def _catalogue(db: Database, runtime: MarketplaceRuntime) -> Catalogue:
    counts = await store.catalogue_counts(db)
    index = runtime.holder.index
    return Catalogue(
        stored=counts.stored,
        in_feed=counts.in_feed,
        searchable=counts.searchable,
        last_changed_at=counts.last_changed_at,
        served=len(index),
        served_version=index.version,
        loaded=runtime.holder.loaded,
        read_model_error=runtime.read_model_error,
    )


def _search(holder: SearchIndexHolder, starts_at: str | None, ends_at: str | None) -> Search:
    # An empty field of the form means "no bound" here (``/search`` refuses an empty bound).
    low = (starts_at or "").strip() or None
    high = (ends_at or "").strip() or None
    found = Search(starts_at=_as_input(low), ends_at=_as_input(high))
    if not holder.loaded:
        found.ready = False
        return found
    try:
        body = search_answer(holder.index, starts_at=low, ends_at=high)
    except InvalidInputError as exc:
        found.error = exc.message
        return found
    found.events = orjson.loads(body)["data"]["events"]
    found.matched = len(found.events)
    return found


def _as_input(value: str | None) -> str:
    """A bound as a ``datetime-local`` input shows it (``2021-07-21T17:32``), else as typed."""
    try:
        parsed = parse_bound("bound", value)
    except InvalidInputError:
        return (value or "")[:64]
    if parsed is None:
        return ""
    return parsed.isoformat(timespec="minutes" if parsed.second == 0 else "seconds")
