"""The in-memory read model behind ``GET /search``: searchable plans sorted by start.

Built from the database after a sync changed something, swapped in atomically, never built by a
search. A query is two bisections over the start times plus a filter on the end, and its answer
is assembled from bytes serialized once per plan at build time; whole answers are cached per
normalized query. Nothing here does I/O.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson

ENVELOPE_HEAD = b'{"data":{"events":['
ENVELOPE_TAIL = b']},"error":null}'
EMPTY_ANSWER = ENVELOPE_HEAD + ENVELOPE_TAIL


@dataclass(frozen=True, slots=True)
class SearchablePlan:
    """The fields of one plan the search contract shows."""

    id: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    min_price: float | None
    max_price: float | None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "title": self.title,
                "start_date": self.starts_at.date().isoformat(),
                "start_time": self.starts_at.time().isoformat(timespec="seconds"),
                "end_date": self.ends_at.date().isoformat() if self.ends_at else None,
                "end_time": self.ends_at.time().isoformat(timespec="seconds") if self.ends_at else None,
                "min_price": self.min_price,
                "max_price": self.max_price,
            }
        )


@dataclass(slots=True)
class SearchIndex:
    """An immutable snapshot of the searchable plans, with its own answer cache."""

    version: int
    plans: list[SearchablePlan]
    cache_entries: int = 4096
    _starts: list[datetime] = field(init=False, repr=False)
    _ends: list[datetime | None] = field(init=False, repr=False)
    _json: list[bytes] = field(init=False, repr=False)
    _cache: dict[tuple[datetime | None, datetime | None], bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.plans = sorted(self.plans, key=lambda plan: (plan.starts_at, plan.id))
        self._starts = [plan.starts_at for plan in self.plans]
        self._ends = [plan.ends_at for plan in self.plans]
        self._json = [plan.to_json() for plan in self.plans]
        self._cache = {}

    @classmethod
    def empty(cls) -> SearchIndex:
        return cls(version=0, plans=[])

    def __len__(self) -> int:
        return len(self.plans)

    def answer(self, starts_at: datetime | None, ends_at: datetime | None) -> bytes:
        """The full 200 body for plans with ``start >= starts_at`` and ``end <= ends_at``.

        Both bounds are inclusive and optional (naive, in the provider's wall-clock time). A plan
        without a known end matches only when ``ends_at`` is not given.
        """
        key = (starts_at, ends_at)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        body = ENVELOPE_HEAD + b",".join(self._matching(starts_at, ends_at)) + ENVELOPE_TAIL
        if self.cache_entries:
            if len(self._cache) >= self.cache_entries:
                self._cache.clear()  # bounded; a full reset is cheaper than LRU bookkeeping here
            self._cache[key] = body
        return body

    def _matching(self, starts_at: datetime | None, ends_at: datetime | None) -> Iterable[bytes]:
        low = 0 if starts_at is None else bisect_left(self._starts, starts_at)
        if ends_at is None:
            return self._json[low:]
        # start <= end <= ends_at, so nothing starting after ends_at can match.
        high = bisect_right(self._starts, ends_at, lo=low)
        ends = self._ends
        return [self._json[i] for i in range(low, high) if (end := ends[i]) is not None and end <= ends_at]


class SearchIndexHolder:
    """The index currently served, swapped atomically, with a cache of answers per raw query string.

    The raw cache lets the hot path answer a repeated query without even parsing it; it belongs
    to one index and is dropped with it.
    """

    def __init__(self, index: SearchIndex | None = None, *, raw_cache_entries: int = 4096) -> None:
        self.raw_cache_entries = raw_cache_entries
        self.index = index or SearchIndex.empty()
        self.raw_cache: dict[bytes, tuple[int, bytes]] = {}
        self.loaded = index is not None

    def swap(self, index: SearchIndex) -> None:
        self.raw_cache = {}
        self.index = index
        self.loaded = True

    def remember(self, query: bytes, answer: tuple[int, bytes]) -> None:
        if self.raw_cache_entries:
            if len(self.raw_cache) >= self.raw_cache_entries:
                self.raw_cache = {}
            self.raw_cache[query] = answer
