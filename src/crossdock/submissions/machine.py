"""The state machine of one submitted node (campaign, ad group or ad): pure decisions, no I/O.

The engine stores one row per node and asks this module what to do with it; the answers are new
values of the row. Nothing here sleeps, sends or reads a clock: ``now`` is given, and so is the
random source of the backoff jitter.

States::

    pending ──(parent Completed at the DSP, due)──▶ submitting ──202──▶ awaiting_status
       ▲  │                                          │       awaiting_status ──Completed──▶ completed
       │  │                                          │       awaiting_status ──Error──▶ error
       │  └─(parent error/dead/blocked/cancelled)─▶ blocked
       │                                  submitting ──429──▶ retry_scheduled (until Retry-After; the
       │                                             │        whole account pauses; no attempt spent)
       │                                             ├─5xx, timeout, answer lost──▶ retry_scheduled
       │                                             │        (backoff with jitter, attempts + 1), then dead
       │                                             └─400/422──▶ error (the DSP's message kept, no retry)
       └──── retry (after an optional payload fix: a new payload version, a new Idempotency-Key)
    cancel: every node not yet terminal ──▶ cancelled

A node is sent with the Idempotency-Key of its payload version (:func:`idempotency_key`), so a POST
whose answer was lost, or a node left ``submitting`` by a worker that died, is sent again with the
same key and the DSP answers the entity it already holds: never two entities for one node.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

State = Literal[
    "pending",
    "blocked",
    "submitting",
    "awaiting_status",
    "retry_scheduled",
    "completed",
    "error",
    "dead",
    "cancelled",
]
Kind = Literal["campaign", "ad_group", "ad"]
SeedStatus = Literal["Not Started", "In Progress", "Completed", "Error"]

TERMINAL: Final[frozenset[str]] = frozenset({"completed", "error", "dead", "cancelled"})
FAILED: Final[frozenset[str]] = frozenset({"error", "dead", "blocked", "cancelled"})
"""A parent in one of these states never completes by itself: its descendants are blocked."""
SENDABLE: Final[frozenset[str]] = frozenset({"pending", "retry_scheduled", "submitting"})
"""States in which a node is (again) due to be POSTed once its time comes and its parent completed."""


@dataclass(frozen=True, slots=True)
class Policy:
    """How long to wait and how often to try: bounded, never forever."""

    max_attempts: int = 8
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    poll_interval: float = 5.0
    parent_not_ready_delay: float = 5.0


@dataclass(frozen=True, slots=True)
class Node:
    """What the machine needs of a node's row (the engine maps its row to and from this)."""

    id: str
    kind: Kind
    parent_id: str | None
    state: State = "pending"
    attempts: int = 0
    next_attempt_at: float = 0.0
    payload_version: int = 1
    external_id: str | None = None
    dsp_status: SeedStatus | None = None
    error_message: str | None = None
    last_error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


def idempotency_key(node_id: str, payload_version: int) -> str:
    """The ``Idempotency-Key`` of one node's payload version (well under the DSP's 255 characters)."""
    return f"crossdock-{node_id}-v{payload_version}"


# -- what to do now --------------------------------------------------------------------------------------


def due_to_send(node: Node, parent: Node | None, now: float) -> bool:
    """The node may be POSTed now: sendable, its time has come, and its parent is ``completed``."""
    if node.state not in SENDABLE or node.next_attempt_at > now:
        return False
    return parent is None or parent.state == "completed"


def due_to_poll(node: Node, now: float) -> bool:
    """The node waits for the DSP's asynchronous verdict and its next poll is due."""
    return node.state == "awaiting_status" and node.next_attempt_at <= now


def begin_send(node: Node, now: float, lease: float) -> Node:
    """Stored (claimed) before the POST goes out. Nobody else takes the node for ``lease`` seconds; a
    worker that dies meanwhile leaves a node that is sent again, with the same key, once the lease
    has passed (``submitting`` stays sendable)."""
    return replace(node, state="submitting", next_attempt_at=now + lease)


# -- what the DSP answered -------------------------------------------------------------------------------


def accepted(node: Node, external_id: str, status: SeedStatus, now: float, policy: Policy) -> Node:
    """202: the DSP holds the entity; its verdict comes asynchronously."""
    waiting = replace(node, external_id=external_id, last_error=None)
    return seen(waiting, status, None, now, policy)


