"""The submissions page of the console: campaigns, dead letters, each DSP account's request rate,
and one campaign's tree with its Retry and payload-fix actions.

Thin: campaigns and trees are read through :mod:`crossdock.submissions.engine` (``list_campaigns``,
``get_campaign``, ``campaign_nodes``, ``campaign_view``), the actions call ``engine.retry_campaign``
and ``engine.fix_payload``; the page's own reads are the failed nodes across campaigns and the run
records of ``submissions.advance`` (one per pass, ``details`` holding ``sent`` and
``poll_requests``). A DSP account is shown by its name and limits only: never its URL or its key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from markupsafe import Markup
from sqlalchemy import ColumnElement, func, select
from starlette.responses import RedirectResponse, Response

from crossdock.api.errors import status_for
from crossdock.api.state import AppState, AppStateDep
from crossdock.console.charts import Series, line_chart
from crossdock.console.render import render
from crossdock.console.session import checked_form, console_access
from crossdock.errors import ConflictError, InvalidInputError
from crossdock.jobs.models import RunRecord
from crossdock.storage import Database
from crossdock.submissions import engine
from crossdock.submissions.jobs import ADVANCE_JOB
from crossdock.submissions.models import Campaign, NodeRecord
from crossdock.submissions.schemas import NodeRead
from crossdock.submissions.settings import DspAccount, SubmissionsSettings

PATH: Final = "/console/submissions"
WRITE: Final = "submissions:write"
STATUSES: Final = ("Not Started", "In Progress", "Completed", "Error")
FAILED: Final = ("error", "dead")
"""Dead letters: nodes the engine gave up on (the DSP refused them, or every attempt failed)."""
RETRYABLE: Final = frozenset({"error", "dead", "blocked"})
"""What ``engine.retry_campaign`` resumes (``machine.retry``)."""
PAGE_SIZE: Final = 50
DEAD_LETTERS: Final = 100
RATE_MINUTES: Final = 60
MIN_SPAN: Final = 10
MAX_RUNS: Final = 50_000
"""Passes read per account for the rate chart (a pass every 0.5 s for an hour is 7,200)."""
MAX_FIX_CHARS: Final = 16_000
NOTICES: Final = frozenset({"retried", "fixed", "cursor"})
"""Query parameters an action's redirect drops from the page it returns to (it adds its own)."""

router = APIRouter(include_in_schema=False)


# -- what the pages show ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FailedNode:
    """A node in ``error`` or ``dead``, as the dead-letter list shows it."""

    view: NodeRead
    label: str


@dataclass
class DeadLetterCampaign:
    campaign_id: str
    name: str
    dsp: str
    nodes: list[FailedNode] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AccountRate:
    """One DSP account's requests per minute over the last hour, against its limit."""

    name: str
    limit: int
    window: float
    concurrency: int
    per_minute_limit: float
    requests: int
    passes: int
    peak: int
    rate_limited: int
    chart: Markup


def label_of(record: NodeRecord) -> str:
    """A node's name for people: the campaign's or ad group's name, an ad's type and creative."""
    payload = record.payload
    if record.kind == "ad":
        return f"{payload.get('type', 'ad')} · {payload.get('creative_url', '')}"
    return str(payload.get("name", record.id))


async def dead_letters(db: Database, dsp: str | None) -> tuple[list[DeadLetterCampaign], int]:
    """The newest failed nodes grouped by campaign (newest first), and how many there are in all."""
    where: list[ColumnElement[bool]] = [NodeRecord.state.in_(FAILED)]
    if dsp is not None:
        where.append(NodeRecord.dsp == dsp)
    async with db.reader() as session:
        total = int(await session.scalar(select(func.count()).select_from(NodeRecord).where(*where)) or 0)
        rows = await session.execute(
            select(NodeRecord, Campaign.name)
            .join(Campaign, Campaign.id == NodeRecord.campaign_id)
            .where(*where)
            .order_by(NodeRecord.updated_at.desc(), NodeRecord.id)
            .limit(DEAD_LETTERS)
        )
        found: dict[str, DeadLetterCampaign] = {}
        for record, name in rows:
            group = found.setdefault(
                record.campaign_id, DeadLetterCampaign(record.campaign_id, name, record.dsp)
            )
            group.nodes.append(FailedNode(engine.node_view(record), label_of(record)))
    return list(found.values()), total


def _requests_of(details: Mapping[str, Any] | None) -> tuple[int, int]:
    """(requests, 429s) of one pass: every send answered and every status poll (tasks' included)."""
    if not isinstance(details, Mapping):
        return 0, 0

    def number(key: str) -> int:
        value = details.get(key, 0)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    return number("sent") + number("poll_requests"), number("rate_limited")


