"""``crossdock simulate dsp``: serve the fake demand-side platform API."""

from __future__ import annotations

import json
import os
import secrets
from typing import Annotated, Final

import typer

from crossdock.cli.errors import cli_errors
from crossdock.errors import InvalidInputError
from crossdock.manifest import DemoContext, DemoUpstream, SimulatorCommand
from crossdock.simulators.demo import start_simulator
from crossdock.simulators.options import HOST_HELP, check_cli_values, usage_error
from crossdock.simulators.server import ensure_bindable, serve_simulator
from crossdock.submissions.settings import SubmissionsSettings
from crossdock.submissions.simulator.app import (
    API_KEYS_ENV_VAR,
    MAX_LIMIT,
    MAX_SECONDS,
    MAX_TIME_SCALE,
    DspSimulatorOptions,
    key_id,
)

APP_FACTORY: Final = "crossdock.submissions.simulator.app:app_from_env"
NO_KEY_MESSAGE: Final = (
    f"no API key: give --api-key KEY (repeatable) or set {API_KEYS_ENV_VAR}=KEY1,KEY2 "
    "(there are no default keys)"
)


def keys_from_environment() -> list[str]:
    """The keys of :data:`API_KEYS_ENV_VAR`: comma-separated, blanks around and empty items ignored."""
    return [key.strip() for key in os.environ.get(API_KEYS_ENV_VAR, "").split(",") if key.strip()]


def _check_range(flag: str, value: float, *, low: float, low_included: bool, high: float) -> None:
    if value > high or value < low or (value == low and not low_included):
        relation = "at least" if low_included else "more than"
        usage_error(f"{flag} must be {relation} {low:g} and at most {high:g} (got {value:g})")


def simulate_dsp(
    host: Annotated[str, typer.Option(help=HOST_HELP)] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on (1-65535).")] = 8083,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            show_default=False,
            help="A bearer key the DSP accepts (one account each); repeat for several. Without it, "
            "the keys come from the environment variable named above. At least one is required.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Requests per key accepted in any sliding window.")] = 40,
    window: Annotated[float, typer.Option(help="Length of the sliding window, simulated seconds.")] = 60.0,
    time_scale: Annotated[
        float,
        typer.Option(
            help="Simulated seconds per real second: the window, the processing and Retry-After "
            "shrink by it (60: a 60 s window lasts 1 real second)."
        ),
    ] = 1.0,
    error_rate: Annotated[
        float, typer.Option(help="Share of accepted API requests answered 500/502/503, without effect (0-1).")
    ] = 0.0,
    drop_after_commit_rate: Annotated[
        float,
        typer.Option(
            help="Share of accepted POSTs whose effect is committed, then the connection is dropped "
            "before the answer's body (0-1)."
        ),
    ] = 0.0,
    validation_error_rate: Annotated[
        float,
        typer.Option(help="Share of valid new entities that end in Error with a realistic message (0-1)."),
    ] = 0.0,
    processing_seconds: Annotated[
        float,
        typer.Option(help="Simulated seconds from Not Started to Completed/Error (In Progress from half)."),
    ] = 2.0,
    seed: Annotated[int, typer.Option(help="Seed of the fault rolls and of the ids.")] = 0,
) -> None:
    """Fake a demand-side platform API (campaigns, ad groups, ads) with a rate limit and faults.

    Keys: --api-key KEY (repeatable), else CROSSDOCK_SIMULATOR_DSP_API_KEYS=KEY1,KEY2.
    """
    check_cli_values(
        port=port,
        rates={
            "--error-rate": error_rate,
            "--drop-after-commit-rate": drop_after_commit_rate,
            "--validation-error-rate": validation_error_rate,
        },
        sizes={"--limit": limit},
        latency_ms=0,
    )
    if limit > MAX_LIMIT:
        usage_error(f"--limit must be at most {MAX_LIMIT} (got {limit})")
    _check_range("--window", window, low=0.0, low_included=False, high=MAX_SECONDS)
    _check_range("--time-scale", time_scale, low=0.0, low_included=False, high=MAX_TIME_SCALE)
    _check_range("--processing-seconds", processing_seconds, low=0.0, low_included=True, high=MAX_SECONDS)
    keys = list(api_key) if api_key else keys_from_environment()
    if not keys:
        usage_error(NO_KEY_MESSAGE)
    try:
        options = DspSimulatorOptions(
            api_keys=tuple(keys),
            limit=limit,
            window=window,
            time_scale=time_scale,
            processing_seconds=processing_seconds,
            error_rate=error_rate,
            drop_after_commit_rate=drop_after_commit_rate,
            validation_error_rate=validation_error_rate,
            seed=seed,
        )
    except InvalidInputError as exc:
        usage_error(exc.message)
    with cli_errors():
        ensure_bindable(host, port)
        # The keys are secrets the caller already holds: only their ids, which /_control counts by.
        ids = ", ".join(key_id(key) for key in options.api_keys)
        count = len(options.api_keys)
        typer.echo(f"dsp simulator: {count} API key{'s' if count > 1 else ''} accepted (key ids: {ids})")
        serve_simulator(APP_FACTORY, options, host, port, name="dsp simulator", path="")


DEMO_LIMIT, DEMO_WINDOW, DEMO_TIME_SCALE = 40, 60.0, 10.0


def demo(context: DemoContext) -> DemoUpstream | None:
    """For ``make run``: a DSP simulator (account ``demo``, 40 requests per simulated minute, ten times
    faster than real time, a few faults) with a fresh random key, unless DSP accounts are configured."""
    if context.settings.of(SubmissionsSettings).dsps:
        return DemoUpstream({}, "dsps:      from CROSSDOCK_SUBMISSIONS_DSPS")
    key = secrets.token_urlsafe(24)
    args = (
        *("--limit", str(DEMO_LIMIT), "--window", str(DEMO_WINDOW), "--time-scale", str(DEMO_TIME_SCALE)),
        *("--error-rate", "0.05", "--validation-error-rate", "0.05", "--processing-seconds", "20"),
    )
    base = start_simulator("dsp", ready_path="/health", args=args, env={API_KEYS_ENV_VAR: key})
    account = {"url": base, "api_key": key, "limit": DEMO_LIMIT, "window": DEMO_WINDOW / DEMO_TIME_SCALE}
    return DemoUpstream(
        {"CROSSDOCK_SUBMISSIONS_DSPS": json.dumps({"demo": account})},
        f"dsp:       {base} (local DSP simulator, account 'demo'; "
        "try: crossdock submissions import tests/fixtures/funnelfuel/dsp_merged_data.csv)",
    )


SIMULATOR = SimulatorCommand(name="dsp", command=simulate_dsp, demo=demo)
"""A faithful fake of a demand-side platform's API with limits and faults (``crossdock simulate dsp``)."""
