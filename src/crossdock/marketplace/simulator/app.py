"""A faithful fake of the marketplace provider's ``GET /api/events``, with fault injection.

Scenarios:

- ``samples``: the three published answers, response 1 → 2 → 3 → 1 …, one step per request served
  in full (a fault never advances the rotation);
- ``planlist``: always the ``planList`` sample (the newer naming of the same format);
- ``generated``: a deterministic feed of any size from :mod:`crossdock.marketplace.simulator.feeds`,
  built once per generation, cached as bytes and streamed; each request served in full moves to the
  next generation unless ``rotate`` is off (benchmarks want the same bytes on every call).

Faults, each rolled per request from a generator seeded with ``seed``: ``latency_ms`` before any
answer; ``down`` (every request gets 503); ``timeout_rate`` (the request is held for
``hang_seconds``, far beyond any client timeout, then gets 504, and is dropped as soon as the client
goes away); ``error_rate`` (500, 502 or 503); ``truncate_rate`` (200 with the XML cut in the middle
and a Content-Length that matches the cut body, so only the XML parser notices).

Tests and demos steer a running simulator through a JSON control API under ``/_control``: read
state and counters, change the faults, pick the next sample or generation, or serve a scripted body.
State lives in the process: run the simulator with a single worker.

It must not import the capability's client side (provider, service, store): it fakes the upstream
independently of our client, so the two cannot share a mistake. Shared simulator plumbing comes from
:mod:`crossdock.simulators`.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from typing import Any, Final, Literal, Self, get_args

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive

from crossdock.errors import InvalidInputError
from crossdock.marketplace.simulator.feeds import FeedSpec, FeedVariant
from crossdock.simulators.control import (
    ControlledSimulator,
    check_flag,
    check_rate,
    check_whole,
    control_error,
    parse_options_json,
)
from crossdock.simulators.server import read_options_json

Scenario = Literal["samples", "planlist", "generated"]
FaultKind = Literal["down", "timeout", "error", "truncate"]

SAMPLE_FILES: Final = ("response_1.xml", "response_2.xml", "response_3.xml")
PLANLIST_SAMPLE_FILE: Final = "planlist_response_1.xml"
XML_MEDIA_TYPE: Final = "application/xml"
EVENTS_PATH: Final = "/api/events"

STREAM_CHUNK_SIZE: Final = 256 * 1024
"""Bodies larger than this are sent in chunks of this size instead of one ASGI message."""

DEFAULT_HANG_SECONDS: Final = 300.0
"""How long a ``timeout`` fault holds a request: longer than any client timeout, yet bounded."""

ERROR_STATUSES: Final = (500, 502, 503)
_REASONS: Final = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_KEPT_GENERATIONS: Final = 2  # a 100 MB feed per generation: keep the current one and the one before


def load_sample(name: str) -> bytes:
    """Return the bytes of a packaged provider sample (one of :data:`SAMPLE_FILES` or the planlist one)."""
    return (resources.files("crossdock.marketplace.simulator") / "samples" / name).read_bytes()


@dataclass(frozen=True, slots=True)
class MarketplaceSimulatorOptions:
    """How a marketplace simulator starts; the control API can change the faults afterwards."""

    scenario: Scenario = "samples"
    """samples (rotating responses 1-3), planlist (the planList sample) or generated."""
    base_events: int = 100
    """generated: base events per feed."""
    sessions_per_event: int = 2
    """generated: sessions (events/plans) per base event."""
    zones_per_session: int = 3
    """generated: zones per session."""
    variant: FeedVariant = "eventlist"
    """generated: eventlist (base_event/event) or planlist (base_plan/plan) naming."""
    seed: int = 0
    """Seeds the generated feed and the fault rolls: same seed, same sequence."""
    rotate: bool = True
    """Advance the sample step / feed generation after each request served in full."""
    error_rate: float = 0.0
    """Share of requests answered 500, 502 or 503."""
    latency_ms: int = 0
    """Delay before every answer, faults included."""
    timeout_rate: float = 0.0
    """Share of requests held for ``hang_seconds`` without an answer."""
    truncate_rate: float = 0.0
    """Share of requests answered 200 with the XML cut in the middle."""
    hang_seconds: float = DEFAULT_HANG_SECONDS
    """How long a timeout fault holds the request before giving up with 504."""

    def __post_init__(self) -> None:
        if self.scenario not in get_args(Scenario):
            raise InvalidInputError(f"scenario must be one of {', '.join(get_args(Scenario))}")
        check_flag("rotate", self.rotate)
        for name in ("error_rate", "timeout_rate", "truncate_rate"):
            check_rate(name, getattr(self, name))
        check_whole("latency_ms", self.latency_ms)
        if isinstance(self.hang_seconds, bool) or not isinstance(self.hang_seconds, int | float):
            raise InvalidInputError(f"hang_seconds must be a number (got {self.hang_seconds!r})")
        if not 0 <= self.hang_seconds <= 3600:
            raise InvalidInputError(f"hang_seconds must be between 0 and 3600 (got {self.hang_seconds!r})")
        self.feed_spec()  # validates sizes, variant and seed

    def feed_spec(self) -> FeedSpec:
        """Return the generated feed these options describe (used by the ``generated`` scenario)."""
        return FeedSpec(
            base_events=self.base_events,
            sessions_per_event=self.sessions_per_event,
            zones_per_session=self.zones_per_session,
            variant=self.variant,
            seed=self.seed,
        )

    def to_json(self) -> str:
        """Serialize for the server's worker processes (see :func:`app_from_env`)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse what :meth:`to_json` wrote; unknown or mistyped fields raise ``InvalidInputError``."""
        data = parse_options_json(text, {f.name for f in fields(cls)})
        return cls(**data)


