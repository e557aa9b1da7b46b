"""The submission engine: campaign trees stored as node rows, advanced within each DSP's budget.

``submit`` stores a campaign tree (one row per node, parents first), honouring the client's
Idempotency-Key. ``advance`` does one pass over one DSP account: it polls the statuses of nodes
awaiting the DSP's verdict (batched, 100 ids per request), then sends the nodes that are due and
whose parent completed, each through :mod:`crossdock.submissions.machine`, until the account's
budget or the due work runs out — then it returns; nothing sleeps. A node is claimed with a
conditional update before its POST (state, version and due time must still be what was read), so
two processes never send one node at the same moment; a node whose worker died is sent again with
the same Idempotency-Key once its lease passes. A 429 parks every due node of the account until
its ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from pydantic import ValidationError
from sqlalchemy import and_, func, or_, select, update

from crossdock.errors import ConflictError, IdempotencyConflictError, InvalidInputError, NotFoundError
from crossdock.storage import Database
from crossdock.submissions import machine, provider
from crossdock.submissions.budget import Budget, Purpose, RedisBudget
from crossdock.submissions.models import Campaign, NodeRecord
from crossdock.submissions.schemas import (
    AdGroupIn,
    AdIn,
    CampaignIn,
    CampaignRead,
    CampaignSubmission,
    NodeRead,
)

LEASE_SECONDS: Final = 60.0
"""How long a claimed node is left to the worker sending it before another may send it again."""
POLL_BATCH: Final = 100
SEND_BATCH: Final = 16
"""Nodes read for sending at a time: small, so that a due status poll is never behind a long queue."""
MIN_WAIT: Final = 0.005
PARENT_FIELD: Final = {"ad_group": "campaign_id", "ad": "ad_group_id"}


def _now() -> datetime:
    return datetime.now(UTC)


def request_hash(submission: CampaignSubmission) -> str:
    body = orjson.dumps(submission.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


async def submit(
    db: Database, submission: CampaignSubmission, *, known_dsps: Sequence[str], client_key: str | None = None
) -> tuple[Campaign, bool]:
    """Store the tree; ``(campaign, created)``. The same client key with the same body answers the
    campaign already stored (``created`` False); with another body, :class:`IdempotencyConflictError`."""
    if submission.dsp not in known_dsps:
        known = ", ".join(sorted(known_dsps)) or "none (set CROSSDOCK_SUBMISSIONS_DSPS)"
        raise InvalidInputError(f"unknown dsp {submission.dsp!r}; configured: {known}", code="unknown_dsp")
    digest = request_hash(submission)
    async with db.unit_of_work() as session:
        if client_key is not None:
            existing = await session.scalar(
                select(Campaign).where(Campaign.dsp == submission.dsp, Campaign.client_key == client_key)
            )
            if existing is not None:
                if existing.request_hash != digest:
                    raise IdempotencyConflictError("this Idempotency-Key was used with a different body")
                return existing, False
        now = _now()
        campaign = Campaign(
            id=str(uuid.uuid4()),
            dsp=submission.dsp,
            name=submission.campaign.name,
            client_key=client_key,
            request_hash=digest,
            cancelled=False,
            created_at=now,
            updated_at=now,
        )
        session.add(campaign)
        position = 0

        def node(kind: str, parent: str | None, payload: Any) -> str:
            nonlocal position
            record = NodeRecord(
                id=str(uuid.uuid4()),
                campaign_id=campaign.id,
                parent_id=parent,
                dsp=submission.dsp,
                kind=kind,
                position=position,
                payload=dict(payload),
                payload_version=1,
                state="pending",
                attempts=0,
                next_attempt_at=0.0,
                updated_at=now,
            )
            position += 1
            session.add(record)
            return record.id

        root = node("campaign", None, submission.campaign.to_payload())
        for group in submission.campaign.ad_groups:
            group_id = node("ad_group", root, group.to_payload())
            for ad in group.ads:
                node("ad", group_id, ad.to_payload())
        return campaign, True


def to_machine(record: NodeRecord) -> machine.Node:
    return machine.Node(
        id=record.id,
        kind=record.kind,  # type: ignore[arg-type]
        parent_id=record.parent_id,
        state=record.state,  # type: ignore[arg-type]
        attempts=record.attempts,
        next_attempt_at=record.next_attempt_at,
        payload_version=record.payload_version,
        external_id=record.external_id,
        dsp_status=record.dsp_status,  # type: ignore[arg-type]
        error_message=record.error_message,
        last_error=record.last_error,
    )


def _values(node: machine.Node) -> dict[str, Any]:
    return {
        "state": node.state,
        "attempts": node.attempts,
        "next_attempt_at": node.next_attempt_at,
        "payload_version": node.payload_version,
        "external_id": node.external_id,
        "dsp_status": node.dsp_status,
        "error_message": node.error_message,
        "last_error": node.last_error,
        "updated_at": _now(),
    }


async def _save_many(db: Database, nodes: Sequence[machine.Node]) -> None:
    """Nodes' new values in one transaction (one statement, executed for each node)."""
    if not nodes:
        return
    async with db.unit_of_work() as session:
        await session.execute(update(NodeRecord), [{"id": node.id, **_values(node)} for node in nodes])
    for node in nodes:
        if node.state in {"error", "dead"}:
            await _block_descendants(db, node.id)


