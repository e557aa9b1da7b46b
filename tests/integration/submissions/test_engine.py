"""The engine against the DSP simulator (in process, on one hand-moved clock), on SQLite and
PostgreSQL: with 5xx, answers lost after the commit and validation errors, every node ends in a
terminal state, the DSP holds no duplicate and never saw a request over its limit."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from crossdock.config import Settings
from crossdock.jobs import records
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import run_job
from crossdock.storage import Database
from crossdock.submissions import engine, jobs, tasks
from crossdock.submissions.budget import Budget
from crossdock.submissions.machine import Policy
from crossdock.submissions.provider import Accepted, DspClient
from crossdock.submissions.schemas import CampaignSubmission
from crossdock.submissions.settings import DspAccount, SubmissionsSettings
from crossdock.submissions.simulator.app import DspSimulatorOptions, create_app, in_process_transport
from tests.support.servers import serve_in_thread

KEY = "test-dsp-key-0001"
LIMIT, WINDOW = 20, 10.0
TERMINAL = {"completed", "error", "dead", "cancelled", "blocked"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def submission(number: int) -> CampaignSubmission:
    return CampaignSubmission.model_validate(
        {
            "dsp": "sim",
            "campaign": {
                "name": f"Campaign {number}",
                "budget": 1000 + number,
                "start_date": "2026-01-01",
                "end_date": "2026-02-01",
                "objective": "awareness",
                "ad_groups": [
                    {
                        "name": f"Group {number}-{group}",
                        "bid": 1.5,
                        "targeting": {"ages": ["18-24"], "interests": ["music"], "geo": ["ES"]},
                        "ads": [
                            {
                                "type": "banner",
                                "creative_url": f"https://cdn.example/{number}/{group}/{ad}.png",
                                "click_url": f"https://shop.example/{number}/{group}/{ad}",
                            }
                            for ad in range(2)
                        ],
                    }
                    for group in range(2)
                ],
            },
        }
    )


async def test_faulty_dsp_every_node_ends_no_duplicate_never_over_the_limit(database: Database) -> None:
    clock = Clock()
    options = DspSimulatorOptions(
        api_keys=(KEY,),
        limit=LIMIT,
        window=WINDOW,
        processing_seconds=2.0,
        error_rate=0.10,
        drop_after_commit_rate=0.05,
        validation_error_rate=0.05,
        seed=7,
    )
    app = create_app(options, clock=clock)
    client = DspClient("sim", "http://dsp.test", KEY, transport=in_process_transport(app))
    budget = Budget(limit=LIMIT, window=WINDOW, poll_reserve=2, clock=clock)
    campaigns = [(await engine.submit(database, submission(n), known_dsps=["sim"]))[0] for n in range(20)]
    advancer_args: dict[str, Any] = {
        "db": database,
        "dsp": "sim",
        "client": client,
        "budget": budget,
        "policy": Policy(max_attempts=6, backoff_initial=1.0, backoff_max=8.0, poll_interval=1.0),
        "wall": clock,
        "rng": random.Random(3),
        "concurrency": 3,
        "max_seconds": 20.0,  # each pass awaits free slots and due nodes (on the hand-moved clock)
        "sleep": clock.sleep,
    }
    try:
        for _ in range(5000):
            report = await engine.Advancer(**advancer_args).run()
            if set(report.states) <= TERMINAL:
                break
            clock.now += 0.25
        else:
            raise AssertionError(f"nodes still moving: {report.states}")
        counters = app.state.simulator.state()["counters"]
    finally:
        await client.aclose()

    assert counters["over_limit"] == 0
    assert counters["duplicates"] == {"campaigns": 0, "ad_groups": 0, "ads": 0}
    assert counters["errors"]["500"] + counters["errors"]["502"] + counters["errors"]["503"] > 0
    assert counters["dropped"] > 0
    nodes = [node for campaign in campaigns for node in await engine.campaign_nodes(database, campaign.id)]
    assert len(nodes) == 20 * 7
    states = {node.state for node in nodes}
    assert states <= TERMINAL
    assert "completed" in states
    errored = [node for node in nodes if node.state == "error"]
    assert errored, "the simulator's validation errors should show"
    assert all(node.error_message for node in errored)
    by_id = {node.id: node for node in nodes}
    for node in nodes:
        parent = by_id.get(node.parent_id) if node.parent_id else None
        if node.state == "completed" and parent is not None:
            assert parent.state == "completed"
        if node.state == "blocked":
            assert parent is not None
            assert parent.state in {"error", "dead", "blocked"}
    created = counters["created"]
    assert created["campaigns"] + created["ad_groups"] + created["ads"] == sum(
        1 for node in nodes if node.external_id is not None
    )


async def test_the_scheduled_job_advances_a_campaign_over_a_real_socket(sqlite_database: Database) -> None:
    """`submissions.advance` (the job serve and workers run) sends, polls and completes a campaign
    on a DSP simulator listening on 127.0.0.1, recorded as runs like any job."""
    options = DspSimulatorOptions(api_keys=(KEY,), limit=1000, window=1.0, processing_seconds=0.05)
    with serve_in_thread(create_app(options)) as base:
        accounts = {"sim": DspAccount(url=base, api_key=KEY, limit=1000, window=1.0)}
        settings = Settings().with_groups(SubmissionsSettings(dsps=accounts, poll_interval=0.05))
        campaign, _ = await engine.submit(sqlite_database, submission(1), known_dsps=["sim"])
        ctx = JobContext(settings=settings, db=sqlite_database)
        try:
            for _ in range(400):  # at most ~20 s
                outcome = await run_job(ctx, jobs.ADVANCE, params={"dsp": "sim"}, raise_errors=True)
                nodes = await engine.campaign_nodes(sqlite_database, campaign.id)
                if all(node.state == "completed" for node in nodes):
                    break
                await asyncio.sleep(0.05)  # the simulator's processing time passes in real time
        finally:
            await ctx.aclose()
    assert [node.state for node in nodes] == ["completed"] * 7
    assert outcome.succeeded
    runs = await records.list_runs(sqlite_database, job=jobs.ADVANCE_JOB)
    assert runs[-1].details["sent"] >= 1


async def test_a_registered_task_is_polled_until_the_dsp_gives_its_verdict(database: Database) -> None:
    clock = Clock()
    app = create_app(DspSimulatorOptions(api_keys=(KEY,), processing_seconds=2.0), clock=clock)
    client = DspClient("sim", "http://dsp.test", KEY, transport=in_process_transport(app))
    try:
        entity = await client.create(
            "campaign",
            {
                "name": "Direct",
                "budget": 10,
                "start_date": "2026-01-01",
                "end_date": "2026-01-02",
                "objective": "x",
            },
            "outside-crossdock-1",
        )
        assert isinstance(entity, Accepted)
        await tasks.register(database, tasks.TaskIn(id=entity.external_id), ["sim"])
        budget = Budget(limit=100, window=1.0, clock=clock)
        for _ in range(20):
            await engine.Advancer(
                db=database,
                dsp="sim",
                client=client,
                budget=budget,
                policy=Policy(poll_interval=1.0),
                wall=clock,
            ).run()
            if (await tasks.read(database, entity.external_id)).status == "Completed":
                break
            clock.now += 0.5
    finally:
        await client.aclose()
    assert (await tasks.read(database, entity.external_id)).status == "Completed"
