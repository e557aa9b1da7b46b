"""``crossdock simulate controllers``: a fleet of fake LED controllers posting outage reports to the service.

Unlike the other simulators this one is a client: it POSTs to ``<target>/outages`` (the service's
base URL given by the user; nothing else is contacted) and stops by itself, after ``--duration``
seconds or ``--max-reports`` records. ``crossdock serve --with-simulator`` (``make run``) starts it
against the service being started, so a new user sees events appear.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Final

import httpx
import typer

from crossdock.cli.errors import cli_errors
from crossdock.controller_outages.simulator.generator import (
    MAX_CONTROLLERS,
    MAX_REORDER_WINDOW,
    Faults,
    Fleet,
    Tally,
    generate,
    iso,
)
from crossdock.controller_outages.simulator.sender import Pacer, SendOptions, SendSummary, send_posts
from crossdock.errors import InvalidInputError
from crossdock.manifest import DemoContext, DemoUpstream, SimulatorCommand
from crossdock.simulators.options import usage_error

API_KEY_ENV_VAR: Final = "CROSSDOCK_SIMULATOR_CONTROLLERS_API_KEY"
"""Where ``crossdock simulate controllers`` reads the service's API key when ``--api-key`` is not given."""
OUTAGES_PATH: Final = "/outages"
DEMO_ARGS: Final = (
    "--controllers", "25",
    "--speed", "300",
    "--duration", "1800",
    "--loss", "0.02",
    "--duplicate-rate", "0.05",
    "--reorder-window", "1800",
    "--backlog-rate", "0.01",
)  # fmt: skip
"""``make run``: 25 controllers, 10 simulated minutes every 2 s, for 30 minutes, with every fault."""


def outages_url(target: str) -> str:
    """``<target>/outages`` for an http(s) base URL; a usage error otherwise."""
    try:
        url = httpx.URL(target.strip())
    except httpx.InvalidURL:
        usage_error(f"--target must be an http(s) URL such as http://127.0.0.1:8000 (got {target!r})")
    if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
        usage_error(f"--target must be an http(s) base URL such as http://127.0.0.1:8000 (got {target!r})")
    return str(url.copy_with(path=url.path.rstrip("/") + OUTAGES_PATH))


def parse_start(value: str) -> int:
    """An RFC 3339 date-time (no offset: UTC) as Unix seconds; a usage error otherwise."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        usage_error(f"--start must be an RFC 3339 date-time such as 2025-09-01T00:00:00Z (got {value!r})")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return int(moment.timestamp())


def parent_gone(parent: int) -> Callable[[], bool]:
    """A check that turns true once process ``parent``, which started this one, has exited (we are
    re-parented). The starter passes its own pid: read here, it could already be the new parent's."""
    return lambda: os.getppid() != parent


