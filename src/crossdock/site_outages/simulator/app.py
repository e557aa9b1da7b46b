"""A faithful fake of the KrakenFlex interview-test API (``api.yaml``), with fault injection.

Endpoints, served at the root and under :data:`BASE_PATH` (the real base path):

- ``GET /outages``: the real outages (the live capture, which holds the ``norwich-pear-tree`` ones,
  then the ``kingfisher`` example of the task README), with a few noise outages of devices that
  belong to no site inserted at random places; new noise on every call, real outages in source order;
- ``GET /site-info/{siteId}``: the packaged site-info body, byte for byte;
- ``POST /site-outages/{siteId}``: 200 with an empty body (``api.yaml`` documents no content) only
  when the JSON body equals the expected outages of that site, in order; else 400.

Every API request must carry ``x-api-key`` with the simulator's key (403 otherwise, like the real
gateway). ``too-much-too-soon`` is the real API's test hook for 429; any other unknown site is 404.
Error bodies are the captured ones verbatim. Faults, rolled from a generator seeded with ``seed``:
``latency_ms`` before any answer, ``rate_limit_rate`` (429 with ``Retry-After: <retry_after>``, see
:meth:`KrakenflexSimulator._rate_limit`) and ``error_rate`` (500, the failure the task README warns of).

Tests steer a running simulator through ``/_control`` (no API key): read state and counters, change
the faults, read (or empty) the log of received POSTs, reset. State lives in the process: run one
worker.

It must not import the capability's client side (provider, service, store): it fakes the upstream
independently of our client, so the two cannot share a mistake. Shared simulator plumbing comes from
:mod:`crossdock.simulators`.
It holds no default API key: the caller (the CLI) supplies or generates one.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Final, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from crossdock.errors import InvalidInputError
from crossdock.simulators.control import (
    ControlledSimulator,
    check_rate,
    check_whole,
    parse_options_json,
)
from crossdock.simulators.server import read_options_json

BASE_PATH: Final = "/interview-tests-mock-api/v1"
"""The real API's base path; every endpoint is also served at the root."""
API_KEY_HEADER: Final = "x-api-key"
MAX_ARRIVALS: Final = 100_000
"""How many request arrival times ``GET /_control/arrivals`` keeps (the newest)."""
API_KEY_ENV_VAR: Final = "CROSSDOCK_SIMULATOR_KRAKENFLEX_API_KEY"
"""Where ``crossdock simulate krakenflex`` reads the key when ``--api-key`` is not given."""

RATE_LIMITED_SITE: Final = "too-much-too-soon"
"""The live API answered 429 for this site id: a deliberate test hook, kept here."""

FORBIDDEN_BODY: Final = b'{"message":"Forbidden"}'
SITE_NOT_FOUND_BODY: Final = b'{"message":"Site not found"}'
RATE_LIMITED_BODY: Final = b'{"message":"You have exceeded your limit for your API key"}'
UNEXPECTED_OUTAGES_BODY: Final = b'{"message":"Unexpected outages received"}'
INTERNAL_ERROR_BODY: Final = b'{"message":"Internal server error"}'

NOISE_OUTAGES_PER_CALL: Final = (3, 8)
"""Inclusive bounds of how many noise outages each ``GET /outages`` adds."""
_NOISE_START: Final = datetime(2021, 1, 1, tzinfo=UTC)
_NOISE_SPAN_SECONDS: Final = 2 * 365 * 24 * 3600
_JSON: Final = "application/json"
# The captured answers all carry this header (the live API sits behind CloudFront with CORS open).
_COMMON_HEADERS: Final = {"access-control-allow-origin": "*"}


@dataclass(frozen=True, slots=True)
class SiteFixture:
    """The packaged data of one known site."""

    site_id: str
    site_info_file: str
    outages_file: str
    expected_outages_file: str


SITES: Final = (
    SiteFixture(
        site_id="norwich-pear-tree",
        site_info_file="site-info-norwich-pear-tree.json",
        outages_file="outages.json",
        expected_outages_file="expected-site-outages-norwich-pear-tree.json",
    ),
    SiteFixture(
        site_id="kingfisher",
        site_info_file="readme-example-site-info-kingfisher.json",
        outages_file="readme-example-outages.json",
        expected_outages_file="readme-example-expected-site-outages-kingfisher.json",
    ),
)