async def _block_descendants(db: Database, parent_id: str) -> None:
    """Nodes under a failed parent that were not sent: ``blocked`` (their whole subtree)."""
    frontier = [parent_id]
    async with db.unit_of_work() as session:
        while frontier:
            children = list(
                (
                    await session.execute(
                        update(NodeRecord)
                        .where(
                            NodeRecord.parent_id.in_(frontier),
                            NodeRecord.state.in_(("pending", "retry_scheduled")),
                        )
                        .values(state="blocked", last_error="its parent failed", updated_at=_now())
                        .returning(NodeRecord.id)
                    )
                ).scalars()
            )
            frontier = children


async def _claim(db: Database, ids: Sequence[str], now: float, lease: float) -> list[NodeRecord]:
    """Take for sending those of ``ids`` that are still due and sendable (nobody else took them since
    they were read): ``submitting`` until ``now + lease``. The rows as they were before the claim."""
    async with db.unit_of_work() as session:
        due = (
            NodeRecord.id.in_(list(ids)),
            NodeRecord.state.in_(tuple(machine.SENDABLE)),
            NodeRecord.next_attempt_at <= now,
        )
        query = select(NodeRecord).where(*due).order_by(NodeRecord.next_attempt_at, NodeRecord.position)
        if not db.is_sqlite:  # SQLite's writer lock (BEGIN IMMEDIATE) already keeps others out
            query = query.with_for_update(skip_locked=True)
        records = list((await session.execute(query)).scalars())
        session.expunge_all()
        if records:
            await session.execute(
                update(NodeRecord)
                .where(NodeRecord.id.in_([record.id for record in records]))
                .values(state="submitting", next_attempt_at=now + lease, updated_at=_now())
            )
        return records


async def _unclaim(db: Database, claimed: Sequence[machine.Node], before: Mapping[str, NodeRecord]) -> None:
    """Give back nodes claimed for requests the budget then refused (nothing was sent)."""
    if not claimed:
        return
    async with db.unit_of_work() as session:
        await session.execute(
            update(NodeRecord),
            [
                {
                    "id": node.id,
                    "state": before[node.id].state,
                    "next_attempt_at": before[node.id].next_attempt_at,
                    "updated_at": _now(),
                }
                for node in claimed
            ],
        )


async def _park_account(db: Database, dsp: str, until: float) -> None:
    """429: every due node of the account waits until ``until`` (durable, seen by every worker)."""
    async with db.unit_of_work() as session:
        await session.execute(
            update(NodeRecord)
            .where(
                NodeRecord.dsp == dsp,
                NodeRecord.state.in_(("pending", "retry_scheduled", "awaiting_status")),
                NodeRecord.next_attempt_at < until,
            )
            .values(next_attempt_at=until)
        )


