"""The node state machine against a model DSP: whatever the DSP answers, in whatever order, no child
is sent before its parent completed, no node is ever sent under two keys or created twice, and no
node is lost — every one ends in a terminal state."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.submissions import machine
from crossdock.submissions.machine import Node, Policy

POLICY = Policy(max_attempts=4, backoff_initial=1.0, backoff_max=8.0, poll_interval=2.0)
LEASE = 30.0
ANSWERS = st.sampled_from(["accepted", "dropped", "5xx", "429", "invalid", "409"])
VERDICTS = st.sampled_from(["Completed", "Completed", "Completed", "Error", "In Progress"])


@dataclass
class ModelDsp:
    """Idempotent creation by key, asynchronous verdicts, faults chosen by the test."""

    answers: list[str]
    verdicts: list[str]
    entities: dict[str, dict[str, object]] = field(default_factory=dict)  # external id -> entity
    by_key: dict[str, str] = field(default_factory=dict)  # idempotency key -> external id
    created_for: dict[str, list[str]] = field(default_factory=dict)  # node id -> external ids
    keys_for: dict[str, set[str]] = field(default_factory=dict)  # node id -> keys sent
    violations: list[str] = field(default_factory=list)

    def post(self, node: Node, parent: Node | None, key: str) -> tuple[str, object]:
        self.keys_for.setdefault(node.id, set()).add(key)
        answer = self.answers.pop(0) if self.answers else "accepted"
        if answer in ("5xx", "429"):
            return answer, None
        if parent is not None:
            parent_entity = self.entities.get(parent.external_id or "")
            if parent_entity is None or parent_entity["status"] != "Completed":
                self.violations.append(f"{node.id} sent before its parent completed at the DSP")
        if answer == "409":
            return "409", None
        if key in self.by_key:
            external = self.by_key[key]
        else:
            external = f"dsp-{len(self.entities)}"
            verdict = (
                "Error" if answer == "invalid" else (self.verdicts.pop(0) if self.verdicts else "Completed")
            )
            self.entities[external] = {"status": "Not Started", "verdict": verdict, "node": node.id}
            self.by_key[key] = external
            self.created_for.setdefault(node.id, []).append(external)
        return ("dropped" if answer == "dropped" else "accepted"), external

    def poll(self, external_id: str) -> str:
        entity = self.entities[external_id]
        verdict = str(entity["verdict"])
        # "In Progress" once, then a final verdict.
        entity["status"] = "Completed" if verdict == "In Progress" else verdict
        if verdict == "In Progress":
            entity["verdict"] = "Completed"
            return "In Progress"
        return verdict


def tree(ad_groups: list[int]) -> list[Node]:
    nodes = [Node(id="c", kind="campaign", parent_id=None)]
    for g, ads in enumerate(ad_groups):
        nodes.append(Node(id=f"g{g}", kind="ad_group", parent_id="c"))
        nodes.extend(Node(id=f"g{g}a{a}", kind="ad", parent_id=f"g{g}") for a in range(ads))
    return nodes


def run(nodes: list[Node], dsp: ModelDsp, seed: int) -> dict[str, Node]:
    rng = random.Random(seed)
    state = {node.id: node for node in nodes}
    now = 0.0
    for _ in range(2000):
        for node_id in list(state):
            node = state[node_id]
            parent = state.get(node.parent_id) if node.parent_id else None
            if machine.due_to_send(node, parent, now):
                node = machine.begin_send(node, now, LEASE)
                answer, external = dsp.post(
                    node, parent, machine.idempotency_key(node.id, node.payload_version)
                )
                if answer == "accepted":
                    node = machine.accepted(node, str(external), "Not Started", now, POLICY)
                elif answer == "dropped":
                    node = machine.transient(node, "connection dropped", now, POLICY, rng)
                elif answer == "5xx":
                    node = machine.transient(node, "HTTP 503", now, POLICY, rng)
                elif answer == "429":
                    node = machine.rate_limited(node, 3.0, now)
                else:
                    node = machine.parent_not_ready(node, now, POLICY)
            elif machine.due_to_poll(node, now) and node.external_id is not None:
                node = machine.seen(node, dsp.poll(node.external_id), "invalid payload", now, POLICY)  # type: ignore[arg-type]
            state[node_id] = node
        for changed in machine.propagate(list(state.values())):
            state[changed.id] = changed
        # Next moment something can happen: a node whose parent completed (or that has none) comes due.
        waiting = [
            n.next_attempt_at
            for n in state.values()
            if (n.state == "awaiting_status" or n.state in machine.SENDABLE)
            and (n.parent_id is None or state[n.parent_id].state == "completed")
        ]
        if not waiting:
            break
        now = max(now, min(waiting))
    return state


@settings(max_examples=300, deadline=None)
@given(
    ad_groups=st.lists(st.integers(min_value=0, max_value=3), max_size=3),
    answers=st.lists(ANSWERS, max_size=40),
    verdicts=st.lists(VERDICTS, max_size=20),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_no_child_before_its_parent_no_node_twice_no_node_lost(
    ad_groups: list[int], answers: list[str], verdicts: list[str], seed: int
) -> None:
    nodes = tree(ad_groups)
    dsp = ModelDsp(list(answers), list(verdicts))
    final = run(nodes, dsp, seed)

    assert dsp.violations == []
    assert set(final) == {node.id for node in nodes}, "a node was lost"
    for node in final.values():
        assert node.terminal or node.state == "blocked", node
        assert len(dsp.created_for.get(node.id, [])) <= 1, f"{node.id} created twice"
        assert len(dsp.keys_for.get(node.id, set())) <= 1, f"{node.id} sent under two keys"
        parent = final.get(node.parent_id) if node.parent_id else None
        if node.state == "completed" and parent is not None:
            assert parent.state == "completed"
        if node.state == "blocked":
            assert parent is not None
            assert parent.state in machine.FAILED


def test_a_lost_answer_is_sent_again_with_the_same_key_and_the_dsp_answers_the_same_entity() -> None:
    dsp = ModelDsp(["dropped"], ["Completed"])
    final = run([Node(id="c", kind="campaign", parent_id=None)], dsp, 1)
    assert final["c"].state == "completed"
    assert dsp.keys_for["c"] == {machine.idempotency_key("c", 1)}
    assert len(dsp.created_for["c"]) == 1


def test_a_429_pauses_without_spending_an_attempt() -> None:
    node = machine.rate_limited(Node(id="c", kind="campaign", parent_id=None, attempts=2), 7.0, 100.0)
    assert (node.state, node.attempts, node.next_attempt_at) == ("retry_scheduled", 2, 107.0)


def test_transient_failures_back_off_within_bounds_then_give_up_with_context() -> None:
    rng = random.Random(0)
    node = Node(id="c", kind="campaign", parent_id=None)
    for attempt in range(1, POLICY.max_attempts):
        node = machine.transient(node, "HTTP 502", 0.0, POLICY, rng)
        assert node.state == "retry_scheduled"
        assert 0.0 <= node.next_attempt_at <= min(POLICY.backoff_max, 2 ** (attempt - 1))
    node = machine.transient(node, "HTTP 502", 0.0, POLICY, rng)
    assert node.state == "dead"
    assert "HTTP 502" in (node.last_error or "")
    assert machine.seed_status(node)[0] == "Error"


def test_a_rejected_payload_keeps_the_dsps_message_and_blocks_the_children() -> None:
    nodes = tree([2])
    failed = machine.rejected(nodes[1], 422, "Invalid IP range: 192.168.1.256")
    changed = machine.propagate([nodes[0], failed, *nodes[2:]])
    assert machine.seed_status(failed) == ("Error", "Invalid IP range: 192.168.1.256")
    assert {node.id: node.state for node in changed} == {"g0a0": "blocked", "g0a1": "blocked"}


def test_retry_after_a_payload_fix_uses_a_new_key_and_resumes_the_blocked_children() -> None:
    nodes = tree([1])
    failed = machine.rejected(nodes[1], 400, "Bid below floor price")
    blocked = machine.propagate([nodes[0], failed, nodes[2]])[0]
    resumed = {node.id: node for node in machine.retry([nodes[0], failed, blocked], {"g0": 2})}
    assert resumed["g0"].state == "pending"
    assert machine.idempotency_key("g0", resumed["g0"].payload_version) == "crossdock-g0-v2"
    assert resumed["g0a0"].state == "pending"
    assert "c" not in resumed  # completed or pending nodes are left alone


def test_cancel_stops_every_node_not_yet_terminal() -> None:
    done = machine.seen(Node(id="c", kind="campaign", parent_id=None), "Completed", None, 0.0, POLICY)
    cancelled = machine.cancel([done, Node(id="g", kind="ad_group", parent_id="c")])
    assert [(node.id, node.state) for node in cancelled] == [("g", "cancelled")]
