"""``crossdock simulate krakenflex``: serve the fake energy platform API."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from crossdock.cli.errors import cli_errors
from crossdock.errors import InvalidInputError
from crossdock.manifest import SimulatorCommand
from crossdock.simulators.options import HOST_HELP, check_cli_values, usage_error
from crossdock.simulators.server import ensure_bindable, serve_simulator
from crossdock.site_outages.simulator.app import (
    API_KEY_ENV_VAR,
    API_KEY_HEADER,
    BASE_PATH,
    MAX_RETRY_AFTER,
    KrakenflexSimulatorOptions,
    generate_api_key,
)

APP_FACTORY: Final = "crossdock.site_outages.simulator.app:app_from_env"


def krakenflex(
    host: Annotated[str, typer.Option(help=HOST_HELP)] = "127.0.0.1",
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
    rate_limit_rate: Annotated[
        float,
        typer.Option(
            help="Share of API requests answered 429 with Retry-After (0-1); requests sent before it "
            "has passed get 429 again, the first one after it gets through the limit."
        ),
    ] = 0.0,
    retry_after: Annotated[
        int, typer.Option(help=f"Seconds the Retry-After of a 429 asks for (0-{MAX_RETRY_AFTER}).")
    ] = 1,
) -> None:
    """Fake the KrakenFlex outages API (GET /outages, GET /site-info, POST /site-outages)."""
    check_cli_values(
        port=port,
        rates={"--error-rate": error_rate, "--rate-limit-rate": rate_limit_rate},
        sizes={},
        latency_ms=latency_ms,
    )
    if not 0 <= retry_after <= MAX_RETRY_AFTER:
        usage_error(f"--retry-after must be between 0 and {MAX_RETRY_AFTER} (got {retry_after})")
    generated = api_key is None
    try:
        options = KrakenflexSimulatorOptions(
            api_key=generate_api_key() if api_key is None else api_key,
            seed=seed,
            error_rate=error_rate,
            latency_ms=latency_ms,
            rate_limit_rate=rate_limit_rate,
            retry_after=retry_after,
        )
    except InvalidInputError as exc:
        usage_error(exc.message)
    with cli_errors():
        # Checked before the key line, so a taken port fails without printing a key nobody can use.
        ensure_bindable(host, port)
        if generated:
            typer.echo(f"krakenflex simulator {API_KEY_HEADER}: {options.api_key} (generated)")
        else:
            # A key the caller chose is a secret they already hold: never echo it.
            typer.echo(f"krakenflex simulator {API_KEY_HEADER}: given by --api-key or {API_KEY_ENV_VAR}")
        serve_simulator(APP_FACTORY, options, host, port, name="krakenflex simulator", path=BASE_PATH)


SIMULATOR = SimulatorCommand(name="krakenflex", command=krakenflex)