@dataclass
class AdvanceReport:
    """What one pass did (the run record's details)."""

    sent: int = 0
    polled: int = 0
    poll_requests: int = 0
    completed: int = 0
    errors: int = 0
    dead: int = 0
    retries_scheduled: int = 0
    rate_limited: int = 0
    budget_wait: float = 0.0
    states: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Advancer:
    """One pass over one DSP account (see the module docstring).

    The pass keeps working while the account has due work: when the budget has no slot free, or
    the next node is due within the pass, it awaits that moment (at most ``max_seconds`` after it
    began) rather than ending, so the account's limit is used to the full. A 429 ends the pass
    (the rows are parked until ``Retry-After``; nothing waits for it). At most ``concurrency``
    requests are in flight; since one pass runs per account at a time (the job's subject is the
    DSP), that is the account's cap across every process.
    """

    db: Database
    dsp: str
    client: provider.DspClient
    budget: Budget | RedisBudget
    policy: machine.Policy = field(default_factory=machine.Policy)
    wall: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    max_requests: int = 100_000
    concurrency: int = 4
    max_seconds: float = 0.0
    lease_seconds: float = LEASE_SECONDS
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    report: AdvanceReport = field(default_factory=AdvanceReport)
    _wait: float | None = None
    _stop: bool = False

    async def run(self) -> AdvanceReport:
        deadline = self.wall() + self.max_seconds
        requests = 0
        while requests < self.max_requests and not self._stop:
            self._wait = None
            made = await self._poll_once()
            if not self._stop:
                made += await self._poll_tasks()
            if not self._stop:
                made += await self._send_batch()
            requests += made
            if self._stop or made:
                continue
            wait = self._wait if self._wait is not None else await self._until_due()
            if wait is None or self.wall() + wait > deadline:
                break
            await self.sleep(max(wait, MIN_WAIT))
        async with self.db.reader() as session:
            counts = select(NodeRecord.state, func.count()).where(NodeRecord.dsp == self.dsp)
            rows = await session.execute(counts.group_by(NodeRecord.state))
            self.report.states = {str(state): int(count) for state, count in rows}
        return self.report

    async def _take(self, purpose: Purpose) -> bool:
        """A slot of the budget now, or False (the wait is kept for the pass)."""
        wait = await self.budget.try_take(purpose)
        if wait > 0:
            self.report.budget_wait = wait
            self._wait = wait if self._wait is None else min(self._wait, wait)
            return False
        return True

    async def _until_due(self) -> float | None:
        """Seconds until the account's next node or task is due; None when nothing is left to do."""
        from crossdock.submissions import tasks  # tasks uses this module

        parent = NodeRecord.__table__.alias("parent")
        async with self.db.reader() as session:
            sendable = await session.scalar(
                select(func.min(NodeRecord.next_attempt_at))
                .select_from(NodeRecord)
                .outerjoin(parent, parent.c.id == NodeRecord.parent_id)
                .where(
                    NodeRecord.dsp == self.dsp,
                    NodeRecord.state.in_(tuple(machine.SENDABLE)),
                    or_(NodeRecord.parent_id.is_(None), parent.c.state == "completed"),
                )
            )
            awaiting = await session.scalar(
                select(func.min(NodeRecord.next_attempt_at)).where(
                    NodeRecord.dsp == self.dsp, NodeRecord.state == "awaiting_status"
                )
            )
        task = await tasks.next_due(self.db, self.dsp)
        found = [moment for moment in (sendable, awaiting, task) if moment is not None]
        return max(0.0, min(found) - self.wall()) if found else None

    async def _poll_once(self) -> int:
        """One batched status request if nodes await a verdict; the requests made (0 or 1)."""
        now = self.wall()
        async with self.db.reader() as session:
            found = list(
                (
                    await session.execute(
                        select(NodeRecord)
                        .where(
                            NodeRecord.dsp == self.dsp,
                            NodeRecord.state == "awaiting_status",
                            NodeRecord.next_attempt_at <= now,
                        )
                        .order_by(NodeRecord.next_attempt_at)
                        .limit(POLL_BATCH)
                    )
                ).scalars()
            )
        if not found or not await self._take("poll"):
            return 0
        ids = {record.external_id: record for record in found if record.external_id}
        answer = await self.client.statuses(list(ids))
        self.report.poll_requests += 1
        if isinstance(answer, provider.RateLimited):
            await self._rate_limited(answer.retry_after)
            return 1
        changed: list[machine.Node] = []
        if not isinstance(answer, provider.Statuses):
            # Ask about these again a little later.
            later = now + self.policy.poll_interval
            changed = [replace(to_machine(record), next_attempt_at=later) for record in found]
        else:
            for external_id, record in ids.items():
                item = answer.items.get(external_id)
                if item is None:
                    continue
                node = machine.seen(to_machine(record), item.status, item.error_message, now, self.policy)
                self._count(node)
                self.report.polled += 1
                changed.append(node)
        await _save_many(self.db, changed)
        return 1

    async def _poll_tasks(self) -> int:
        """One batched status request for the seed's tasks that are due; the requests made."""
        from crossdock.submissions import tasks  # tasks uses this module

        now = self.wall()
        found = await tasks.due(self.db, self.dsp, now, POLL_BATCH)
        if not found or not await self._take("poll"):
            return 0
        answer = await self.client.statuses([task.id for task in found])
        self.report.poll_requests += 1
        if isinstance(answer, provider.RateLimited):
            await self._rate_limited(answer.retry_after)
            return 1
        later = now + self.policy.poll_interval
        for task in found:
            item = answer.items.get(task.id) if isinstance(answer, provider.Statuses) else None
            if item is None:  # unknown to the DSP, or the poll failed: keep what we know, ask later
                await tasks.seen(self.db, task.id, task.status, task.error_message, later)
            else:
                await tasks.seen(self.db, task.id, item.status, item.error_message, later)
                self.report.polled += 1
        return 1

    async def _send_batch(self) -> int:
        """Send due nodes whose parent completed, ``concurrency`` at a time, while the budget lasts;
        the requests made. The batch is claimed in one transaction and its outcomes saved in one."""
        now = self.wall()
        parent = NodeRecord.__table__.alias("parent")
        async with self.db.reader() as session:
            rows = list(
                (
                    await session.execute(
                        select(NodeRecord.id, parent.c.external_id)
                        .outerjoin(parent, parent.c.id == NodeRecord.parent_id)
                        .where(
                            NodeRecord.dsp == self.dsp,
                            NodeRecord.state.in_(tuple(machine.SENDABLE)),
                            NodeRecord.next_attempt_at <= now,
                            or_(NodeRecord.parent_id.is_(None), parent.c.state == "completed"),
                        )
                        .order_by(NodeRecord.next_attempt_at, NodeRecord.position)
                        .limit(max(SEND_BATCH, 4 * self.concurrency))
                    )
                ).all()
            )
        if not rows:
            return 0
        parents = {node_id: parent_external for node_id, parent_external in rows}
        records = await _claim(self.db, list(parents), now, self.lease_seconds)
        before = {record.id: record for record in records}
        slots = asyncio.Semaphore(self.concurrency)
        flying: list[asyncio.Task[tuple[machine.Node, object]]] = []
        claimed = [machine.begin_send(to_machine(record), now, self.lease_seconds) for record in records]
        refused: list[machine.Node] = []
        try:
            for index, node in enumerate(claimed):
                await slots.acquire()
                # The budget's slot is taken last, right before the request leaves: its stamp must be
                # its sending time (the DSP counts arrivals; the budget's slack covers only the wire).
                if self._stop or not await self._take("submit"):
                    slots.release()
                    refused = claimed[index:]
                    break
                payload = dict(before[node.id].payload)
                if node.kind in PARENT_FIELD:
                    payload[PARENT_FIELD[node.kind]] = parents[node.id]
                flying.append(asyncio.create_task(self._send(node, payload, slots)))
        finally:
            answers = await asyncio.gather(*flying)
            await _unclaim(self.db, refused, before)
        outcomes = [self._apply(node, answer) for node, answer in answers]
        await _save_many(self.db, outcomes)
        limited = [answer for _node, answer in answers if isinstance(answer, provider.RateLimited)]
        if limited:
            await self._rate_limited(max(answer.retry_after for answer in limited))
        return len(answers)

    async def _send(
        self, node: machine.Node, payload: dict[str, Any], slots: asyncio.Semaphore
    ) -> tuple[machine.Node, object]:
        try:
            key = machine.idempotency_key(node.id, node.payload_version)
            answer = await self.client.create(node.kind, payload, key)
            self.report.sent += 1
            return node, answer
        finally:
            slots.release()

    def _apply(self, node: machine.Node, answer: object) -> machine.Node:
        now = self.wall()
        if isinstance(answer, provider.Accepted):
            result = machine.accepted(node, answer.external_id, answer.status, now, self.policy)
            if answer.status == "Error" and answer.error_message:
                result = replace(result, error_message=answer.error_message)
        elif isinstance(answer, provider.RateLimited):
            result = machine.rate_limited(node, answer.retry_after, now)
        elif isinstance(answer, provider.Transient):
            result = machine.transient(
                node, answer.reason, now, self.policy, self.rng, retry_after=answer.retry_after
            )
            if result.state == "retry_scheduled":
                self.report.retries_scheduled += 1
        elif isinstance(answer, provider.Rejected):
            result = machine.rejected(node, answer.status, answer.message)
        elif isinstance(answer, provider.ParentNotReady):
            result = machine.parent_not_ready(node, now, self.policy)
        elif isinstance(answer, provider.ParentMissing):
            result = machine.failed_for_good(
                node, f"the DSP does not know this node's parent: {answer.message}"
            )
        elif isinstance(answer, provider.Unauthorized):
            result = machine.failed_for_good(node, f"the DSP refused the API key (HTTP {answer.status})")
        else:
            result = machine.transient(
                node, f"unexpected answer {type(answer).__name__}", now, self.policy, self.rng
            )
        self._count(result)
        return result

    def _count(self, node: machine.Node) -> None:
        if node.state == "completed":
            self.report.completed += 1
        elif node.state == "error":
            self.report.errors += 1
        elif node.state == "dead":
            self.report.dead += 1

    async def _rate_limited(self, retry_after: float) -> None:
        self._stop = True
        self.report.rate_limited += 1
        await self.budget.pause(retry_after)
        await _park_account(self.db, self.dsp, self.wall() + retry_after)


