"""Jobs of the submissions capability: advance each configured DSP account, scheduled per account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossdock.config import Settings
from crossdock.errors import ConfigurationError
from crossdock.jobs.context import JobContext
from crossdock.jobs.spec import JobSpec, RunReport, Schedule
from crossdock.submissions import engine
from crossdock.submissions.budget import Budget, RedisBudget, budget_for, shared_budget_for
from crossdock.submissions.machine import Policy
from crossdock.submissions.provider import DspClient
from crossdock.submissions.settings import SubmissionsSettings

CAPABILITY = "submissions"
ADVANCE_JOB = "submissions.advance"


async def advance(ctx: JobContext, run: RunReport) -> engine.AdvanceReport:
    """One pass over one DSP account (params: ``dsp``): poll verdicts, send what is due, within budget."""
    group = ctx.settings.of(SubmissionsSettings)
    name = str(run.params["dsp"])
    account = group.dsps.get(name)
    if account is None:
        raise ConfigurationError(f"no DSP {name!r} in CROSSDOCK_SUBMISSIONS_DSPS")
    budget: Budget | RedisBudget
    redis_url = ctx.settings.jobs.shared_redis_url
    if ctx.settings.jobs.distributed and redis_url is not None:
        # Every worker draws from one budget per account, atomically in Redis.
        budget = shared_budget_for(
            redis_url, ctx.settings.jobs.queue, name, account.limit, account.window, group.window_slack
        )
    else:
        budget = budget_for(name, account.limit, account.window, group.window_slack)
    client = DspClient(name, str(account.url), account.api_key.get_secret_value(), hooks=ctx.hooks)
    try:
        report = await engine.Advancer(
            db=ctx.db,
            dsp=name,
            client=client,
            budget=budget,
            policy=Policy(
                max_attempts=group.max_attempts,
                poll_interval=group.poll_interval,
                backoff_initial=group.backoff_initial,
                backoff_max=group.backoff_max,
            ),
            concurrency=account.concurrency,
            max_seconds=group.pass_seconds,
            lease_seconds=group.lease_seconds,
        ).run()
    finally:
        await client.aclose()
    run.details.update(report.as_dict())
    run.changed = bool(report.sent or report.polled)
    return report


def _schedules(settings: Settings) -> Sequence[Schedule]:
    group = settings.of(SubmissionsSettings)
    return [Schedule(group.advance_interval, {"dsp": name}) for name in sorted(group.dsps)]


def _dsp(settings: Settings, params: Mapping[str, Any]) -> str | None:
    value = params.get("dsp")
    return None if value is None else str(value)


def _check(settings: Settings, params: Mapping[str, Any]) -> None:
    name = params.get("dsp")
    if name is None or str(name) not in settings.of(SubmissionsSettings).dsps:
        raise ConfigurationError(f"no DSP {name!r} in CROSSDOCK_SUBMISSIONS_DSPS")


ADVANCE = JobSpec(
    name=ADVANCE_JOB,
    capability=CAPABILITY,
    function=advance,
    schedules=_schedules,
    subject=_dsp,
    check=_check,
    description="Advance each DSP account's campaigns: poll statuses, send due nodes within the budget.",
    on_lost="retry",
    lost_policy="Every node is sent with the Idempotency-Key of its payload version and claimed before its "
    "POST; a node left submitting is sent again with the same key once its lease passes, and the DSP "
    "answers the entity it already holds.",
)