async def account_rate(db: Database, name: str, account: DspAccount, now: datetime) -> AccountRate:
    """Requests per minute of the account's passes over the last hour (each pass counted at its end).

    The limit is the account's sustained rate, ``limit`` per ``window`` seconds, in the same unit.
    """
    since = now - timedelta(minutes=RATE_MINUTES)
    async with db.reader() as session:
        rows = await session.execute(
            select(RunRecord.finished_at, RunRecord.details)
            .where(
                RunRecord.job == ADVANCE_JOB,
                RunRecord.subject == name,
                RunRecord.finished_at.is_not(None),
                RunRecord.finished_at >= since,
            )
            .order_by(RunRecord.id.desc())
            .limit(MAX_RUNS)
        )
        passes = [(finished_at, details) for finished_at, details in rows if finished_at is not None]
    per_minute = [0] * RATE_MINUTES
    limited = 0
    first = RATE_MINUTES
    for finished_at, details in passes:
        requests, rate_limited = _requests_of(details)
        minute = int((finished_at.astimezone(UTC) - since).total_seconds() // 60)
        minute = min(max(minute, 0), RATE_MINUTES - 1)
        per_minute[minute] += requests
        limited += rate_limited
        first = min(first, minute)
    per_minute_limit = account.limit * 60 / account.window
    # A service that started a few minutes ago would draw its whole history in the last pixels of an
    # hour: the chart starts a minute before the first pass (showing at least MIN_SPAN minutes).
    start = max(0, min(first - 1, RATE_MINUTES - MIN_SPAN))
    points = [(float(minute), float(per_minute[minute])) for minute in range(start, RATE_MINUTES)]
    chart = line_chart(
        f"{name}: requests per minute (sends and status polls) over the last "
        f"{RATE_MINUTES - start} minutes, against the limit of {account.limit} per {account.window:g} s",
        [Series(f"{name} requests per minute", points if passes else [], "ok")],
        x_labels=(f"{RATE_MINUTES - start} min ago", "now"),
        limit=per_minute_limit,
    )
    return AccountRate(
        name=name,
        limit=account.limit,
        window=account.window,
        concurrency=account.concurrency,
        per_minute_limit=per_minute_limit,
        requests=sum(per_minute),
        passes=len(passes),
        peak=max(per_minute),
        rate_limited=limited,
        chart=chart,
    )


def _accounts(state: AppState) -> dict[str, DspAccount]:
    return dict(state.settings.of(SubmissionsSettings).dsps)


def _may_write(request: Request) -> bool:
    viewer = getattr(request.state, "viewer", None)
    return viewer is not None and bool(viewer.may(WRITE))


def _choice(value: str, allowed: Sequence[str], what: str) -> str | None:
    """A filter's value: ``None`` for "all" (empty), else one of ``allowed`` (400 otherwise)."""
    if not value:
        return None
    if value not in allowed:
        raise InvalidInputError(f"unknown {what} {value[:40]!r}; use one of: {', '.join(allowed)}")
    return value


def _count(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 7 else None


# -- the page --------------------------------------------------------------------------------------------


@router.get(PATH, dependencies=[console_access()])
async def submissions_page(
    request: Request,
    state: AppStateDep,
    status: str = "",
    dsp: str = "",
    cursor: str = "",
    retried: str = "",
) -> Response:
    accounts = _accounts(state)
    known = sorted(accounts)
    chosen_status = _choice(status, STATUSES, "status")
    chosen_dsp = _choice(dsp, known, "DSP")
    if len(cursor) > 200:
        raise InvalidInputError("cursor is not one this page gave")
    campaigns, next_cursor = await engine.list_campaigns(
        state.db, dsp=chosen_dsp, status=chosen_status, limit=PAGE_SIZE, cursor=cursor or None
    )
    letters, failed_total = await dead_letters(state.db, chosen_dsp)
    now = datetime.now(UTC)
    rates = [
        await account_rate(state.db, name, accounts[name], now)
        for name in known
        if chosen_dsp is None or name == chosen_dsp
    ]
    filters = {key: value for key, value in (("status", status), ("dsp", dsp)) if value}
    here = PATH + (f"?{urlencode(filters)}" if filters else "")
    return render(
        request,
        "submissions/page.html",
        title="Submissions",
        campaigns=campaigns,
        next_page=f"{PATH}?{urlencode({**filters, 'cursor': next_cursor})}" if next_cursor else None,
        paged=bool(cursor),
        here=here,
        statuses=STATUSES,
        dsps=known,
        status=chosen_status or "",
        dsp=chosen_dsp or "",
        filtered=bool(filters),
        letters=letters,
        failed_total=failed_total,
        shown=sum(len(letter.nodes) for letter in letters),
        rates=rates,
        retried=_count(retried),
        can_write=_may_write(request),
    )


# -- one campaign ----------------------------------------------------------------------------------------


async def _campaign_context(state: AppState, campaign_id: str) -> dict[str, Any]:
    campaign = await engine.get_campaign(state.db, campaign_id)
    nodes = await engine.campaign_nodes(state.db, campaign_id)
    counts: dict[str, int] = {}
    for record in nodes:
        counts[record.state] = counts.get(record.state, 0) + 1
    return {
        "campaign": engine.campaign_view(campaign, nodes),
        "labels": {record.id: label_of(record) for record in nodes},
        "failed": [
            (record, engine.node_view(record), json.dumps(record.payload, indent=2, ensure_ascii=False))
            for record in nodes
            if record.state in FAILED
        ],
        "counts": counts,
        "retryable": sum(1 for record in nodes if record.state in RETRYABLE),
        "tree_url": f"{PATH}/campaigns/{campaign_id}/tree",
        "here": f"{PATH}/campaigns/{campaign_id}",
    }


@router.get(PATH + "/campaigns/{campaign_id}", dependencies=[console_access()])
async def campaign_page(
    request: Request, state: AppStateDep, campaign_id: str, retried: str = "", fixed: str = ""
) -> Response:
    context = await _campaign_context(state, campaign_id)
    notice = None
    if _count(retried) is not None:
        notice = f"Retry: {_count(retried)} node(s) resumed; the engine sends them on its next pass."
    elif fixed:
        view = next((item for _record, item, _text in context["failed"] if item.id == fixed), None)
        if view is not None:
            notice = (
                f"The {view.kind.replace('_', ' ')}'s payload is now version {view.payload_version}: "
                "press Retry to send it."
            )
    return render(
        request,
        "submissions/campaign.html",
        title=f"Campaign {context['campaign'].name}",
        notice=notice,
        fix_error={},
        fix_text={},
        fix_listed=True,
        can_write=_may_write(request),
        **context,
    )


@router.get(PATH + "/campaigns/{campaign_id}/tree", dependencies=[console_access()])
async def campaign_tree(request: Request, state: AppStateDep, campaign_id: str) -> Response:
    """The node tree alone (the campaign page refreshes it in place)."""
    context = await _campaign_context(state, campaign_id)
    return render(request, "submissions/tree.html", **context)


def _back(target: str | None, default: str, **notice: str) -> str:
    """Where an action returns: a page of this console section (never another site), plus a notice."""
    path = target if target and target.startswith(PATH) and "//" not in target and "\\" not in target else ""
    parts = urlsplit(path or default)
    kept = [(key, value) for key, value in parse_qsl(parts.query) if key not in NOTICES]
    kept.extend(notice.items())
    return parts.path + (f"?{urlencode(kept)}" if kept else "")


@router.post(PATH + "/campaigns/{campaign_id}/retry", dependencies=[console_access(WRITE)])
async def retry(request: Request, state: AppStateDep, campaign_id: str) -> Response:
    fields = await checked_form(request)
    resumed = await engine.retry_campaign(state.db, campaign_id)
    target = _back(fields.get("next"), f"{PATH}/campaigns/{campaign_id}", retried=str(resumed))
    return RedirectResponse(target, status_code=303)


@router.post(PATH + "/nodes/{node_id}/fix", dependencies=[console_access(WRITE)])
async def fix(request: Request, state: AppStateDep, node_id: str) -> Response:
    fields = await checked_form(request)
    node = await engine.node_record(state.db, node_id)
    text = fields.get("changes", "")
    try:
        if len(text) > MAX_FIX_CHARS:
            raise InvalidInputError(f"the changes are longer than {MAX_FIX_CHARS} characters")
        try:
            changes = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"the changes are not JSON: {exc}") from None
        if not isinstance(changes, dict) or not changes:
            raise InvalidInputError('give a JSON object of the fields to change, e.g. {"bid": 3.75}')
        fixed = await engine.fix_payload(state.db, node_id, changes)
    except (InvalidInputError, ConflictError) as exc:
        context = await _campaign_context(state, node.campaign_id)
        return render(
            request,
            "submissions/campaign.html",
            status_for(exc),
            title=f"Campaign {context['campaign'].name}",
            notice=None,
            fix_error={node_id: f"{status_for(exc)}: {exc.message}"},
            fix_listed=any(record.id == node_id for record, _view, _text in context["failed"]),
            fix_text={node_id: text},
            can_write=_may_write(request),
            **context,
        )
    target = _back(None, f"{PATH}/campaigns/{fixed.campaign_id}", fixed=fixed.id)
    return RedirectResponse(target + f"#node-{fixed.id}", status_code=303)