async def campaign_nodes(db: Database, campaign_id: str) -> list[NodeRecord]:
    """A campaign's nodes, parents first; :class:`NotFoundError` for an unknown campaign."""
    async with db.reader() as session:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFoundError(f"no campaign {campaign_id}")
        rows = await session.execute(
            select(NodeRecord).where(NodeRecord.campaign_id == campaign_id).order_by(NodeRecord.position)
        )
        return list(rows.scalars())


def campaign_status(nodes: Sequence[NodeRecord]) -> tuple[machine.SeedStatus, str | None]:
    """The seed status of a whole campaign: its root node's, unless a descendant failed."""
    if not nodes:
        return "Not Started", None
    states = [to_machine(node) for node in nodes]
    failed = next((node for node in states if node.state in {"error", "dead", "cancelled"}), None)
    if failed is not None:
        return machine.seed_status(failed)
    if all(node.state == "completed" for node in states):
        return "Completed", None
    if any(node.state != "pending" for node in states):
        return "In Progress", None
    return "Not Started", None


async def _apply_to_campaign(
    db: Database, campaign_id: str, change: Callable[[list[machine.Node]], list[machine.Node]]
) -> int:
    nodes = await campaign_nodes(db, campaign_id)
    changed = change([to_machine(node) for node in nodes])
    async with db.unit_of_work() as session:
        for node in changed:
            await session.execute(update(NodeRecord).where(NodeRecord.id == node.id).values(**_values(node)))
        await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(updated_at=_now()))
    return len(changed)


