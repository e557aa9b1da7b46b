"""``crossdock simulate``: run fake upstream APIs with fault injection (thin: parse, check, serve)."""

from __future__ import annotations

from typing import Annotated, Final, NoReturn

import typer

from crossdock.errors import ConfigurationError, InvalidInputError
from crossdock.simulators.feeds import FeedVariant
from crossdock.simulators.krakenflex import (
    API_KEY_ENV_VAR,
    API_KEY_HEADER,
    BASE_PATH,
    KrakenflexSimulatorOptions,
    generate_api_key,
)
from crossdock.simulators.marketplace import EVENTS_PATH, MarketplaceSimulatorOptions, Scenario
from crossdock.simulators.server import ensure_bindable, serve_simulator

MARKETPLACE_APP_FACTORY: Final = "crossdock.simulators.marketplace:app_from_env"
KRAKENFLEX_APP_FACTORY: Final = "crossdock.simulators.krakenflex:app_from_env"
USAGE_ERROR_EXIT_CODE: Final = 2

app = typer.Typer(
    help="Run fake upstream APIs with fault injection (for demos, tests and benchmarks).",
    no_args_is_help=True,
)


@app.callback()
def simulate() -> None:
    """Run fake upstream APIs with fault injection (for demos, tests and benchmarks)."""
    # A callback keeps each simulator a sub-command (`crossdock simulate marketplace|krakenflex`).


def _usage_error(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=USAGE_ERROR_EXIT_CODE)


def _check_cli_values(*, port: int, rates: dict[str, float], sizes: dict[str, int], latency_ms: int) -> None:
    """Reject out-of-range values with the option's own name, before anything starts."""
    if not 1 <= port <= 65535:
        _usage_error(f"--port must be between 1 and 65535 (got {port})")
    for flag, rate in rates.items():
        if not 0.0 <= rate <= 1.0:
            _usage_error(f"{flag} must be between 0 and 1 (got {rate})")
    for flag, size in sizes.items():
        if size < 1:
            _usage_error(f"{flag} must be at least 1 (got {size})")
    if latency_ms < 0:
        _usage_error(f"--latency-ms must be 0 or more (got {latency_ms})")


@app.command()
def marketplace(
    host: Annotated[
        str, typer.Option(help="Interface to bind (keep 127.0.0.1 unless you mean it).")
    ] = "127.0.0.1",
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
    _check_cli_values(
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
        _usage_error(exc.message)
    try:
        serve_simulator(MARKETPLACE_APP_FACTORY, options, host, port, path=EVENTS_PATH)
    except ConfigurationError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(code=1) from None


@app.command()
def krakenflex(
    host: Annotated[
        str, typer.Option(help="Interface to bind (keep 127.0.0.1 unless you mean it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on (1-65535).")] = 8082,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar=API_KEY_ENV_VAR,
            show_default=False,
            help="The only x-api-key accepted. Without it (and without the env var) a random key "
            "is generated and printed once.",
        ),
    ] = None,
    error_rate: Annotated[float, typer.Option(help="Share of API requests answered 500 (0-1).")] = 0.0,
    latency_ms: Annotated[int, typer.Option(help="Milliseconds added before every API answer.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the noise outages and of the fault rolls.")] = 0,
) -> None:
    """Fake the KrakenFlex outages API (GET /outages, GET /site-info, POST /site-outages)."""
    _check_cli_values(port=port, rates={"--error-rate": error_rate}, sizes={}, latency_ms=latency_ms)
    generated = api_key is None
    try:
        options = KrakenflexSimulatorOptions(
            api_key=generate_api_key() if api_key is None else api_key,
            seed=seed,
            error_rate=error_rate,
            latency_ms=latency_ms,
        )
    except InvalidInputError as exc:
        _usage_error(exc.message)
    try:
        # Checked before the key line, so a taken port fails without printing a key nobody can use.
        ensure_bindable(host, port)
        if generated:
            typer.echo(f"krakenflex simulator {API_KEY_HEADER}: {options.api_key} (generated)")
        else:
            # A key the caller chose is a secret they already hold: never echo it.
            typer.echo(f"krakenflex simulator {API_KEY_HEADER}: given by --api-key or {API_KEY_ENV_VAR}")
        serve_simulator(
            KRAKENFLEX_APP_FACTORY, options, host, port, name="krakenflex simulator", path=BASE_PATH
        )
    except ConfigurationError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(code=1) from None
