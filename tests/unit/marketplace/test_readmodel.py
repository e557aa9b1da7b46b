"""The search read model: inclusive containment, order, empty bounds, missing ends, caching."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import orjson

from crossdock.marketplace.readmodel import EMPTY_ANSWER, SearchablePlan, SearchIndex


def plan(ident: str, start: datetime, end: datetime | None, low: float | None = 1.0) -> SearchablePlan:
    return SearchablePlan(
        id=ident, title=f"t{ident}", starts_at=start, ends_at=end, min_price=low, max_price=low
    )


def ids(body: bytes) -> list[str]:
    return [event["id"] for event in orjson.loads(body)["data"]["events"]]


T0 = datetime(2021, 1, 1, 20, 0)
HOUR = timedelta(hours=1)


def test_bounds_are_inclusive() -> None:
    """start == starts_at and end == ends_at are both inside the range."""
    index = SearchIndex(version=1, plans=[plan("a", T0, T0 + HOUR)])
    assert ids(index.answer(T0, T0 + HOUR)) == ["a"]
    assert ids(index.answer(T0 + timedelta(seconds=1), None)) == []
    assert ids(index.answer(None, T0 + HOUR - timedelta(seconds=1))) == []


def test_containment_not_overlap() -> None:
    """An event overlapping the range but ending after ends_at is not returned."""
    index = SearchIndex(version=1, plans=[plan("a", T0, T0 + 3 * HOUR), plan("b", T0 + HOUR, T0 + 2 * HOUR)])
    assert ids(index.answer(T0, T0 + 2 * HOUR)) == ["b"]


def test_order_is_start_then_id() -> None:
    """Events starting at the same time come out by id."""
    index = SearchIndex(
        version=1, plans=[plan("b", T0, T0 + HOUR), plan("a", T0, T0 + HOUR), plan("c", T0 - HOUR, T0)]
    )
    assert ids(index.answer(None, None)) == ["c", "a", "b"]


def test_unknown_end_matches_only_without_upper_bound() -> None:
    """A plan without an end is returned with no ends_at, never when ends_at is given."""
    index = SearchIndex(version=1, plans=[plan("a", T0, None)])
    assert ids(index.answer(None, None)) == ["a"]
    assert ids(index.answer(None, T0 + 100 * HOUR)) == []


def test_empty_index_answers_empty_envelope() -> None:
    """No data yet: the contract's envelope with an empty list."""
    assert SearchIndex.empty().answer(None, None) == EMPTY_ANSWER
    assert orjson.loads(EMPTY_ANSWER) == {"data": {"events": []}, "error": None}


def test_every_item_has_the_eight_keys_in_contract_formats() -> None:
    """Dates YYYY-MM-DD, times HH:MM:SS, prices numbers or null, all keys present."""
    index = SearchIndex(version=1, plans=[plan("a", T0, None, low=None)])
    (item,) = orjson.loads(index.answer(None, None))["data"]["events"]
    assert item == {
        "id": "a",
        "title": "ta",
        "start_date": "2021-01-01",
        "start_time": "20:00:00",
        "end_date": None,
        "end_time": None,
        "min_price": None,
        "max_price": None,
    }


def test_bisection_agrees_with_brute_force() -> None:
    """On random data and random bounds the index returns exactly the brute-force answer."""
    rng = random.Random(7)
    plans = []
    for n in range(400):
        start = T0 + timedelta(minutes=rng.randrange(0, 10_000))
        end = None if n % 37 == 0 else start + timedelta(minutes=rng.randrange(0, 600))
        plans.append(plan(f"{n:04d}", start, end))
    index = SearchIndex(version=1, plans=plans, cache_entries=0)
    for _ in range(300):
        low = None if rng.random() < 0.2 else T0 + timedelta(minutes=rng.randrange(-100, 10_100))
        high = None if rng.random() < 0.2 else T0 + timedelta(minutes=rng.randrange(-100, 10_700))
        expected = [
            p.id
            for p in sorted(plans, key=lambda p: (p.starts_at, p.id))
            if (low is None or p.starts_at >= low)
            and (high is None or (p.ends_at is not None and p.ends_at <= high))
        ]
        assert ids(index.answer(low, high)) == expected


def test_answers_are_cached_and_bounded() -> None:
    """A repeated query returns the same bytes object; the cache never exceeds its size."""
    index = SearchIndex(version=1, plans=[plan("a", T0, T0 + HOUR)], cache_entries=2)
    first = index.answer(T0, None)
    assert index.answer(T0, None) is first
    for minutes in range(10):
        index.answer(T0 - timedelta(minutes=minutes), None)
    assert len(index._cache) <= 2