def simulate_controllers(
    target: Annotated[
        str, typer.Option(help="Base URL of the service, e.g. http://127.0.0.1:8000 (POST <target>/outages).")
    ],
    controllers: Annotated[int, typer.Option(help="How many controllers (1-100000).")] = 20,
    speed: Annotated[
        float,
        typer.Option(
            help="Time compression: simulated seconds per real second (60: a report period every 10 s)."
        ),
    ] = 60.0,
    loss: Annotated[float, typer.Option(help="Share of reports never sent (0-1).")] = 0.0,
    duplicate_rate: Annotated[float, typer.Option(help="Share of reports sent twice (0-1).")] = 0.0,
    reorder_window: Annotated[
        float,
        typer.Option(help="Reports are held up to this many simulated seconds, so later ones overtake them."),
    ] = 0.0,
    backlog_rate: Annotated[
        float,
        typer.Option(
            help="Chance per 10-minute tick that a controller goes offline for 20 min to 2 h, then sends "
            "its backlog at once (0-1)."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the fleet, its outages and the fault rolls.")] = 0,
    duration: Annotated[
        float, typer.Option(help="Real seconds the run lasts (simulated: duration x speed).")
    ] = 60.0,
    max_reports: Annotated[
        int | None, typer.Option(help="Stop after sending this many records (duplicates included).")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="Simulated time of the first tick, RFC 3339 (default: so that the run ends now, since the "
            "service refuses reports from the future)."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar=API_KEY_ENV_VAR,
            show_default=False,
            help="API key with the controller-outages:write scope, for a service with API keys.",
        ),
    ] = None,
    json_log: Annotated[
        Path | None,
        typer.Option(help="Write one JSON line per POST: the records exactly as sent, and the answer."),
    ] = None,
    retry_for: Annotated[
        float, typer.Option(help="Seconds a POST the service cannot take is retried before the run gives up.")
    ] = 30.0,
    stop_with_parent: Annotated[
        int, typer.Option(hidden=True, help="Stop when this process (the one that started this one) exits.")
    ] = 0,
) -> None:
    """Fake LED controllers posting outage reports to the service: loss, duplicates, reordering, backlogs.

    Prints one line per POST (sent, accepted, duplicates, rejected) and a summary; stops by itself.
    """
    url = outages_url(target)
    for flag, rate in (
        ("--loss", loss),
        ("--duplicate-rate", duplicate_rate),
        ("--backlog-rate", backlog_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            usage_error(f"{flag} must be between 0 and 1 (got {rate:g})")
    if not 0 <= reorder_window <= MAX_REORDER_WINDOW:
        usage_error(f"--reorder-window must be between 0 and {MAX_REORDER_WINDOW} s (got {reorder_window:g})")
    if not 1 <= controllers <= MAX_CONTROLLERS:
        usage_error(f"--controllers must be between 1 and {MAX_CONTROLLERS} (got {controllers})")
    if not 0 < speed <= 1_000_000:
        usage_error(f"--speed must be above 0 and at most 1000000 (got {speed:g})")
    if not 0 < duration <= 30 * 86_400:
        usage_error(f"--duration must be above 0 and at most 2592000 s (got {duration:g})")
    if max_reports is not None and max_reports < 1:
        usage_error(f"--max-reports must be at least 1 (got {max_reports})")
    if not 0 < retry_for <= 3600:
        usage_error(f"--retry-for must be above 0 and at most 3600 s (got {retry_for:g})")
    span = round(duration * speed)
    first = parse_start(start) if start is not None else int(time.time()) - span
    try:
        faults = Faults(
            loss=loss, duplicate_rate=duplicate_rate, reorder_window=reorder_window, backlog_rate=backlog_rate
        )
        fleet = Fleet(controllers=controllers, start=first, seed=seed, faults=faults)
    except InvalidInputError as exc:  # the checks above leave nothing for these
        usage_error(exc.message)
    options = SendOptions(
        url=url, start=first, speed=speed, api_key=api_key, max_reports=max_reports, retry_for=retry_for
    )
    pacer = Pacer(should_stop=parent_gone(stop_with_parent)) if stop_with_parent else Pacer()
    with cli_errors():
        typer.echo(
            f"controllers simulator: {controllers} controllers, speed {speed:g}x, simulated {iso(first)} to "
            f"{iso(first + span)}, posting to {url}"
        )
        tally = Tally()
        log: IO[str] | None = json_log.open("w", encoding="utf-8") if json_log is not None else None
        try:
            summary = asyncio.run(
                send_posts(
                    generate(fleet, until=first + span, tally=tally),
                    options,
                    echo=typer.echo,
                    log=log,
                    pacer=pacer,
                )
            )
        finally:
            if log is not None:
                log.close()
        typer.echo(_summary_line(summary, tally))
        if summary.error is not None:
            raise summary.error


def _summary_line(summary: SendSummary, tally: Tally) -> str:
    return (
        f"summary: {summary.posts} posts, {summary.sent} records sent ({tally.generated} reports made, "
        f"{tally.lost} lost, {tally.duplicated} duplicated, {tally.backlogs} backlogs); accepted "
        f"{summary.accepted}, duplicates {summary.duplicates}, rejected {summary.rejected}; "
        f"{summary.retries} retries; {summary.stopped}"
    )


def demo(context: DemoContext) -> DemoUpstream | None:
    """For ``make run``: the fleet posting to the service being started, for 30 minutes at most.

    Not started when the service has API keys and no key for the simulator was given.
    """
    if context.settings.api.keys and not os.environ.get(API_KEY_ENV_VAR):
        return DemoUpstream(
            {},
            f"controllers: not simulated (the service has API keys; set {API_KEY_ENV_VAR} to a key with "
            "the controller-outages:write scope)",
        )
    var = context.settings.var_dir
    var.mkdir(parents=True, exist_ok=True)
    output = var / "controllers-simulator.log"
    with output.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [
                sys.executable, "-m", "crossdock", "simulate", "controllers",
                "--target", context.service_url, *DEMO_ARGS, "--stop-with-parent", str(os.getpid()),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    atexit.register(_stop, process)
    return DemoUpstream(
        {},
        f"controllers: simulated fleet posting to {context.service_url}{OUTAGES_PATH} (output: {output}); "
        f"events at {context.service_url}/events",
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


SIMULATOR = SimulatorCommand(name="controllers", command=simulate_controllers, demo=demo)
