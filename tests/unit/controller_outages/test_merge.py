"""The merge rule: events are maximal runs of distinct timestamps no more than the gap apart, whatever
the order reports arrive in, and merging them in any batches gives the definition's events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.controller_outages.merge import Run, Segment, merge, split

MINUTE = 60_000_000


def scenarios(folder: Path) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((folder / "scenarios.json").read_text())["scenarios"]
    return loaded


def replay(records: list[dict[str, Any]], gap: int) -> dict[tuple[str, str], list[tuple[int, int, int]]]:
    """Feed records one at a time, in arrival order, as the service does per report."""
    state: dict[tuple[str, str], list[Segment]] = {}
    seen: set[tuple[str, str, int]] = set()
    for number, record in enumerate(records):
        key = (record["controller_id"], record["outage_type"])
        at = record["timestamp"] * 1_000_000
        if (*key, at) in seen:
            continue  # a duplicate: already stored
        seen.add((*key, at))
        runs = merge(state.get(key, []), [at], gap=gap)
        state[key] = [Segment(f"{number}-{i}", r.start, r.end, r.count) for i, r in enumerate(runs)]
    return {key: [(s.start, s.end, s.count) for s in segments] for key, segments in state.items()}


def expected(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[int, int, int]]]:
    found: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for event in events:
        key = (event["controller_id"], event["outage_type"])
        found.setdefault(key, []).append(
            (event["start_ts"] * 1_000_000, event["end_ts"] * 1_000_000, event["distinct_reports"])
        )
    return {key: sorted(value) for key, value in found.items()}


@pytest.mark.parametrize(
    ("gap_minutes", "field"), [(12, "expected_events_gap_12min"), (60, "expected_events_gap_60min")]
)
def test_fixture_scenarios_arrival_order(led_outages_dir: Path, gap_minutes: int, field: str) -> None:
    """Every fixture scenario, replayed in arrival order, gives its expected events at 12 and 60 minutes."""
    for scenario in scenarios(led_outages_dir):
        got = replay(scenario["records_in_arrival_order"], gap_minutes * MINUTE)
        assert got == expected(scenario[field]), scenario["name"]


def test_a_late_report_bridges_and_the_earliest_event_survives() -> None:
    """A point between two events within the gap of both merges them; the earlier one keeps its id."""
    early, late = (
        Segment("b-later-id", 0, 10 * MINUTE, 2),
        Segment("a-earlier-id", 30 * MINUTE, 40 * MINUTE, 2),
    )
    (run,) = merge([late, early], [20 * MINUTE], gap=12 * MINUTE)
    assert (run.start, run.end, run.count) == (0, 40 * MINUTE, 5)
    assert run.survivor == early
    assert run.absorbed == [late]


def test_a_point_inside_an_event_only_counts() -> None:
    """A late report inside an event's span changes nothing but its count."""
    (run,) = merge([Segment("x", 0, 30 * MINUTE, 3)], [15 * MINUTE], gap=12 * MINUTE)
    assert (run.start, run.end, run.count) == (0, 30 * MINUTE, 4)
    assert run.changed


def test_untouched_events_are_unchanged() -> None:
    """Events no new point reaches stay as stored (nothing to write)."""
    runs = merge(
        [Segment("x", 0, 0, 1), Segment("y", 100 * MINUTE, 100 * MINUTE, 1)], [200 * MINUTE], gap=MINUTE
    )
    assert [run.changed for run in runs] == [False, False, True]


def test_the_gap_is_inclusive() -> None:
    """Two reports exactly the gap apart are one event; a microsecond more splits them."""
    assert split([0, 12 * MINUTE], gap=12 * MINUTE) == [(0, 12 * MINUTE, 2)]
    assert len(split([0, 12 * MINUTE + 1], gap=12 * MINUTE)) == 2


stamps = st.lists(st.integers(min_value=0, max_value=6 * 60), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(values=stamps, data=st.data())
def test_any_batches_in_any_order_give_the_definitions_events(values: list[int], data: st.DataObject) -> None:
    """Splitting the points into batches in any order and merging batch by batch equals the definition."""
    gap = 25 * MINUTE
    points = [value * MINUTE for value in values]
    order = data.draw(st.permutations(points))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=5)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    segments: list[Segment] = []
    stored: set[int] = set()
    for number, batch in enumerate(batches):
        fresh = [p for p in batch if p not in stored]
        stored.update(fresh)
        runs: list[Run] = merge(segments, fresh, gap=gap)
        segments = [Segment(f"{number}-{i}", r.start, r.end, r.count) for i, r in enumerate(runs)]
    assert [(s.start, s.end, s.count) for s in segments] == split(points, gap=gap)