def load_data(name: str) -> bytes:
    """Return the bytes of a packaged KrakenFlex fixture (exact copies of the shared fixtures)."""
    return (resources.files("crossdock.site_outages.simulator") / "samples" / name).read_bytes()


def generate_api_key() -> str:
    """Return a fresh random API key (URL-safe, 43 characters)."""
    return secrets.token_urlsafe(32)


MAX_RETRY_AFTER: Final = 3600


def check_retry_after(name: str, value: object) -> int:
    return check_whole(name, value, high=MAX_RETRY_AFTER)


def _check_api_key(value: object) -> str:
    # Never echo the value: it is a secret, even a wrong one.
    if not isinstance(value, str) or not value:
        raise InvalidInputError("api_key must be a non-empty string")
    if not all("!" <= char <= "~" for char in value):
        raise InvalidInputError("api_key must be printable ASCII without spaces (it travels in a header)")
    return value


@dataclass(frozen=True, slots=True)
class KrakenflexSimulatorOptions:
    """How a KrakenFlex simulator starts; the control API can change the faults afterwards."""

    api_key: str = field(repr=False)
    """The only ``x-api-key`` value accepted. Required: there is no default key."""
    seed: int = 0
    """Seeds the noise outages and the fault rolls: same seed, same sequence."""
    error_rate: float = 0.0
    """Share of API requests answered 500."""
    latency_ms: int = 0
    """Delay before every API answer, faults included."""
    rate_limit_rate: float = 0.0
    """Share of API requests answered 429 with ``Retry-After`` (then refused until it has passed)."""
    retry_after: int = 1
    """Seconds the ``Retry-After`` of a rate-limit answer asks for."""

    def __post_init__(self) -> None:
        _check_api_key(self.api_key)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInputError(f"seed must be a whole number (got {self.seed!r})")
        check_rate("error_rate", self.error_rate)
        check_whole("latency_ms", self.latency_ms)
        check_rate("rate_limit_rate", self.rate_limit_rate)
        check_retry_after("retry_after", self.retry_after)

    def to_json(self) -> str:
        """Serialize for the server's worker process (see :func:`app_from_env`); holds the key."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse what :meth:`to_json` wrote; unknown or mistyped fields raise ``InvalidInputError``."""
        data = parse_options_json(text, {f.name for f in fields(cls)})
        if "api_key" not in data:
            raise InvalidInputError("simulator options must include api_key")
        return cls(**data)


@dataclass(slots=True)
class _LiveSettings:
    """What ``PUT /_control`` may change while the simulator runs."""

    error_rate: float
    latency_ms: int
    rate_limit_rate: float
    retry_after: int


_CONTROL_CHECKS: Final[Mapping[str, Callable[[str, object], object]]] = {
    "error_rate": check_rate,
    "latency_ms": check_whole,
    "rate_limit_rate": check_rate,
    "retry_after": check_retry_after,
}


@dataclass(slots=True)
class _Counters:
    requests: int = 0
    forbidden: int = 0
    errors: int = 0
    rate_limited: int = 0
    early_retries: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Site:
    site_info: bytes
    expected_outages: Any


