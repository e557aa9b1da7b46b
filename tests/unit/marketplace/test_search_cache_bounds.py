"""The /search answer caches: bounded by bytes, shared by equivalent bounds, never growing with traffic."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta

import orjson
import pytest

from crossdock.marketplace.readmodel import SearchablePlan, SearchIndex, SearchIndexHolder
from crossdock.marketplace.search import answer_query

T0 = datetime(2021, 1, 1, 20, 0)
HOUR = timedelta(hours=1)
MIB = 1024 * 1024


def catalogue(count: int = 2_000) -> list[SearchablePlan]:
    """``count`` plans one hour apart, about 200 bytes of JSON each (the whole list: ~400 KB)."""
    return [
        SearchablePlan(
            id=f"{n:08d}-0000-0000-0000-000000000000",
            title=f"Plan number {n} with a title of ordinary length",
            starts_at=T0 + n * HOUR,
            ends_at=T0 + n * HOUR + HOUR,
            min_price=10.0,
            max_price=20.5,
        )
        for n in range(count)
    ]


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def traced_growth(baseline: int) -> int:
    return tracemalloc.get_traced_memory()[0] - baseline


def test_equivalent_bounds_share_one_entry() -> None:
    """Bounds selecting the same plans (other microseconds, offsets or precision) share one cached answer."""
    index = SearchIndex(version=1, plans=catalogue(10))
    for micro in range(1, 2_000):
        # Every one of these starts after plan 0 and at or before plan 1: the same answer.
        body = index.answer(T0 + timedelta(microseconds=micro), T0 + 9 * HOUR + timedelta(microseconds=micro))
    assert len(orjson.loads(body)["data"]["events"]) == 8
    assert index.cache_stats().entries == 1


def test_cache_bytes_bound_holds_for_distinct_answers(traced: None) -> None:
    """Hundreds of distinct large answers keep the normalized cache within its byte bound."""
    index = SearchIndex(version=1, plans=catalogue(), cache_bytes=2 * MIB)
    baseline = tracemalloc.get_traced_memory()[0]
    for n in range(0, 2_000, 4):  # 500 distinct answers of ~200 KB on average: ~100 MB unbounded
        index.answer(T0 + n * HOUR, None)
    stats = index.cache_stats()
    assert stats.bytes <= 2 * MIB
    assert traced_growth(baseline) <= 2 * MIB + 256 * 1024


def test_distinct_query_strings_keep_both_caches_within_bounds(traced: None) -> None:
    """20,000 distinct query strings (microseconds, offsets, garbage) stay within the two byte bounds."""
    index = SearchIndex(version=1, plans=catalogue(300), cache_bytes=MIB)
    holder = SearchIndexHolder(index, raw_cache_bytes=MIB)
    baseline = tracemalloc.get_traced_memory()[0]
    for n in range(20_000):
        kind = n % 4
        if kind == 0:  # the case: a wide range, a new microsecond every time
            query = f"starts_at=2021-01-01T00:00:00.{n:06d}Z&ends_at=2022-01-01T00:00:00Z"
        elif kind == 1:  # a different start over the whole catalogue: distinct large answers
            query = f"starts_at={(T0 + (n % 300) * HOUR).isoformat()}%2B00:00&n={n}"
        elif kind == 2:  # a small window in another offset
            query = f"starts_at=2021-02-01T0{n % 10}:00:00-05:00&ends_at=2021-02-02&x={n}"
        else:  # malformed: a 400 answer per distinct string
            query = f"starts_at=not-a-date-{n}"
        status, _body = answer_query(holder, query.encode())
        assert status == (400 if kind == 3 else 200)
    assert holder.raw_cache.nbytes <= MIB
    assert index.cache_stats().bytes <= MIB
    assert traced_growth(baseline) <= 2 * MIB + 512 * 1024


def test_answer_larger_than_its_share_is_not_cached() -> None:
    """An answer bigger than an eighth of the bound is served but not kept."""
    index = SearchIndex(version=1, plans=catalogue(), cache_bytes=MIB)
    body = index.answer(None, None)  # ~400 KB > 1 MiB / 8
    assert len(body) > MIB // 8
    assert index.cache_stats().entries == 0
    small = index.answer(T0 + 1_990 * HOUR, None)
    assert len(small) < MIB // 8
    assert index.cache_stats().entries == 1


def test_recently_used_answers_survive_eviction() -> None:
    """Eviction drops the least recently used answer, so a hot query stays cached under churn."""
    index = SearchIndex(version=1, plans=catalogue(), cache_bytes=MIB)
    hot = index.answer(T0 + 1_999 * HOUR, None)
    for n in range(1_000, 1_990):
        assert index.answer(T0 + 1_999 * HOUR, None) is hot
        index.answer(T0 + n * HOUR, None)
    assert index.answer(T0 + 1_999 * HOUR, None) is hot


def test_entry_count_bound_still_applies() -> None:
    """CROSSDOCK_MARKETPLACE_SEARCH_CACHE_ENTRIES still caps the number of cached answers of each cache."""
    index = SearchIndex(version=1, plans=catalogue(50), cache_entries=3)
    holder = SearchIndexHolder(index, raw_cache_entries=3)
    for n in range(20):
        answer_query(holder, f"starts_at={(T0 + n * HOUR).isoformat()}".encode())
    assert index.cache_stats().entries <= 3
    assert len(holder.raw_cache) <= 3


def test_zero_bytes_disables_caching() -> None:
    """A byte bound of 0 turns a cache off; answers stay correct."""
    index = SearchIndex(version=1, plans=catalogue(5), cache_bytes=0)
    holder = SearchIndexHolder(index, raw_cache_bytes=0)
    status, body = answer_query(holder, b"starts_at=2021-01-01T21:00:00Z")
    assert status == 200
    assert len(orjson.loads(body)["data"]["events"]) == 4
    assert index.cache_stats().entries == 0
    assert len(holder.raw_cache) == 0
