"""A faithful fake of a demand-side platform (DSP) API: rate limit per key, asynchronous processing, faults.

The contract (``docs/submissions-simulator.md`` is the reference):

- ``Authorization: Bearer <key>`` with one of the configured keys, else 401 ``{"error": "unauthorized"}``;
- ``POST /v1/campaigns``, ``/v1/ad-groups``, ``/v1/ads`` with an ``Idempotency-Key`` header answer 202
  ``{"id", "status": "Not Started"}``; the same key with the same body answers the same entity again,
  with another body 422; an unknown parent 404, a parent not ``Completed`` 409, a malformed body 400;
- ``GET /v1/{campaigns,ad-groups,ads}/{id}`` and ``GET /v1/statuses?ids=…`` read ``{id, status,
  error_message?}``; the status moves ``Not Started`` → ``In Progress`` → ``Completed`` | ``Error`` as
  the (simulated) clock passes ``processing_seconds``; it is computed when read, nothing runs behind;
- at most ``limit`` accepted requests per key in any sliding ``window``; the excess gets 429 with
  ``Retry-After`` and has no effect; every API answer but a 401 carries ``X-RateLimit-*``;
- faults, rolled from a generator seeded with ``seed``: ``error_rate`` (500/502/503 without effect),
  ``drop_after_commit_rate`` (a POST's effect is committed, then the connection is closed before the
  body), ``validation_error_rate`` (entities ending ``Error`` with a realistic message).

Times: ``clock`` gives real monotonic seconds; ``time_scale`` simulated seconds pass per real second,
so the window and the processing last ``window / time_scale`` and ``processing_seconds / time_scale``
real seconds, and every header carrying a duration (``Retry-After``, ``X-RateLimit-Reset``) gives real
seconds.

Tests and the proof of the submission engine read what it counted on ``/_control`` (no key): requests
per key (by key id, never the key), 429s, entities created, duplicate entities, requests over the limit.
State lives in the process: run one worker.

It must not import the capability's client side (provider, service, store): it fakes the upstream
independently of our client, so the two cannot share a mistake. It holds no default API key.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, Final, Literal, Self, get_args

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crossdock.errors import InvalidInputError
from crossdock.simulators.control import (
    ControlledSimulator,
    check_rate,
    check_whole,
    parse_options_json,
)
from crossdock.simulators.server import read_options_json

API_KEYS_ENV_VAR: Final = "CROSSDOCK_SIMULATOR_DSP_API_KEYS"
"""Comma-separated keys ``crossdock simulate dsp`` accepts when no ``--api-key`` is given."""
IDEMPOTENCY_HEADER: Final = "idempotency-key"
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255
MAX_STATUS_IDS: Final = 100
MAX_BODY_BYTES: Final = 64 * 1024
MAX_ARRIVALS: Final = 100_000
"""How many arrival times per key and per outcome ``GET /_control/arrivals`` keeps (the newest)."""
MAX_LIMIT: Final = 1_000_000
MAX_SECONDS: Final = 86_400.0
MAX_TIME_SCALE: Final = 10_000.0
ERROR_STATUSES: Final = (500, 502, 503)
BAD_GATEWAY_PAGE: Final = (
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n"
)
FAULT_RETRY_AFTER_SECONDS: Final = 1.0
"""Simulated seconds a faulted 503 asks the client to wait."""

Kind = Literal["campaigns", "ad_groups", "ads"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
Status = Literal["Not Started", "In Progress", "Completed", "Error"]
NOT_STARTED: Final[Status] = "Not Started"
IN_PROGRESS: Final[Status] = "In Progress"
COMPLETED: Final[Status] = "Completed"
ERROR: Final[Status] = "Error"
STATUSES: Final[tuple[Status, ...]] = get_args(Status)

AD_TYPES: Final = frozenset({"banner", "video", "native", "audio", "carousel", "text"})
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_AGE_RANGE: Final = re.compile(r"(\d{1,3})(?:-(\d{1,3})|\+)")
_MIN_AGE: Final = 13
_MAX_AGE: Final = 120


def key_id(api_key: str) -> str:
    """The id under which ``/_control`` counts a key: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