class KrakenflexSimulator(ControlledSimulator):
    """The state and request handlers behind :func:`create_app`; one instance per app."""

    control_checks = _CONTROL_CHECKS
    live: _LiveSettings

    def __init__(
        self, options: KrakenflexSimulatorOptions, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.options = options
        self._clock = clock
        self._sites = {
            site.site_id: _Site(
                site_info=load_data(site.site_info_file),
                expected_outages=json.loads(load_data(site.expected_outages_file)),
            )
            for site in SITES
        }
        self._real_outages: list[dict[str, Any]] = [
            outage for site in SITES for outage in json.loads(load_data(site.outages_file))
        ]
        self._site_devices = frozenset(
            device["id"] for site in self._sites.values() for device in json.loads(site.site_info)["devices"]
        )
        self.reset()

    def reset(self) -> None:
        """Forget every change made through the control API, the POST log and the counters."""
        self.live = _LiveSettings(
            error_rate=self.options.error_rate,
            latency_ms=self.options.latency_ms,
            rate_limit_rate=self.options.rate_limit_rate,
            retry_after=self.options.retry_after,
        )
        self.counters = _Counters()
        self.posts: list[dict[str, Any]] = []
        self.arrivals: deque[float] = deque(maxlen=MAX_ARRIVALS)
        self._rng = random.Random(f"crossdock-krakenflex-simulator:{self.options.seed}")
        self._limited_until: float | None = None

    def state(self) -> dict[str, Any]:
        """Return the JSON document of ``GET /_control`` (never the key)."""
        return {
            **asdict(self.live),
            "sites": sorted(self._sites),
            "counters": {
                "requests": self.counters.requests,
                "forbidden": self.counters.forbidden,
                "errors": self.counters.errors,
                "rate_limited": self.counters.rate_limited,
                "early_retries": self.counters.early_retries,
                "posts": len(self.posts),
                "by_status": dict(self.counters.by_status),
            },
        }

    def _noise_outage(self) -> dict[str, str]:
        rng = self._rng
        while True:
            device = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if device not in self._site_devices:
                break
        begin = _NOISE_START + timedelta(milliseconds=rng.randrange(_NOISE_SPAN_SECONDS * 1000))
        end = begin + timedelta(milliseconds=rng.randrange(1, 200 * 24 * 3600 * 1000))
        return {"id": device, "begin": _timestamp(begin), "end": _timestamp(end)}

    def outages_body(self) -> bytes:
        """The body of one ``GET /outages``: real outages in source order, fresh noise among them."""
        outages = list(self._real_outages)
        for _ in range(self._rng.randint(*NOISE_OUTAGES_PER_CALL)):
            outages.insert(self._rng.randint(0, len(outages)), self._noise_outage())
        return json.dumps(outages, separators=(",", ":")).encode()

    async def _gate(self, request: Request) -> Response | None:
        """Latency, key and fault checks shared by every API endpoint; an answer stops the request."""
        self.counters.requests += 1
        self.arrivals.append(time.time())
        if self.live.latency_ms:
            await asyncio.sleep(self.live.latency_ms / 1000)
        # Starlette's headers are case-insensitive, as HTTP header names are.
        given = request.headers.get(API_KEY_HEADER, "")
        if not secrets.compare_digest(given.encode(), self.options.api_key.encode()):
            self.counters.forbidden += 1
            return _json_error(403, FORBIDDEN_BODY, {"x-amzn-errortype": "ForbiddenException"})
        limited = self._rate_limit()
        if limited is not None:
            return limited
        if self.live.error_rate > 0 and self._rng.random() < self.live.error_rate:
            self.counters.errors += 1
            return _json_error(500, INTERNAL_ERROR_BODY)
        return None

    def _rate_limit(self) -> Response | None:
        """429 with ``Retry-After`` for ``rate_limit_rate`` of the requests, like a gateway's usage plan.

        After such an answer every request is refused again until ``retry_after`` seconds have passed
        (counted in ``early_retries``, its ``Retry-After`` the seconds left); the first request after
        the wait is let through the limit, so a caller that waits as told gets in (it may still roll a
        500). With ``rate_limit_rate`` 1 every call thus meets exactly one 429 if ``Retry-After`` is
        honoured. The random roll is skipped while the rate is 0, so seeded sequences stay as they were.
        """
        now = self._clock()
        if self._limited_until is not None:
            if now < self._limited_until:
                self.counters.rate_limited += 1
                self.counters.early_retries += 1
                return _rate_limited(math.ceil(self._limited_until - now))
            self._limited_until = None
            return None
        if self.live.rate_limit_rate > 0 and self._rng.random() < self.live.rate_limit_rate:
            self._limited_until = now + self.live.retry_after
            self.counters.rate_limited += 1
            return _rate_limited(self.live.retry_after)
        return None

    def _site(self, site_id: str) -> _Site | Response:
        if site_id == RATE_LIMITED_SITE:
            return _json_error(429, RATE_LIMITED_BODY)
        site = self._sites.get(site_id)
        return site if site is not None else _json_error(404, SITE_NOT_FOUND_BODY)

    def _count(self, response: Response) -> Response:
        status = str(response.status_code)
        self.counters.by_status[status] = self.counters.by_status.get(status, 0) + 1
        return response

    async def outages(self, request: Request) -> Response:
        """``GET /outages``: every outage, real and noise."""
        refused = await self._gate(request)
        if refused is not None:
            return self._count(refused)
        return self._count(Response(self.outages_body(), media_type=_JSON, headers=_COMMON_HEADERS))

    async def site_info(self, request: Request) -> Response:
        """``GET /site-info/{siteId}``: the packaged site info, byte for byte."""
        refused = await self._gate(request)
        if refused is not None:
            return self._count(refused)
        site = self._site(request.path_params["site_id"])
        if isinstance(site, Response):
            return self._count(site)
        return self._count(Response(site.site_info, media_type=_JSON, headers=_COMMON_HEADERS))

    async def site_outages(self, request: Request) -> Response:
        """``POST /site-outages/{siteId}``: 200 only for exactly the expected outages, in order."""
        site_id: str = request.path_params["site_id"]
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        response = await self._gate(request)
        if response is None:
            site = self._site(site_id)
            if isinstance(site, Response):
                response = site
            # Compared as JSON values: key order inside an outage does not matter, list order does.
            elif body == site.expected_outages:
                response = Response(status_code=200, headers=_COMMON_HEADERS)
            else:
                response = _json_error(400, UNEXPECTED_OUTAGES_BODY)
        self.posts.append({"site_id": site_id, "body": body, "status": response.status_code})
        return self._count(response)

    async def get_posts(self, request: Request) -> Response:
        """``GET /_control/posts``: every POST received, oldest first, with the status it got."""
        return JSONResponse(self.posts)

    async def get_arrivals(self, request: Request) -> Response:
        """``GET /_control/arrivals``: when each API request arrived (wall clock, oldest first, the
        last 100,000), and the most that arrived within any one second (for rate-limit checks)."""
        times = list(self.arrivals)
        return JSONResponse({"times": times, "max_in_one_second": max_in_window(times, 1.0)})

    async def delete_posts(self, request: Request) -> Response:
        """``DELETE /_control/posts``: empty the POST log only (faults, counters and rolls go on)."""
        self.posts.clear()
        return JSONResponse(self.posts)

    async def post_reset(self, request: Request) -> Response:
        """``POST /_control/reset``: back to the start-up options; counters and POST log emptied."""
        self.reset()
        return JSONResponse(self.state())


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most of the sorted ``times`` inside any half-open window ``[t, t + window)``."""
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _rate_limited(retry_after: int) -> Response:
    return _json_error(429, RATE_LIMITED_BODY, {"retry-after": str(retry_after)})


def _json_error(status: int, body: bytes, extra_headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        body, status_code=status, media_type=_JSON, headers={**_COMMON_HEADERS, **(extra_headers or {})}
    )


def create_app(
    options: KrakenflexSimulatorOptions, *, clock: Callable[[], float] = time.monotonic
) -> ASGIApp:
    """Return the ASGI app of a KrakenFlex simulator started with ``options``; ``clock`` (monotonic
    seconds) times the rate limit's ``Retry-After`` windows, so tests can move it by hand."""
    simulator = KrakenflexSimulator(options, clock)
    api_routes = [
        route
        for prefix in ("", BASE_PATH)
        for route in (
            Route(f"{prefix}/outages", simulator.outages, methods=["GET"]),
            Route(f"{prefix}/site-info/{{site_id}}", simulator.site_info, methods=["GET"]),
            Route(f"{prefix}/site-outages/{{site_id}}", simulator.site_outages, methods=["POST"]),
        )
    ]
    app = Starlette(
        routes=[
            *api_routes,
            Route("/health", simulator.health, methods=["GET"]),
            Route("/_control", simulator.get_control, methods=["GET"]),
            Route("/_control", simulator.put_control, methods=["PUT"]),
            Route("/_control/posts", simulator.get_posts, methods=["GET"]),
            Route("/_control/posts", simulator.delete_posts, methods=["DELETE"]),
            Route("/_control/arrivals", simulator.get_arrivals, methods=["GET"]),
            Route("/_control/reset", simulator.post_reset, methods=["POST"]),
        ]
    )
    app.state.simulator = simulator
    return app


def app_from_env() -> ASGIApp:
    """App factory for server worker processes: options come as JSON from the environment."""
    return create_app(KrakenflexSimulatorOptions.from_json(read_options_json()))