def seen(node: Node, status: SeedStatus, error_message: str | None, now: float, policy: Policy) -> Node:
    """A status read from the DSP (the answer to a POST, or a poll)."""
    if status == "Completed":
        return replace(node, state="completed", dsp_status=status, error_message=None)
    if status == "Error":
        message = error_message or "the DSP reported an error without a message"
        return replace(node, state="error", dsp_status=status, error_message=message)
    return replace(
        node, state="awaiting_status", dsp_status=status, next_attempt_at=now + policy.poll_interval
    )


def rate_limited(node: Node, retry_after: float, now: float) -> Node:
    """429: not an attempt (the request had no effect); parked until the account may send again."""
    return replace(node, state="retry_scheduled", next_attempt_at=now + max(0.0, retry_after))


def transient(
    node: Node,
    reason: str,
    now: float,
    policy: Policy,
    rng: random.Random,
    *,
    retry_after: float | None = None,
) -> Node:
    """5xx, a timeout, a lost answer: backoff with full jitter, bounded; then ``dead`` with the reason."""
    attempts = node.attempts + 1
    if attempts >= policy.max_attempts:
        return replace(
            node,
            state="dead",
            attempts=attempts,
            last_error=f"gave up after {attempts} attempts: {reason}",
            dsp_status="Error",
            error_message=f"not accepted by the DSP after {attempts} attempts: {reason}",
        )
    ceiling = min(policy.backoff_max, policy.backoff_initial * 2 ** (attempts - 1))
    wait = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return replace(
        node, state="retry_scheduled", attempts=attempts, next_attempt_at=now + wait, last_error=reason
    )


def rejected(node: Node, status: int, message: str) -> Node:
    """400/422: the DSP refuses this payload; retrying it unchanged cannot help."""
    return replace(
        node,
        state="error",
        dsp_status="Error",
        error_message=message,
        last_error=f"HTTP {status}: {message}",
    )


def parent_not_ready(node: Node, now: float, policy: Policy) -> Node:
    """409: the DSP does not see the parent completed yet (its view lags ours): ask again later."""
    return replace(node, state="retry_scheduled", next_attempt_at=now + policy.parent_not_ready_delay)


def failed_for_good(node: Node, reason: str) -> Node:
    """An answer no retry can fix without a person (unknown parent at the DSP, refused credentials)."""
    return replace(node, state="dead", last_error=reason, dsp_status="Error", error_message=reason)


# -- the tree --------------------------------------------------------------------------------------------


def propagate(nodes: Sequence[Node]) -> list[Node]:
    """Nodes whose parent failed (error, dead, blocked, cancelled) and that were not sent: blocked.

    ``nodes`` is a whole campaign tree, parents before children; returns the nodes that changed.
    """
    by_id: dict[str, Node] = {node.id: node for node in nodes}
    changed: list[Node] = []
    for node in nodes:
        parent = by_id.get(node.parent_id) if node.parent_id else None
        if parent is not None and parent.state in FAILED and node.state in {"pending", "retry_scheduled"}:
            blocked = replace(node, state="blocked", last_error=f"parent {parent.id} is {parent.state}")
            by_id[node.id] = blocked
            changed.append(blocked)
    return changed


def retry(nodes: Sequence[Node], payload_versions: Mapping[str, int] | None = None) -> list[Node]:
    """Resume a campaign from its failed nodes: ``error``, ``dead`` and ``blocked`` nodes go back to
    ``pending`` with fresh attempts; completed ones are never sent again. ``payload_versions`` gives
    the new version of nodes whose payload was fixed (a new version means a new Idempotency-Key)."""
    versions = payload_versions or {}
    changed: list[Node] = []
    for node in nodes:
        if node.state in {"error", "dead", "blocked"}:
            changed.append(
                replace(
                    node,
                    state="pending",
                    attempts=0,
                    next_attempt_at=0.0,
                    payload_version=versions.get(node.id, node.payload_version),
                    external_id=None if node.id in versions else node.external_id,
                    dsp_status=None,
                    error_message=None,
                    last_error=None,
                )
            )
    return changed


def cancel(nodes: Sequence[Node]) -> list[Node]:
    """Every node not yet terminal becomes ``cancelled`` (entities the DSP already holds stay there)."""
    return [
        replace(node, state="cancelled", dsp_status="Error", error_message="cancelled")
        for node in nodes
        if not node.terminal
    ]


def seed_status(node: Node) -> tuple[SeedStatus, str | None]:
    """The seed's four statuses for any node, with the error message."""
    if node.state == "completed":
        return "Completed", None
    if node.state in {"error", "dead", "cancelled"}:
        return "Error", node.error_message or node.last_error
    if node.state == "awaiting_status":
        return node.dsp_status or "Not Started", None
    if node.state == "submitting":
        return "In Progress", None
    return "Not Started", None