# -- options ----------------------------------------------------------------------------------------


def _check_api_key(value: object) -> str:
    # Never echo the value: it is a secret, even a wrong one.
    if not isinstance(value, str) or not value:
        raise InvalidInputError("api_keys must hold non-empty strings")
    if not all("!" <= char <= "~" for char in value):
        raise InvalidInputError("an API key must be printable ASCII without spaces (it travels in a header)")
    return value


def _check_seconds(name: str, value: object, *, low: float, low_included: bool, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a number (got {value!r})")
    if value > high or value < low or (value == low and not low_included):
        relation = "at least" if low_included else "more than"
        raise InvalidInputError(f"{name} must be {relation} {low:g} and at most {high:g} (got {value!r})")
    return float(value)


def check_processing_seconds(name: str, value: object) -> float:
    return _check_seconds(name, value, low=0.0, low_included=True, high=MAX_SECONDS)


@dataclass(frozen=True, slots=True)
class DspSimulatorOptions:
    """How a DSP simulator starts; ``PUT /_control`` can change the faults and the processing time."""

    api_keys: tuple[str, ...] = field(repr=False)
    """The bearer keys accepted, one account each. Required: there are no default keys."""
    limit: int = 40
    """Requests per key accepted in any sliding window."""
    window: float = 60.0
    """Length of the sliding window, in simulated seconds."""
    time_scale: float = 1.0
    """Simulated seconds per real second (window, processing and Retry-After shrink by it)."""
    processing_seconds: float = 2.0
    """Simulated seconds from creation to Completed/Error (In Progress from half of it)."""
    error_rate: float = 0.0
    """Share of accepted API requests answered 500, 502 or 503, without effect."""
    drop_after_commit_rate: float = 0.0
    """Share of 202 POST answers whose connection is closed after the effect, before the body."""
    validation_error_rate: float = 0.0
    """Share of otherwise valid new entities that end in Error with a realistic message."""
    seed: int = 0
    """Seeds the fault rolls and the ids: same seed and requests, same answers."""

    def __post_init__(self) -> None:
        if isinstance(self.api_keys, str) or not isinstance(self.api_keys, tuple | list):
            raise InvalidInputError("api_keys must be a list of keys")
        if not self.api_keys:
            raise InvalidInputError("at least one API key is required (there are no default keys)")
        keys = tuple(dict.fromkeys(_check_api_key(key) for key in self.api_keys))
        object.__setattr__(self, "api_keys", keys)
        check_whole("limit", self.limit, low=1, high=MAX_LIMIT)
        for name, high in (("window", MAX_SECONDS), ("time_scale", MAX_TIME_SCALE)):
            value = _check_seconds(name, getattr(self, name), low=0.0, low_included=False, high=high)
            object.__setattr__(self, name, value)
        processing = check_processing_seconds("processing_seconds", self.processing_seconds)
        object.__setattr__(self, "processing_seconds", processing)
        for name in ("error_rate", "drop_after_commit_rate", "validation_error_rate"):
            object.__setattr__(self, name, check_rate(name, getattr(self, name)))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInputError(f"seed must be a whole number (got {self.seed!r})")

    def to_json(self) -> str:
        """Serialize for the server's worker process (see :func:`app_from_env`); holds the keys."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["api_keys"] = list(self.api_keys)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse what :meth:`to_json` wrote; unknown or mistyped fields raise ``InvalidInputError``."""
        data = parse_options_json(text, {f.name for f in fields(cls)})
        keys = data.pop("api_keys", None)
        if not isinstance(keys, list):
            raise InvalidInputError("simulator options must include api_keys, a list")
        return cls(api_keys=tuple(keys), **data)


# -- request bodies ---------------------------------------------------------------------------------

FieldCheck = Callable[[str, object], str | None]


def _text(name: str, value: object) -> str | None:
    return None if isinstance(value, str) and value.strip() else f"{name} must be a non-empty string"


def _number(name: str, value: object) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return None if ok else f"{name} must be a number"


def _date(name: str, value: object) -> str | None:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return None
    return f"{name} must be a date (YYYY-MM-DD)"


def _strings(name: str, value: object) -> str | None:
    ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    return None if ok else f"{name} must be a list of strings"


def _check_object(body: object, checks: Mapping[str, FieldCheck], *, prefix: str = "") -> str | None:
    """The first problem of a JSON object against its fields' checks, or None (no field missing or extra)."""
    if not isinstance(body, dict):
        return f"{prefix.rstrip('.') or 'the body'} must be a JSON object"
    missing = [name for name in checks if name not in body]
    if missing:
        return f"missing field: {prefix}{missing[0]}"
    unknown = sorted(name for name in body if name not in checks)
    if unknown:
        return f"unknown field: {prefix}{unknown[0]}"
    for name, check in checks.items():
        problem = check(f"{prefix}{name}", body[name])
        if problem is not None:
            return problem
    return None


_TARGETING_FIELDS: Final[Mapping[str, FieldCheck]] = {
    "ages": _strings,
    "interests": _strings,
    "geo": _strings,
}


def _targeting(name: str, value: object) -> str | None:
    return _check_object(value, _TARGETING_FIELDS, prefix=f"{name}.")


def _is_web_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and len(value.split("://", 1)[1]) > 0


def _age_range_problem(ages: list[str]) -> str | None:
    for item in ages:
        match = _AGE_RANGE.fullmatch(item.strip())
        low = int(match.group(1)) if match else -1
        high = int(match.group(2)) if match and match.group(2) else _MAX_AGE
        if not match or not _MIN_AGE <= low <= high <= _MAX_AGE:
            return f"Invalid age range: {item}"
    return None


def _campaign_problem(body: dict[str, Any]) -> str | None:
    if body["budget"] <= 0:
        return f"Budget must be greater than 0 (got {body['budget']})"
    if date.fromisoformat(body["end_date"]) < date.fromisoformat(body["start_date"]):
        return f"End date {body['end_date']} is before start date {body['start_date']}"
    return None


def _ad_group_problem(body: dict[str, Any]) -> str | None:
    if body["bid"] <= 0:
        return f"Bid must be greater than 0 (got {body['bid']})"
    return _age_range_problem(body["targeting"]["ages"])


def _ad_problem(body: dict[str, Any]) -> str | None:
    if body["type"] not in AD_TYPES:
        return f"Unsupported ad type: {body['type']}"
    if not _is_web_url(body["creative_url"]):
        return f"Creative URL unreachable: {body['creative_url']}"
    if not _is_web_url(body["click_url"]):
        return f"Invalid click URL: {body['click_url']}"
    return None


def _first_geo(body: dict[str, Any]) -> str:
    geo: list[str] = body["targeting"]["geo"]
    return geo[0] if geo else "XX"


@dataclass(frozen=True, slots=True)
class _KindSpec:
    """What differs between campaigns, ad groups and ads."""

    kind: Kind
    noun: str
    id_prefix: str
    fields: Mapping[str, FieldCheck]
    parent_field: str | None
    parent_kind: Kind | None
    identity: Callable[[dict[str, Any]], tuple[str | None, ...]]
    """What makes two entities the same logical node (see ``duplicates`` in the docs)."""
    problem: Callable[[dict[str, Any]], str | None]
    """Deterministic validation: the Error message a body always ends with, or None."""
    random_errors: tuple[Callable[[dict[str, Any]], str], ...]
    """Messages of ``validation_error_rate`` errors, one picked at random."""


SPECS: Final[Mapping[Kind, _KindSpec]] = {
    "campaigns": _KindSpec(
        kind="campaigns",
        noun="campaign",
        id_prefix="cmp_",
        fields={
            "name": _text,
            "budget": _number,
            "start_date": _date,
            "end_date": _date,
            "objective": _text,
        },
        parent_field=None,
        parent_kind=None,
        identity=lambda body: (None, body["name"]),
        problem=_campaign_problem,
        random_errors=(
            lambda body: "Budget below account minimum of 100.00",
            lambda body: f"Objective not available for this account: {body['objective']}",
            lambda body: f"Flight dates overlap a blackout period: {body['start_date']}",
        ),
    ),
    "ad_groups": _KindSpec(
        kind="ad_groups",
        noun="ad group",
        id_prefix="adg_",
        fields={"campaign_id": _text, "name": _text, "bid": _number, "targeting": _targeting},
        parent_field="campaign_id",
        parent_kind="campaigns",
        identity=lambda body: (body["campaign_id"], body["name"]),
        problem=_ad_group_problem,
        random_errors=(
            lambda body: "Invalid IP range: 192.168.1.256",
            lambda body: "Bid below floor price",
            lambda body: f"Unknown geo target: {_first_geo(body)}",
        ),
    ),
    "ads": _KindSpec(
        kind="ads",
        noun="ad",
        id_prefix="ad_",
        fields={"ad_group_id": _text, "type": _text, "creative_url": _text, "click_url": _text},
        parent_field="ad_group_id",
        parent_kind="ad_groups",
        identity=lambda body: (body["ad_group_id"], body["creative_url"], body["click_url"]),
        problem=_ad_problem,
        random_errors=(
            lambda body: f"Creative URL unreachable: {body['creative_url']}",
            lambda body: "Creative dimensions not supported: expected 300x250, 728x90 or 160x600",
            lambda body: "Click URL failed brand-safety review",
        ),
    ),
}


# -- state ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entity:
    id: str
    kind: Kind
    account: str
    created_at: float
    processing: float
    """Real seconds from creation to the outcome."""
    outcome: Status
    error_message: str | None

    def status(self, now: float) -> Status:
        elapsed = now - self.created_at
        if elapsed >= self.processing:
            return self.outcome
        return IN_PROGRESS if elapsed >= self.processing / 2 else NOT_STARTED

    def view(self, now: float) -> dict[str, str]:
        status = self.status(now)
        shown = {"id": self.id, "status": status}
        if status == ERROR and self.error_message is not None:
            shown["error_message"] = self.error_message
        return shown


@dataclass(frozen=True, slots=True)
class _Recorded:
    """What an idempotency key was first used for."""

    kind: Kind
    body: Any
    entity_id: str


@dataclass(slots=True)
class _Account:
    """One API key's sliding window and counts."""

    key_id: str
    window: deque[float] = field(default_factory=deque)
    """Real arrival times of the accepted requests still inside the window, oldest first."""
    accepted: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_ARRIVALS))
    rejected: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_ARRIVALS))
    requests: int = 0
    rate_limited: int = 0
    max_in_window: int = 0


