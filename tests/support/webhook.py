"""A webhook receiver on 127.0.0.1 for notification tests: records every POST, fails on demand.

``WebhookReceiver`` answers ``POST /hook`` with 204, or with 500 for a seeded share ``fail_rate`` of
the requests (or all of them while ``failing``); :meth:`stop` takes it off the network (connections
are refused) and :meth:`start` brings it back on the same port. Only loopback is ever bound.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.processes import free_port

START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Arrival:
    """One POST the receiver got: its JSON body and whether it was answered with success."""

    body: dict[str, Any]
    accepted: bool


class WebhookReceiver:
    """A webhook endpoint on a fixed loopback port that records what arrives and fails on demand."""

    def __init__(self, *, fail_rate: float = 0.0, seed: int = 0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.fail_rate = fail_rate
        self.failing = False
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = json.loads(await request.body())
        with self._lock:
            accepted = not self.failing and self._rng.random() >= self.fail_rate
            self._arrivals.append(Arrival(body, accepted))
        return Response(status_code=204 if accepted else 500)

    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    def delivered(self) -> list[dict[str, Any]]:
        """The bodies answered with success, in arrival order (repeats included)."""
        return [arrival.body for arrival in self.arrivals if arrival.accepted]

    @property
    def listening(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen on the receiver's port (again) until :meth:`stop`."""
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            http="h11",
            ws="none",
            lifespan="off",
            log_level="critical",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the webhook receiver did not start on port {self.port}")
            time.sleep(0.005)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop listening: deliveries are refused until :meth:`start`."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None


def first_arrivals_by_key(bodies: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Per (controller, type), each distinct notification once, in the order it first arrived (as JSON)."""
    seen: set[str] = set()
    result: dict[tuple[str, str], list[str]] = defaultdict(list)
    for body in bodies:
        text = json.dumps(body, sort_keys=True)
        if text not in seen:
            seen.add(text)
            event = body["event"]
            result[(event["controller_id"], event["outage_type"])].append(text)
    return dict(result)


def check_final_state_notified(events: list[dict[str, Any]], delivered: list[dict[str, Any]]) -> None:
    """What the final events imply arrived: every id an event holds was opened, its merges were announced
    (naming exactly its merged ids), and a resolved event was resolved."""
    opened = {b["event"]["id"] for b in delivered if b["kind"] == "opened"}
    resolved = {b["event"]["id"] for b in delivered if b["kind"] == "resolved"}
    merged: dict[str, set[str]] = defaultdict(set)
    for body in delivered:
        if body["kind"] == "merged":
            merged[body["event"]["id"]].update(body["event"]["merged_ids"])
    assert events
    for event in events:
        assert {event["id"], *event["merged_ids"]} <= opened, event
        assert merged.get(event["id"], set()) == set(event["merged_ids"]), event
        if event["status"] == "resolved":
            assert event["id"] in resolved, event