async def retry_campaign(db: Database, campaign_id: str) -> int:
    """Resume from the failed nodes (error, dead, blocked → pending); the number of nodes resumed."""
    return await _apply_to_campaign(db, campaign_id, lambda nodes: machine.retry(nodes))


async def cancel_campaign(db: Database, campaign_id: str) -> int:
    """Cancel every node not yet terminal; the number of nodes cancelled."""
    return await _apply_to_campaign(db, campaign_id, machine.cancel)


async def get_campaign(db: Database, campaign_id: str) -> Campaign:
    async with db.reader() as session:
        campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"no campaign {campaign_id}")
    return campaign


FIXABLE: Final = frozenset({"pending", "blocked", "retry_scheduled", "error", "dead"})
"""States in which a node's payload may be fixed (it is not at the DSP, or the DSP refused it)."""
_MODELS: Final[dict[str, type[CampaignIn] | type[AdGroupIn] | type[AdIn]]] = {
    "campaign": CampaignIn,
    "ad_group": AdGroupIn,
    "ad": AdIn,
}


async def fix_payload(db: Database, node_id: str, changes: Mapping[str, Any]) -> NodeRecord:
    """Merge ``changes`` into a node's payload as a new payload version (a new Idempotency-Key).

    Only a node not accepted by the DSP, or refused by it, may change: 409 otherwise. The node keeps
    its state; ``retry`` sends it again with the new payload. Bad values: 400, nothing stored.
    """
    async with db.unit_of_work() as session:
        record = await session.get(NodeRecord, node_id, with_for_update=not db.is_sqlite)
        if record is None:
            raise NotFoundError(f"no node {node_id}")
        if record.state not in FIXABLE:
            raise ConflictError(
                f"node {node_id} is {record.state}: only a node that is not (or no longer) at the DSP "
                f"can change ({', '.join(sorted(FIXABLE))})"
            )
        unknown = sorted(set(changes) - set(record.payload))
        if unknown:
            fields = ", ".join(sorted(record.payload))
            raise InvalidInputError(
                f"a {record.kind} has no field {', '.join(unknown)}; fields: {fields}", code="invalid_request"
            )
        model = _MODELS[record.kind]
        try:
            payload = model.model_validate({**record.payload, **changes}).to_payload()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidInputError(f"{where}: {first['msg']}", code="invalid_request") from None
        record.payload = dict(payload)
        record.payload_version += 1
        record.external_id = None
        record.dsp_status = None
        record.updated_at = _now()
        await session.flush()
        return record