@dataclass(slots=True)
class _LiveSettings:
    """What ``PUT /_control`` may change while the simulator runs."""

    error_rate: float
    drop_after_commit_rate: float
    validation_error_rate: float
    processing_seconds: float


_CONTROL_CHECKS: Final[Mapping[str, Callable[[str, object], object]]] = {
    "error_rate": check_rate,
    "drop_after_commit_rate": check_rate,
    "validation_error_rate": check_rate,
    "processing_seconds": check_processing_seconds,
}


@dataclass(slots=True)
class _Counters:
    requests: int = 0
    unauthorized: int = 0
    rate_limited: int = 0
    over_limit: int = 0
    errors: dict[str, int] = field(default_factory=lambda: {str(status): 0 for status in ERROR_STATUSES})
    dropped: int = 0
    replayed: int = 0
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    duplicates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    by_status: dict[str, int] = field(default_factory=dict)


Answer = tuple[Response, bool]
"""A handler's response, and whether its connection is to be dropped after the effect."""
Handler = Callable[[Request, _Account, float], Awaitable[Answer]]


class DspSimulator(ControlledSimulator):
    """The state and request handlers behind :func:`create_app`; one instance per app."""

    control_checks = _CONTROL_CHECKS
    live: _LiveSettings

    def __init__(self, options: DspSimulatorOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self._clock = clock
        self._keys = {key_id(key): key.encode() for key in options.api_keys}
        self._window = options.window / options.time_scale
        self.reset()

    def reset(self) -> None:
        """Back to the start-up options: no entity, no idempotency key, empty windows, zero counters."""
        options = self.options
        self.live = _LiveSettings(
            error_rate=options.error_rate,
            drop_after_commit_rate=options.drop_after_commit_rate,
            validation_error_rate=options.validation_error_rate,
            processing_seconds=options.processing_seconds,
        )
        self.counters = _Counters()
        self.accounts = {ident: _Account(ident) for ident in self._keys}
        self.entities: dict[str, _Entity] = {}
        self._recorded: dict[tuple[str, str], _Recorded] = {}
        self._identities: dict[tuple[str | None, ...], list[str]] = {}
        self._rng = random.Random(f"crossdock-dsp-simulator:{options.seed}")
        self._ids = random.Random(f"crossdock-dsp-simulator-ids:{options.seed}")
        self._started = self._clock()

    # -- control --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Return the JSON document of ``GET /_control`` (key ids, never a key)."""
        now = self._clock()
        statuses = dict.fromkeys(STATUSES, 0)
        for entity in self.entities.values():
            statuses[entity.status(now)] += 1
        counters = self.counters
        return {
            "limit": self.options.limit,
            "window": self.options.window,
            "time_scale": self.options.time_scale,
            "seed": self.options.seed,
            "keys": sorted(self._keys),
            "error_rate": self.live.error_rate,
            "drop_after_commit_rate": self.live.drop_after_commit_rate,
            "validation_error_rate": self.live.validation_error_rate,
            "processing_seconds": self.live.processing_seconds,
            "counters": {
                "requests": counters.requests,
                "unauthorized": counters.unauthorized,
                "rate_limited": counters.rate_limited,
                "over_limit": counters.over_limit,
                "errors": dict(counters.errors),
                "dropped": counters.dropped,
                "replayed": counters.replayed,
                "created": dict(counters.created),
                "duplicates": dict(counters.duplicates),
                "statuses": statuses,
                "by_status": dict(sorted(counters.by_status.items())),
                "by_key": {
                    ident: {
                        "requests": account.requests,
                        "rate_limited": account.rate_limited,
                        "max_in_window": account.max_in_window,
                    }
                    for ident, account in sorted(self.accounts.items())
                },
            },
        }

    async def get_arrivals(self, request: Request) -> Response:
        """``GET /_control/arrivals``: per key id, when accepted and rate-limited requests arrived."""
        return JSONResponse(
            {
                "window_seconds": self._window,
                "by_key": {
                    ident: {"accepted": list(account.accepted), "rejected": list(account.rejected)}
                    for ident, account in sorted(self.accounts.items())
                },
            }
        )

    async def get_duplicates(self, request: Request) -> Response:
        """``GET /_control/duplicates``: every logical node held by more than one entity."""
        groups = [
            {"kind": identity[1], "key_id": identity[0], "identity": list(identity[2:]), "ids": ids}
            for identity, ids in self._identities.items()
            if len(ids) > 1
        ]
        return JSONResponse(groups)

    async def post_reset(self, request: Request) -> Response:
        """``POST /_control/reset``: back to the start-up options, everything forgotten."""
        self.reset()
        return JSONResponse(self.state())

    # -- the gate every API request passes --------------------------------------------------------

    def api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Wrap ``handler`` in the key check, the rate limit, the fault rolls and the counters."""

        async def endpoint(request: Request) -> Response:
            return await self._serve(request, handler)

        return endpoint

    async def _serve(self, request: Request, handler: Handler) -> Response:
        self.counters.requests += 1
        account = self._authenticate(request)
        if account is None:
            self.counters.unauthorized += 1
            return self._sent(_error(401, "unauthorized"))
        now = self._clock()
        account.requests += 1
        admitted = self._admit(account, now)
        # Taken at admission: the state this request saw, whatever runs while its body is read.
        limit_headers = self._limit_headers(account, now)
        drop = False
        if not admitted:
            response = self._too_many_requests(account, now)
        elif self._roll(self.live.error_rate):
            response = self._fault()
        else:
            response, drop = await handler(request, account, now)
        response.headers.update(limit_headers)
        if drop:
            self.counters.dropped += 1
            return _DroppedAnswer(response)
        return self._sent(response)

    def _authenticate(self, request: Request) -> _Account | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        given = token.strip().encode(errors="replace")
        found = None
        for ident, key in self._keys.items():  # every key compared: the time says nothing about which
            if secrets.compare_digest(given, key):
                found = ident
        return None if found is None else self.accounts[found]

    def _admit(self, account: _Account, now: float) -> bool:
        """Count the request in its key's sliding window, unless the window is full."""
        window = account.window
        while window and window[0] + self._window <= now:
            window.popleft()
        if len(window) >= self.options.limit:
            account.rate_limited += 1
            self.counters.rate_limited += 1
            # Every request arriving at a full window is one over the limit: the proof wants none.
            self.counters.over_limit += 1
            account.rejected.append(now - self._started)
            return False
        window.append(now)
        account.accepted.append(now - self._started)
        account.max_in_window = max(account.max_in_window, len(window))
        return True

    def _until_slot(self, account: _Account, now: float) -> float:
        """Real seconds until the oldest request in the window leaves it (0 for an empty window)."""
        return max(0.0, account.window[0] + self._window - now) if account.window else 0.0

    def _limit_headers(self, account: _Account, now: float) -> dict[str, str]:
        reset = self._until_slot(account, now)
        return {
            "x-ratelimit-limit": str(self.options.limit),
            "x-ratelimit-remaining": str(self.options.limit - len(account.window)),
            "x-ratelimit-reset": str(_whole_up(reset)),
            "x-ratelimit-reset-ms": str(_whole_up(reset * 1000)),
        }

    def _too_many_requests(self, account: _Account, now: float) -> Response:
        wait = self._until_slot(account, now)
        limit, window = self.options.limit, self.options.window
        message = f"rate limit exceeded: at most {limit} requests per {window:g} seconds"
        return _error(429, message, _retry_after_headers(wait))

    def _fault(self) -> Response:
        status = self._rng.choice(ERROR_STATUSES)
        self.counters.errors[str(status)] += 1
        if status == 502:
            # What a load balancer in front of the API sends: HTML, not the API's JSON.
            return Response(BAD_GATEWAY_PAGE, status_code=502, media_type="text/html")
        if status == 503:
            wait = FAULT_RETRY_AFTER_SECONDS / self.options.time_scale
            return _error(503, "service unavailable", _retry_after_headers(wait))
        return _error(500, "internal server error")

    def _roll(self, rate: float) -> bool:
        # No roll at rate 0: turning one fault on leaves the sequences of the others as they were.
        return rate > 0 and self._rng.random() < rate

    def _sent(self, response: Response) -> Response:
        status = str(response.status_code)
        self.counters.by_status[status] = self.counters.by_status.get(status, 0) + 1
        return response

    # -- the API ----------------------------------------------------------------------------------

    def creator(self, kind: Kind) -> Handler:
        """The handler of ``POST /v1/<kind>``."""

        async def create(request: Request, account: _Account, now: float) -> Answer:
            return await self._create(request, account, now, SPECS[kind])

        return create

    def reader(self, kind: Kind) -> Handler:
        """The handler of ``GET /v1/<kind>/{entity_id}``."""

        async def read(request: Request, account: _Account, now: float) -> Answer:
            spec = SPECS[kind]
            entity_id: str = request.path_params["entity_id"]
            entity = self._owned(entity_id, kind, account)
            if entity is None:
                return _error(404, f"{spec.noun} not found: {entity_id}"), False
            return JSONResponse(entity.view(now)), False

        return read

    async def statuses(self, request: Request, account: _Account, now: float) -> Answer:
        """``GET /v1/statuses?ids=a,b``: the statuses of the caller's entities, in the order asked."""
        asked = [
            part.strip()
            for value in request.query_params.getlist("ids")
            for part in value.split(",")
            if part.strip()
        ]
        if not asked:
            return _error(400, "ids is required: ?ids=ID1,ID2,..."), False
        if len(asked) > MAX_STATUS_IDS:
            return _error(400, f"at most {MAX_STATUS_IDS} ids per request (got {len(asked)})"), False
        views = []
        for entity_id in dict.fromkeys(asked):
            entity = self._owned(entity_id, None, account)
            if entity is not None:
                views.append(entity.view(now))
        return JSONResponse(views), False

    def _owned(self, entity_id: object, kind: Kind | None, account: _Account) -> _Entity | None:
        """The entity of that id and kind (any kind if None) created with ``account``'s key, or None."""
        entity = self.entities.get(entity_id) if isinstance(entity_id, str) else None
        if entity is None or entity.account != account.key_id or (kind is not None and entity.kind != kind):
            return None
        return entity

    async def _create(self, request: Request, account: _Account, now: float, spec: _KindSpec) -> Answer:
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        if not key:
            return _error(400, "the Idempotency-Key header is required"), False
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            message = f"the Idempotency-Key header must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            return _error(400, f"{message} (got {len(key)})"), False
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _error(400, f"the body must be at most {MAX_BODY_BYTES} bytes"), False
        try:
            body: Any = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            return _error(400, "the body is not valid JSON"), False
        problem = _check_object(body, spec.fields)
        if problem is not None:
            return _error(400, problem), False
        # Nothing awaits from here on: lookup and creation are one step for concurrent requests.
        recorded = self._recorded.get((account.key_id, key))
        if recorded is not None:
            if recorded.kind != spec.kind or recorded.body != body:
                return _error(422, "this Idempotency-Key was already used with a different request"), False
            self.counters.replayed += 1
            entity = self.entities[recorded.entity_id]
            return _accepted(entity.id, entity.status(now), replayed=True), self._drop()
        if spec.parent_field is not None and spec.parent_kind is not None:
            parent_id = body[spec.parent_field]
            parent = self._owned(parent_id, spec.parent_kind, account)
            parent_noun = SPECS[spec.parent_kind].noun
            if parent is None:
                return _error(404, f"{parent_noun} not found: {parent_id}"), False
            parent_status = parent.status(now)
            if parent_status != COMPLETED:
                message = f"{parent_noun} {parent_id} is {parent_status}, not Completed"
                return _error(409, message), False
        entity = self._new_entity(spec, account, body, now)
        self._recorded[(account.key_id, key)] = _Recorded(spec.kind, body, entity.id)
        return _accepted(entity.id, NOT_STARTED, replayed=False), self._drop()

    def _drop(self) -> bool:
        return self._roll(self.live.drop_after_commit_rate)

    def _new_entity(self, spec: _KindSpec, account: _Account, body: dict[str, Any], now: float) -> _Entity:
        entity_id = f"{spec.id_prefix}{self._ids.getrandbits(64):016x}"
        while entity_id in self.entities:
            entity_id = f"{spec.id_prefix}{self._ids.getrandbits(64):016x}"
        message = spec.problem(body)
        if message is None and self._roll(self.live.validation_error_rate):
            message = self._rng.choice(spec.random_errors)(body)
        entity = _Entity(
            id=entity_id,
            kind=spec.kind,
            account=account.key_id,
            created_at=now,
            processing=self.live.processing_seconds / self.options.time_scale,
            outcome=COMPLETED if message is None else ERROR,
            error_message=message,
        )
        self.entities[entity_id] = entity
        self.counters.created[spec.kind] += 1
        same_node = self._identities.setdefault((account.key_id, spec.kind, *spec.identity(body)), [])
        if same_node:
            self.counters.duplicates[spec.kind] += 1
        same_node.append(entity_id)
        return entity


class _DroppedAnswer(Response):
    """The head of ``answer``, then the connection closes before the body: a lost answer.

    An ASGI app cannot close a socket. Granian (and uvicorn) buffer the head until the first body
    message and turn an app that fails before it into a 500, a visible answer; an app that returns
    after an unfinished body makes both close the connection with the body missing, which the client
    sees as a transport error (httpx: ``RemoteProtocolError``) and never as an answer.
    """

    def __init__(self, answer: Response) -> None:
        super().__init__(status_code=answer.status_code)
        self.raw_headers = list(answer.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b"", "more_body": True})


