"""The in-memory read model behind ``GET /search``: searchable plans sorted by start.

Built from the database after a sync changed something, swapped in atomically, never built by a
search. A query is two bisections plus a filter on the end, and its answer is assembled from bytes
serialized once per plan at build time. Whole answers are cached twice, per normalized bounds (in the
index) and per raw query string (in the holder, so a repeated query is not even parsed); both caches
are bounded by bytes and by entries, so no stream of distinct queries can grow a worker. Nothing here
does I/O.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

import orjson

ENVELOPE_HEAD = b'{"data":{"events":['
ENVELOPE_TAIL = b']},"error":null}'
EMPTY_ANSWER = ENVELOPE_HEAD + ENVELOPE_TAIL

DEFAULT_CACHE_ENTRIES = 4096
DEFAULT_CACHE_BYTES = 32 * 1024 * 1024
"""Each of the two caches; the runtime gives each half of ``CROSSDOCK_MARKETPLACE_SEARCH_CACHE_BYTES``."""

ENTRY_OVERHEAD = 256
"""Bytes a cached entry costs beyond its key's and body's lengths: the dict slot and the LRU node,
object headers, the key tuple. Measured with tracemalloc at 170-240 bytes; rounded up."""

ITEM_SHARE = 8
"""An answer larger than 1/ITEM_SHARE of a cache's bound is served but not cached: a few huge answers
would otherwise evict everything else for one hit each."""

RawAnswer = tuple[int, bytes]
AnswerKey = tuple[int, int]
"""Normalized bounds: (first plan at or after ``starts_at``, how many plan ends are <= ``ends_at``
or -1 without ``ends_at``). Two queries with the same key select the same plans."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """How full one answer cache is (``/health`` shows it)."""

    entries: int
    bytes: int
    max_bytes: int


class AnswerCache(Generic[K, V]):
    """A least-recently-used map bounded by the bytes of its keys and values and by its entry count.

    ``size_of(key, value)`` is an entry's cost in bytes (lengths plus :data:`ENTRY_OVERHEAD`). A value
    bigger than the item share is not kept; a bound of 0 (bytes or entries) keeps nothing.
    """

    __slots__ = ("_entries", "_size_of", "max_bytes", "max_entries", "max_item_bytes", "nbytes")

    def __init__(self, *, max_bytes: int, max_entries: int, size_of: Callable[[K, V], int]) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._size_of = size_of
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.max_item_bytes = max_bytes // ITEM_SHARE if max_entries > 0 else -1
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        size = self._size_of(key, value)
        if size > self.max_item_bytes:
            return
        entries = self._entries
        replaced = entries.pop(key, None)
        if replaced is not None:
            self.nbytes -= self._size_of(key, replaced)
        entries[key] = value
        self.nbytes += size
        while self.nbytes > self.max_bytes or len(entries) > self.max_entries:
            old_key, old_value = entries.popitem(last=False)
            self.nbytes -= self._size_of(old_key, old_value)

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0

    def stats(self) -> CacheStats:
        return CacheStats(entries=len(self._entries), bytes=self.nbytes, max_bytes=self.max_bytes)


def _answer_size(_key: AnswerKey, body: bytes) -> int:
    return len(body) + ENTRY_OVERHEAD


def _raw_answer_size(query: bytes, answer: RawAnswer) -> int:
    # A 200 body is usually the same object as in the index's cache: counted in both, the two
    # bounds together still cap what both hold.
    return len(query) + len(answer[1]) + ENTRY_OVERHEAD


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
    """An immutable snapshot of the searchable plans, with its own answer cache (by normalized bounds)."""

    version: int
    plans: list[SearchablePlan]
    cache_entries: int = DEFAULT_CACHE_ENTRIES
    cache_bytes: int = DEFAULT_CACHE_BYTES
    _starts: list[datetime] = field(init=False, repr=False)
    _ends: list[datetime | None] = field(init=False, repr=False)
    _sorted_ends: list[datetime] = field(init=False, repr=False)
    _json: list[bytes] = field(init=False, repr=False)
    _cache: AnswerCache[AnswerKey, bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.plans = sorted(self.plans, key=lambda plan: (plan.starts_at, plan.id))
        self._starts = [plan.starts_at for plan in self.plans]
        self._ends = [plan.ends_at for plan in self.plans]
        self._sorted_ends = sorted(end for end in self._ends if end is not None)
        self._json = [plan.to_json() for plan in self.plans]
        self._cache = AnswerCache(
            max_bytes=self.cache_bytes, max_entries=self.cache_entries, size_of=_answer_size
        )

    @classmethod
    def empty(cls) -> SearchIndex:
        return cls(version=0, plans=[])

    def __len__(self) -> int:
        return len(self.plans)

    def cache_stats(self) -> CacheStats:
        return self._cache.stats()

    def answer(self, starts_at: datetime | None, ends_at: datetime | None) -> bytes:
        """The full 200 body for plans with ``start >= starts_at`` and ``end <= ends_at``.

        Both bounds are inclusive and optional (naive, in the provider's wall-clock time). A plan
        without a known end matches only when ``ends_at`` is not given.
        """
        # Normalize the bounds to positions, so every query selecting the same plans (another
        # microsecond, offset or precision between the same two plans) shares one cached answer.
        low = 0 if starts_at is None else bisect_left(self._starts, starts_at)
        high = -1 if ends_at is None else bisect_right(self._sorted_ends, ends_at)
        if high == 0 or low >= len(self._json):
            return EMPTY_ANSWER
        key = (low, high)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        body = ENVELOPE_HEAD + b",".join(self._matching(low, high)) + ENVELOPE_TAIL
        self._cache.put(key, body)
        return body

    def _matching(self, low: int, high: int) -> Iterable[bytes]:
        if high < 0:
            return self._json[low:]
        # The largest end <= ends_at selects exactly the same plans as ends_at itself; since
        # start <= end, nothing starting after it can match either.
        last_end = self._sorted_ends[high - 1]
        stop = bisect_right(self._starts, last_end, lo=low)
        ends = self._ends
        return [self._json[i] for i in range(low, stop) if (end := ends[i]) is not None and end <= last_end]


class SearchIndexHolder:
    """The index currently served, swapped atomically, with a cache of answers per raw query string.

    The raw cache lets the hot path answer a repeated query without even parsing it; it belongs
    to one index and is emptied when another is swapped in. ``loaded`` stays False until a read
    model was loaded once: ``/search`` answers 503 until then, never an empty list that looks real.
    """

    def __init__(
        self,
        index: SearchIndex | None = None,
        *,
        raw_cache_entries: int = DEFAULT_CACHE_ENTRIES,
        raw_cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.raw_cache: AnswerCache[bytes, RawAnswer] = AnswerCache(
            max_bytes=raw_cache_bytes, max_entries=raw_cache_entries, size_of=_raw_answer_size
        )
        self.index = index if index is not None else SearchIndex.empty()
        self.loaded = index is not None

    def swap(self, index: SearchIndex) -> None:
        self.raw_cache.clear()
        self.index = index
        self.loaded = True

    def remember(self, query: bytes, answer: RawAnswer) -> None:
        self.raw_cache.put(query, answer)