@dataclass(slots=True)
class _Counters:
    requests: int = 0
    served: int = 0
    faults: dict[FaultKind, int] = field(default_factory=lambda: dict.fromkeys(get_args(FaultKind), 0))


@dataclass(slots=True)
class _LiveSettings:
    """What ``PUT /_control`` may change while the simulator runs."""

    error_rate: float
    latency_ms: int
    timeout_rate: float
    truncate_rate: float
    rotate: bool
    down: bool = False
    step: int = 0
    generation: int = 0

    @classmethod
    def from_options(cls, options: MarketplaceSimulatorOptions) -> Self:
        return cls(
            error_rate=options.error_rate,
            latency_ms=options.latency_ms,
            timeout_rate=options.timeout_rate,
            truncate_rate=options.truncate_rate,
            rotate=options.rotate,
        )


_CONTROL_CHECKS: Final[Mapping[str, Callable[[str, object], object]]] = {
    "error_rate": check_rate,
    "timeout_rate": check_rate,
    "truncate_rate": check_rate,
    "latency_ms": check_whole,
    "down": check_flag,
    "rotate": check_flag,
    "step": lambda name, value: check_whole(name, value, high=len(SAMPLE_FILES) - 1),
    "generation": check_whole,
}


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class MarketplaceSimulator(ControlledSimulator):
    """The state and request handlers behind :func:`create_app`; one instance per app."""

    control_checks = _CONTROL_CHECKS
    live: _LiveSettings

    def __init__(self, options: MarketplaceSimulatorOptions) -> None:
        self.options = options
        self._samples = tuple(load_sample(name) for name in SAMPLE_FILES)
        self._planlist = load_sample(PLANLIST_SAMPLE_FILE)
        self._spec = options.feed_spec()
        self._feeds: dict[int, bytes] = {}
        self._feed_lock = asyncio.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every change made through the control API and zero the counters."""
        self.live = _LiveSettings.from_options(self.options)
        self.counters = _Counters()
        self.feed_override: bytes | None = None
        self._rng = random.Random(f"crossdock-simulator:{self.options.seed}")

    def state(self) -> dict[str, Any]:
        """Return the JSON document of ``GET /_control``."""
        return {
            "scenario": self.options.scenario,
            "variant": self.options.variant,
            **asdict(self.live),
            "feed_override": self.feed_override is not None,
            "counters": {
                "requests": self.counters.requests,
                "served": self.counters.served,
                "faults": dict(self.counters.faults),
            },
        }

    async def warm_up(self) -> None:
        """Build the first generated feed before the first request asks for it."""
        if self.options.scenario == "generated":
            await self._generated(self.live.generation)

    async def _generated(self, generation: int) -> bytes:
        async with self._feed_lock:
            body = self._feeds.get(generation)
            if body is None:
                # Generation takes seconds for big feeds: keep the event loop answering meanwhile.
                body = await run_in_threadpool(self._spec.render, generation)
                self._feeds[generation] = body
                for old in sorted(self._feeds)[:-_KEPT_GENERATIONS]:
                    del self._feeds[old]
            return body

    def _next_body(self, *, advance: bool) -> bytes | int:
        """Return the body a full answer serves now, or the feed generation to build for it.

        With ``advance`` the rotation moves on; no await happens between reading and advancing, so
        concurrent requests never serve the same step twice or skip one.
        """
        if self.feed_override is not None:
            return self.feed_override
        live = self.live
        if self.options.scenario == "planlist":
            return self._planlist
        if self.options.scenario == "samples":
            step = live.step
            if advance and live.rotate:
                live.step = (step + 1) % len(SAMPLE_FILES)
            return self._samples[step]
        generation = live.generation
        if advance and live.rotate:
            live.generation = generation + 1
        return generation

    async def _resolve(self, body: bytes | int) -> bytes:
        return body if isinstance(body, bytes) else await self._generated(body)

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def _fault(self, kind: FaultKind) -> None:
        self.counters.faults[kind] += 1

    async def events(self, request: Request) -> Response:
        """``GET /api/events``: the feed, or a fault."""
        self.counters.requests += 1
        live = self.live
        if live.latency_ms:
            await asyncio.sleep(live.latency_ms / 1000)
        if live.down:
            self._fault("down")
            return _error_response(503)
        if self._roll(live.timeout_rate):
            self._fault("timeout")
            return await self._hang(request)
        if self._roll(live.error_rate):
            self._fault("error")
            return _error_response(self._rng.choice(ERROR_STATUSES))
        if self._roll(live.truncate_rate):
            self._fault("truncate")
            # A truncated answer is a fault: read what would be served without advancing.
            body = await self._resolve(self._next_body(advance=False))
            cut = self._rng.randint(len(body) // 4, max(len(body) // 4, (3 * len(body)) // 4))
            return _xml_response(body[:cut])
        body = await self._resolve(self._next_body(advance=True))
        self.counters.served += 1
        return _xml_response(body)

    async def _hang(self, request: Request) -> Response:
        """Hold the request for ``hang_seconds``, or until the client goes away or the task is cancelled.

        A server shutting down waits for held requests; ``serve_simulator`` bounds that wait.
        """
        waits = [
            asyncio.ensure_future(asyncio.sleep(self.options.hang_seconds)),
            asyncio.ensure_future(_wait_for_disconnect(request.receive)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return _error_response(504)

    async def put_feed(self, request: Request) -> Response:
        """``PUT /_control/feed``: serve exactly this body (faults still apply) until it is deleted."""
        body = await request.body()
        if not body:
            return control_error("the body must be the XML to serve")
        self.feed_override = body
        return JSONResponse(self.state())

    async def delete_feed(self, request: Request) -> Response:
        """``DELETE /_control/feed``: go back to the scenario's feed."""
        self.feed_override = None
        return JSONResponse(self.state())

    async def post_reset(self, request: Request) -> Response:
        """``POST /_control/reset``: back to the start-up options, counters zeroed."""
        self.reset()
        return JSONResponse(self.state())


