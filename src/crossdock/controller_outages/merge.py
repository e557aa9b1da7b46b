"""Merging outage reports into events: pure functions, no I/O.

An event is a maximal run of one key's distinct report timestamps in which consecutive timestamps
differ by at most ``gap`` (inclusive). Adding timestamps never splits an event — it can only extend
one, create one, or bridge several, which then merge — so the new state of a key is computed from its
current events as *segments* (start, end, count) and the new distinct timestamps as points, without
reading the reports back: sort them by start and join each to the run before it when it starts within
``gap`` of that run's end. Every old event lands in exactly one new run; a run holding several keeps
the id of the one with the earliest start (the others are merged into it), a run holding none is new.

Times are integers (microseconds since the epoch, UTC) so comparisons are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Segment:
    """A stored event of one key: its id, first and last report time, and distinct report count."""

    id: str
    start: int
    end: int
    count: int


@dataclass(slots=True)
class Run:
    """One event after the merge: its span and count, the stored events it holds, and its new points."""

    start: int
    end: int
    count: int
    segments: list[Segment] = field(default_factory=list)
    points: list[int] = field(default_factory=list)

    @property
    def survivor(self) -> Segment | None:
        """The stored event whose id the run keeps: the one with the earliest start (then smallest id)."""
        return min(self.segments, key=lambda s: (s.start, s.id)) if self.segments else None

    @property
    def absorbed(self) -> list[Segment]:
        """The stored events merged into the survivor."""
        survivor = self.survivor
        return [segment for segment in self.segments if segment is not survivor]

    @property
    def changed(self) -> bool:
        """Whether the run differs from what is stored (new, extended, counted more, or merged)."""
        return bool(self.points) or len(self.segments) != 1


def merge(segments: Iterable[Segment], points: Iterable[int], *, gap: int) -> list[Run]:
    """The runs that ``segments`` (one key's stored events) and new distinct ``points`` form.

    ``points`` must be timestamps not stored yet (duplicates are filtered before): each adds one to
    the count of the run it joins. Segments are disjoint and already more than ``gap`` apart, as
    stored events are.
    """
    items: list[tuple[int, int, int, Segment | None]] = [(s.start, s.end, s.count, s) for s in segments]
    items.extend((p, p, 1, None) for p in set(points))
    items.sort(key=lambda item: (item[0], item[1]))
    runs: list[Run] = []
    for start, end, count, segment in items:
        current = runs[-1] if runs else None
        if current is None or start - current.end > gap:
            current = Run(start, end, 0)
            runs.append(current)
        current.end = max(current.end, end)
        current.count += count
        if segment is None:
            current.points.append(start)
        else:
            current.segments.append(segment)
    return runs


def split(timestamps: Iterable[int], *, gap: int) -> list[tuple[int, int, int]]:
    """The events (start, end, count) of one key's timestamps: the definition, used to rebuild.

    Equivalent to ``merge([], timestamps)``; kept separate because it is the reference the stored
    events must equal whatever the order the reports came in.
    """
    ordered = sorted(set(timestamps))
    events: list[tuple[int, int, int]] = []
    for stamp in ordered:
        if events and stamp - events[-1][1] <= gap:
            start, _end, count = events[-1]
            events[-1] = (start, stamp, count + 1)
        else:
            events.append((stamp, stamp, 1))
    return events


def run_of(runs: Sequence[Run], stamp: int) -> Run | None:
    """The run covering ``stamp`` (start <= stamp <= end), if any."""
    for run in runs:
        if run.start <= stamp <= run.end:
            return run
    return None
