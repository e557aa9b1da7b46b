"""What the overview page shows: each capability's runs, the upstreams, the distributed job engine."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from crossdock.console.charts import Bar, bar_chart
from crossdock.jobs.models import RunRecord
from crossdock.storage import Database

HOURS = 24
USAGE_SPAN = 300.0
"""Seconds of request counts the overview keeps to say how busy each upstream is."""
_usage: dict[str, deque[tuple[float, float]]] = {}


@dataclass
class CapabilityRow:
    name: str
    summary: str
    page: str | None
    last_run: RunRecord | None = None
    runs: int = 0
    succeeded: int = 0
    chart: Any = None
    failing: bool = False

    @property
    def success_rate(self) -> str:
        return f"{100 * self.succeeded / self.runs:.0f} %" if self.runs else "—"


@dataclass
class Overview:
    capabilities: list[CapabilityRow] = field(default_factory=list)
    upstreams: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    distributed: dict[str, Any] | None = None


async def capability_rows(db: Database, now: datetime) -> list[CapabilityRow]:
    from crossdock.capabilities import CAPABILITIES

    since = now - timedelta(hours=HOURS)
    rows: list[CapabilityRow] = []
    async with db.reader() as session:
        for capability in CAPABILITIES:
            page = capability.console().path if capability.console is not None else None
            row = CapabilityRow(capability.name, capability.summary, page)
            if capability.jobs:
                row.last_run = await session.scalar(
                    select(RunRecord)
                    .where(RunRecord.capability == capability.name, RunRecord.finished_at.is_not(None))
                    .order_by(RunRecord.id.desc())
                    .limit(1)
                )
                hourly: dict[int, list[int]] = {}
                found = await session.execute(
                    select(RunRecord.started_at, RunRecord.outcome).where(
                        RunRecord.capability == capability.name,
                        RunRecord.started_at >= since,
                        RunRecord.finished_at.is_not(None),
                    )
                )
                for started_at, outcome in found:
                    hour = int((started_at.astimezone(UTC) - since).total_seconds() // 3600)
                    counts = hourly.setdefault(min(hour, HOURS - 1), [0, 0])
                    counts[0] += 1
                    counts[1] += outcome != "failed"
                row.runs = sum(total for total, _ in hourly.values())
                row.succeeded = sum(good for _, good in hourly.values())
                bars = []
                for hour in range(HOURS):
                    total, good = hourly.get(hour, [0, 0])
                    label = (since + timedelta(hours=hour)).strftime("%H:00")
                    share = 100 * good / total if total else 0.0
                    tone = "muted" if not total else ("ok" if good == total else "bad")
                    bars.append(Bar(label, share, tone, f"{good} of {total} runs succeeded"))
                label = f"{capability.name}: share of runs that succeeded per hour, last {HOURS} h"
                row.chart = bar_chart(label, bars, top=100, unit="%")
                row.failing = row.last_run is not None and row.last_run.outcome == "failed"
            rows.append(row)
    return rows


def upstream_rates(now: float) -> dict[str, float | None]:
    """Requests per second this process sent to each upstream over the last few minutes (``None``
    until two samples a few seconds apart exist): the counter of ``/metrics``, sampled at each view."""
    from crossdock.observability.metrics import UPSTREAM_REQUESTS

    totals: dict[str, float] = {}
    for metric in UPSTREAM_REQUESTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                upstream = sample.labels.get("upstream", "")
                totals[upstream] = totals.get(upstream, 0.0) + sample.value
    rates: dict[str, float | None] = {}
    for upstream, total in totals.items():
        samples = _usage.setdefault(upstream, deque(maxlen=1000))
        samples.append((now, total))
        while samples and samples[0][0] < now - USAGE_SPAN:
            samples.popleft()
        first_at, first_total = samples[0]
        rates[upstream] = (total - first_total) / (now - first_at) if now - first_at >= 5 else None
    return rates


async def distributed_status(db: Database, queue: str) -> dict[str, Any]:
    from crossdock.jobs import engine

    processes = await engine.processes(db, queue)
    now = await engine.database_now(db)
    return {
        "workers": [process for process in processes if process.role == "worker"],
        "schedulers": [process for process in processes if process.role == "scheduler"],
        "queue_depth": await engine.queue_depth(db),
        "now": now,
    }


async def lost_runs(db: Database, since: datetime) -> int:
    async with db.reader() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(RunRecord)
            .where(RunRecord.status == "lost", RunRecord.started_at >= since)
        )
    return int(found or 0)