def _xml_response(body: bytes) -> Response:
    if len(body) <= STREAM_CHUNK_SIZE:
        return Response(body, media_type=XML_MEDIA_TYPE)

    async def chunks() -> AsyncIterator[bytes]:
        view = memoryview(body)
        for start in range(0, len(body), STREAM_CHUNK_SIZE):
            yield bytes(view[start : start + STREAM_CHUNK_SIZE])

    return StreamingResponse(chunks(), media_type=XML_MEDIA_TYPE, headers={"content-length": str(len(body))})


def _error_response(status: int) -> Response:
    # Shaped like a reverse proxy's error page, which is what a failing provider usually returns.
    reason = _REASONS[status]
    title = f"{status} {reason}"
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
    headers = {"retry-after": "1"} if status == 503 else None
    return Response(page, status_code=status, media_type="text/html", headers=headers)


def create_app(options: MarketplaceSimulatorOptions | None = None) -> ASGIApp:
    """Return the ASGI app of a marketplace simulator started with ``options``."""
    simulator = MarketplaceSimulator(options or MarketplaceSimulatorOptions())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await simulator.warm_up()
        yield

    app = Starlette(
        routes=[
            Route(EVENTS_PATH, simulator.events, methods=["GET"]),
            Route("/health", simulator.health, methods=["GET"]),
            Route("/_control", simulator.get_control, methods=["GET"]),
            Route("/_control", simulator.put_control, methods=["PUT"]),
            Route("/_control/feed", simulator.put_feed, methods=["PUT"]),
            Route("/_control/feed", simulator.delete_feed, methods=["DELETE"]),
            Route("/_control/reset", simulator.post_reset, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.simulator = simulator
    return app


def app_from_env() -> ASGIApp:
    """App factory for server worker processes: options come as JSON from the environment."""
    return create_app(MarketplaceSimulatorOptions.from_json(read_options_json()))
