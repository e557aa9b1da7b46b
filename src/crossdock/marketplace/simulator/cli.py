"""``crossdock simulate marketplace``: serve the fake provider; start it for ``serve --with-simulator``."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from crossdock.cli.errors import cli_errors
from crossdock.errors import InvalidInputError
from crossdock.manifest import DemoContext, DemoUpstream, SimulatorCommand
from crossdock.marketplace.settings import MarketplaceSettings
from crossdock.marketplace.simulator.app import EVENTS_PATH, MarketplaceSimulatorOptions, Scenario
from crossdock.marketplace.simulator.feeds import FeedVariant
from crossdock.simulators.demo import start_simulator
from crossdock.simulators.options import HOST_HELP, check_cli_values, usage_error
from crossdock.simulators.server import serve_simulator

APP_FACTORY: Final = "crossdock.marketplace.simulator.app:app_from_env"


def marketplace(
    host: Annotated[str, typer.Option(help=HOST_HELP)] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on (1-65535).")] = 8081,
    scenario: Annotated[
        Scenario,
        typer.Option(
            help="samples: the three published answers in rotation; planlist: the planList sample; "
            "generated: a deterministic feed of the size given below."
        ),
    ] = "samples",
    variant: Annotated[
        FeedVariant, typer.Option(help="generated: eventlist (base_event/event) or planlist naming.")
    ] = "eventlist",
    base_events: Annotated[int, typer.Option(help="generated: base events per feed.")] = 100,
    sessions_per_event: Annotated[int, typer.Option(help="generated: sessions per base event.")] = 2,
    zones_per_session: Annotated[int, typer.Option(help="generated: zones per session.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the generated feed and of the fault rolls.")] = 0,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate/--static",
            help="Next sample / feed generation after each full answer, or always the same.",
        ),
    ] = True,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 500/502/503 (0-1).")] = 0.0,
    latency_ms: Annotated[int, typer.Option(help="Milliseconds added before every answer.")] = 0,
    timeout_rate: Annotated[
        float, typer.Option(help="Share of requests held unanswered for 300 s, then 504 (0-1).")
    ] = 0.0,
    truncate_rate: Annotated[
        float, typer.Option(help="Share of requests answered 200 with the XML cut in the middle (0-1).")
    ] = 0.0,
) -> None:
    """Fake the marketplace provider's GET /api/events, steerable through /_control."""
    check_cli_values(
        port=port,
        rates={"--error-rate": error_rate, "--timeout-rate": timeout_rate, "--truncate-rate": truncate_rate},
        sizes={
            "--base-events": base_events,
            "--sessions-per-event": sessions_per_event,
            "--zones-per-session": zones_per_session,
        },
        latency_ms=latency_ms,
    )
    try:
        options = MarketplaceSimulatorOptions(
            scenario=scenario,
            base_events=base_events,
            sessions_per_event=sessions_per_event,
            zones_per_session=zones_per_session,
            variant=variant,
            seed=seed,
            rotate=rotate,
            error_rate=error_rate,
            latency_ms=latency_ms,
            timeout_rate=timeout_rate,
            truncate_rate=truncate_rate,
        )
    except InvalidInputError as exc:
        usage_error(exc.message)
    with cli_errors():
        serve_simulator(APP_FACTORY, options, host, port, name="marketplace simulator", path=EVENTS_PATH)


def demo(context: DemoContext) -> DemoUpstream | None:
    """For ``make run``: the simulator on a free loopback port, unless a provider URL was set."""
    group = context.settings.of(MarketplaceSettings)
    if "provider_url" in group.model_fields_set:
        return DemoUpstream({}, f"provider:  {group.provider_url} (CROSSDOCK_MARKETPLACE_PROVIDER_URL)")
    base = start_simulator("marketplace", ready_path="/health")
    url = f"{base}{EVENTS_PATH}"
    return DemoUpstream(
        {"CROSSDOCK_MARKETPLACE_PROVIDER_URL": url}, f"provider:  {url} (local marketplace simulator)"
    )


SIMULATOR = SimulatorCommand(name="marketplace", command=marketplace, demo=demo)
