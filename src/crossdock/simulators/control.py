"""Shared pieces of the simulators' control API: value checks and the all-or-nothing ``PUT /_control``.

Simulators only: nothing here is used by the product's own code paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from crossdock.errors import InvalidInputError

Check = Callable[[str, object], object]


def check_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be a number between 0 and 1 (got {value!r})")
    return float(value)


def check_whole(name: str, value: object, *, low: int = 0, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidInputError(f"{name} must be a whole number {bounds} (got {value!r})")
    return value


def check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be true or false (got {value!r})")
    return value


def parse_options_json(text: str, known: set[str]) -> dict[str, Any]:
    """The fields of a simulator's options as serialized for its worker; unknown fields are refused."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"simulator options are not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError("simulator options must be a JSON object")
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInputError(f"unknown simulator options: {', '.join(unknown)}")
    return data


def control_error(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


async def apply_control_changes(request: Request, checks: Mapping[str, Check], live: Any) -> Response | None:
    """Validate every change of a ``PUT /_control`` body, then set them all on ``live``.

    Returns the 400 answer when anything is wrong (and changes nothing), else None.
    """
    try:
        changes = await request.json()
    except ValueError:
        return control_error("the body must be a JSON object")
    if not isinstance(changes, dict):
        return control_error("the body must be a JSON object")
    unknown = sorted(set(changes) - set(checks))
    if unknown:
        return control_error(f"unknown settings: {', '.join(unknown)} (known: {', '.join(sorted(checks))})")
    try:
        checked = {name: checks[name](name, value) for name, value in changes.items()}
    except InvalidInputError as exc:
        return control_error(exc.message)
    for name, value in checked.items():
        setattr(live, name, value)
    return None


class ControlledSimulator:
    """The routes every simulator serves the same way: ``GET /health`` and ``GET``/``PUT /_control``.

    A subclass sets ``live`` (the settings a ``PUT`` may change), ``control_checks`` (one check per
    changeable name) and :meth:`state` (what ``GET /_control`` shows).
    """

    live: Any
    control_checks: Mapping[str, Check]

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    async def health(self, request: Request) -> Response:
        """``GET /health``: liveness only, no key, never faulted."""
        return PlainTextResponse("ok")

    async def get_control(self, request: Request) -> Response:
        """``GET /_control``: the live settings and the counters."""
        return JSONResponse(self.state())

    async def put_control(self, request: Request) -> Response:
        """``PUT /_control``: change any subset of the live settings; all or nothing."""
        failure = await apply_control_changes(request, self.control_checks, self.live)
        return failure or JSONResponse(self.state())