async def node_record(db: Database, node_id: str) -> NodeRecord:
    async with db.reader() as session:
        record = await session.get(NodeRecord, node_id)
    if record is None:
        raise NotFoundError(f"no node {node_id}")
    return record


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    campaign: Campaign
    status: machine.SeedStatus
    error_message: str | None
    states: dict[str, int]


def _cursor_of(campaign: Campaign) -> str:
    raw = f"{campaign.created_at.isoformat()}|{campaign.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _from_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, campaign_id = raw.split("|", 1)
        return datetime.fromisoformat(moment), campaign_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("cursor is not one this API gave", code="invalid_cursor") from None


async def list_campaigns(
    db: Database,
    *,
    dsp: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[CampaignSummary], str | None]:
    """Campaigns newest first, a page at a time (``next_cursor`` until ``None``). With ``status``,
    a page may hold fewer than ``limit`` campaigns: the filter applies to each page read."""
    query = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit + 1)
    if dsp is not None:
        query = query.where(Campaign.dsp == dsp)
    if cursor is not None:
        moment, campaign_id = _from_cursor(cursor)
        query = query.where(
            or_(Campaign.created_at < moment, and_(Campaign.created_at == moment, Campaign.id < campaign_id))
        )
    async with db.reader() as session:
        campaigns = list((await session.execute(query)).scalars())
        page, more = campaigns[:limit], len(campaigns) > limit
        nodes: dict[str, list[NodeRecord]] = {campaign.id: [] for campaign in page}
        if page:
            rows = await session.execute(
                select(NodeRecord)
                .where(NodeRecord.campaign_id.in_(list(nodes)))
                .order_by(NodeRecord.campaign_id, NodeRecord.position)
            )
            for record in rows.scalars():
                nodes[record.campaign_id].append(record)
    found: list[CampaignSummary] = []
    for campaign in page:
        seed, message = campaign_status(nodes[campaign.id])
        if status is not None and seed != status:
            continue
        states: dict[str, int] = {}
        for record in nodes[campaign.id]:
            states[record.state] = states.get(record.state, 0) + 1
        found.append(CampaignSummary(campaign, seed, message, states))
    return found, (_cursor_of(page[-1]) if more and page else None)


def node_view(record: NodeRecord) -> NodeRead:
    """One node as the API and the CLI show it (without its children)."""
    status, message = machine.seed_status(to_machine(record))
    return NodeRead(
        id=record.id,
        kind=record.kind,
        state=record.state,
        status=status,
        error_message=message,
        external_id=record.external_id,
        attempts=record.attempts,
        payload_version=record.payload_version,
        last_error=record.last_error,
    )


def campaign_view(campaign: Campaign, nodes: Sequence[NodeRecord]) -> CampaignRead:
    """The campaign as ``GET /api/campaigns/{id}`` shows it: its status and its tree."""
    views: dict[str, NodeRead] = {}
    root: NodeRead | None = None
    for record in nodes:  # parents first
        view = views[record.id] = node_view(record)
        if record.parent_id is None:
            root = view
        else:
            views[record.parent_id].children.append(view)
    assert root is not None, "a campaign always has its campaign node"
    status, message = campaign_status(nodes)
    return CampaignRead(
        id=campaign.id,
        dsp=campaign.dsp,
        name=campaign.name,
        status=status,
        error_message=message,
        created_at=campaign.created_at,
        tree=root,
    )