def _whole_up(value: float) -> int:
    # Rounded to nanoseconds first, so 0.3 / 0.1-style float noise does not add a whole unit.
    return math.ceil(round(value, 9))


def _retry_after_headers(wait: float) -> dict[str, str]:
    """``Retry-After`` in whole real seconds (at least 1) and the exact wait in real milliseconds."""
    return {
        "retry-after": str(max(1, _whole_up(wait))),
        "x-retry-after-ms": str(max(1, _whole_up(wait * 1000))),
    }


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def _accepted(entity_id: str, status: Status, *, replayed: bool) -> Response:
    headers = {"idempotent-replayed": "true"} if replayed else None
    return JSONResponse({"id": entity_id, "status": status}, status_code=202, headers=headers)


def create_app(options: DspSimulatorOptions, *, clock: Callable[[], float] = time.monotonic) -> ASGIApp:
    """Return the ASGI app of a DSP simulator started with ``options``; ``clock`` (real monotonic
    seconds) times the windows and the processing, so tests can move it by hand."""
    simulator = DspSimulator(options, clock)
    paths: Mapping[Kind, str] = {"campaigns": "campaigns", "ad_groups": "ad-groups", "ads": "ads"}
    api_routes = [
        route
        for kind, path in paths.items()
        for route in (
            Route(f"/v1/{path}", simulator.api(simulator.creator(kind)), methods=["POST"]),
            Route(f"/v1/{path}/{{entity_id}}", simulator.api(simulator.reader(kind)), methods=["GET"]),
        )
    ]
    app = Starlette(
        routes=[
            *api_routes,
            Route("/v1/statuses", simulator.api(simulator.statuses), methods=["GET"]),
            Route("/health", simulator.health, methods=["GET"]),
            Route("/_control", simulator.get_control, methods=["GET"]),
            Route("/_control", simulator.put_control, methods=["PUT"]),
            Route("/_control/arrivals", simulator.get_arrivals, methods=["GET"]),
            Route("/_control/duplicates", simulator.get_duplicates, methods=["GET"]),
            Route("/_control/reset", simulator.post_reset, methods=["POST"]),
        ]
    )
    app.state.simulator = simulator
    return app


def app_from_env() -> ASGIApp:
    """App factory for server worker processes: options come as JSON from the environment."""
    return create_app(DspSimulatorOptions.from_json(read_options_json()))


def in_process_transport(app: ASGIApp) -> httpx.AsyncBaseTransport:
    """An ``httpx`` transport into ``app`` on which a dropped answer is a transport error, as on a socket.

    ``httpx.ASGITransport`` alone fails an unfinished answer with an ``AssertionError``; here it is an
    ``httpx.RemoteProtocolError``, what a client sees from the real server. Other app errors propagate.
    """

    async def finished_or_dropped(scope: Scope, receive: Receive, send: Send) -> None:
        finished = False

        async def watch(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        await app(scope, receive, watch)
        if scope["type"] == "http" and not finished:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    return httpx.ASGITransport(app=finished_or_dropped)
