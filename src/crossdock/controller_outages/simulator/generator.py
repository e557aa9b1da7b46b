"""The report stream of a simulated fleet of LED controllers: pure and seeded, no I/O, no clock.

Each controller ticks every 10 minutes on a clock of its own (a random phase). Per outage type, an
outage starts at a tick with ``outage_start_chance`` and, once started, ends at a tick with
``outage_end_chance``; while it lasts the controller reports it on every tick. Between the reports and
the service sit the faults of a real fleet (:class:`Faults`):

- **loss**: the report is never sent;
- **duplicates**: the report is sent twice, the copy up to one report period (or the reorder window,
  if longer) after the original;
- **reordering**: each report is held up to ``reorder_window`` simulated seconds, so later reports
  overtake it;
- **backlogs**: at a tick, an online controller goes offline with ``backlog_rate`` for 2 to 12 ticks;
  it keeps its reports meanwhile and sends them all in one POST of their own when it reconnects.

Reports due within the same simulated minute go out together, shuffled, in one POST (at most
:data:`MAX_POST_REPORTS`). Every draw comes from one generator seeded with ``seed``, in a fixed order,
so a seed and the same options give the same stream. When the run ends (``until``), the reports still
held and the backlogs of offline controllers are sent: only lost reports are never sent.

The stream is made independently of the capability's merging code (no import of its service or
store), so the two cannot share a mistake.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from crossdock.errors import InvalidInputError

REPORT_PERIOD: Final = 600
"""Seconds between two reports of an ongoing outage (the controllers' 10 minutes)."""
FLUSH_PERIOD: Final = 60
"""Reports due within the same simulated minute are sent in one POST."""
MAX_POST_REPORTS: Final = 1000
"""Most reports in one POST (a larger flush is split)."""
OUTAGE_TYPES: Final = ("panel_outage", "temperature_outage", "led_outage")
OFFLINE_TICKS: Final = (2, 12)
"""Inclusive bounds of how many ticks a controller that goes offline stays offline (20 min to 2 h)."""
MAX_CONTROLLERS: Final = 100_000
MAX_REORDER_WINDOW: Final = 7 * 86_400


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be between 0 and 1 (got {value:g})")


@dataclass(frozen=True, slots=True)
class Faults:
    """What goes wrong between the controllers and the service (rates are shares, 0 to 1)."""

    loss: float = 0.0
    duplicate_rate: float = 0.0
    reorder_window: float = 0.0
    """Simulated seconds a report may be held before it is sent."""
    backlog_rate: float = 0.0
    """Chance per tick that an online controller goes offline and later sends a backlog."""

    def __post_init__(self) -> None:
        _check_rate("loss", self.loss)
        _check_rate("duplicate_rate", self.duplicate_rate)
        _check_rate("backlog_rate", self.backlog_rate)
        if not 0.0 <= self.reorder_window <= 7 * 86_400:
            raise InvalidInputError(
                f"reorder_window must be between 0 and 604800 s (got {self.reorder_window:g})"
            )


@dataclass(frozen=True, slots=True)
class Fleet:
    """The simulated controllers: how many, from when (Unix seconds), their outages, the faults."""

    controllers: int
    start: int
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    outage_start_chance: float = 0.02
    """Chance per tick that an outage of a type starts on a controller (about one per 8 hours)."""
    outage_end_chance: float = 0.25
    """Chance per tick that an ongoing outage ends (outages last about 40 minutes)."""
    prefix: str = "sim-ctrl-"

    def __post_init__(self) -> None:
        if not 1 <= self.controllers <= MAX_CONTROLLERS:
            raise InvalidInputError(
                f"controllers must be between 1 and {MAX_CONTROLLERS} (got {self.controllers})"
            )
        _check_rate("outage_start_chance", self.outage_start_chance)
        _check_rate("outage_end_chance", self.outage_end_chance)

    def controller_id(self, index: int) -> str:
        return f"{self.prefix}{index + 1:04d}"


def iso(at: int | float) -> str:
    """Unix seconds as RFC 3339 in UTC with ``Z`` (whole seconds)."""
    return datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True, order=True)
class Report:
    """One outage report: its time (Unix seconds), controller and type."""

    at: int
    controller_id: str
    outage_type: str

    def record(self) -> dict[str, str]:
        """The record as POSTed to the service."""
        return {
            "controller_id": self.controller_id,
            "outage_type": self.outage_type,
            "timestamp": iso(self.at),
        }


@dataclass(frozen=True, slots=True)
class Post:
    """One POST: the simulated second it is sent, its reports, and whether it is a reconnection backlog."""

    at: int
    reports: tuple[Report, ...]
    backlog: bool = False

    @property
    def kind(self) -> str:
        return "backlog" if self.backlog else "live"

    def body(self) -> object:
        """The JSON body: one record object when the POST holds one report, else an array."""
        records = [report.record() for report in self.reports]
        return records[0] if len(records) == 1 else records


@dataclass(slots=True)
class Tally:
    """What the generation did, for the summary: reports made, lost, duplicated, backlogs sent."""

    generated: int = 0
    lost: int = 0
    duplicated: int = 0
    backlogs: int = 0


# A held report, or a reconnecting controller's backlog, waiting for its send time.
_Item = Report | tuple[Report, ...]


class _Stream:
    """The state of one generation; :func:`generate` drives it."""

    def __init__(self, fleet: Fleet, tally: Tally) -> None:
        self.fleet = fleet
        self.faults = fleet.faults
        self.tally = tally
        self.rng = random.Random(fleet.seed)
        count = fleet.controllers
        self.ids = [fleet.controller_id(index) for index in range(count)]
        self.phases = [self.rng.randrange(REPORT_PERIOD) for _ in range(count)]
        self.in_outage = [[False] * len(OUTAGE_TYPES) for _ in range(count)]
        self.offline_until: list[int | None] = [None] * count  # the tick at which it reconnects
        self.backlog: list[list[Report]] = [[] for _ in range(count)]
        self.held: list[tuple[float, int, _Item]] = []
        self.sequence = itertools.count()

    def ticks(self, until: int) -> Iterator[tuple[int, int, int]]:
        """(tick, controller index, time) in time order, for every tick before ``until``."""
        order = sorted(range(len(self.ids)), key=lambda index: (self.phases[index], index))
        for tick in itertools.count():
            for index in order:
                at = self.fleet.start + tick * REPORT_PERIOD + self.phases[index]
                if at >= until:
                    return
                yield tick, index, at

    def hold(self, send_at: float, item: _Item) -> None:
        heapq.heappush(self.held, (send_at, next(self.sequence), item))

    def tick(self, tick: int, index: int, at: int) -> None:
        """One controller's tick: connectivity, outages, and its reports through the faults."""
        faults, rng = self.faults, self.rng
        reconnect = self.offline_until[index]
        if reconnect is not None and tick >= reconnect:
            self.offline_until[index] = None
            self._send_backlog(index, at)
        elif reconnect is None and faults.backlog_rate and rng.random() < faults.backlog_rate:
            self.offline_until[index] = tick + rng.randint(*OFFLINE_TICKS)
        for position, outage_type in enumerate(OUTAGE_TYPES):
            state = self.in_outage[index]
            if state[position]:
                state[position] = rng.random() >= self.fleet.outage_end_chance
            else:
                state[position] = rng.random() < self.fleet.outage_start_chance
            if state[position]:
                self._report(index, Report(at, self.ids[index], outage_type))

    def _report(self, index: int, report: Report) -> None:
        faults, rng = self.faults, self.rng
        self.tally.generated += 1
        if faults.loss and rng.random() < faults.loss:
            self.tally.lost += 1
            return
        copies = 1
        if faults.duplicate_rate and rng.random() < faults.duplicate_rate:
            copies = 2
            self.tally.duplicated += 1
        for copy in range(copies):
            if self.offline_until[index] is not None:
                self.backlog[index].append(report)
                continue
            delay = rng.uniform(0, faults.reorder_window) if faults.reorder_window else 0.0
            if copy:
                delay += rng.uniform(0, max(faults.reorder_window, REPORT_PERIOD))
            self.hold(report.at + delay, report)

    def _send_backlog(self, index: int, at: float) -> None:
        if self.backlog[index]:
            self.hold(at, tuple(self.backlog[index]))
            self.backlog[index] = []
            self.tally.backlogs += 1

    def flush(self, due: float, at: int) -> Iterator[Post]:
        """The POSTs, sent at ``at``, of everything held until ``due``: backlogs, then the rest shuffled."""
        live: list[Report] = []
        backlogs: list[tuple[Report, ...]] = []
        while self.held and self.held[0][0] <= due:
            _send_at, _sequence, item = heapq.heappop(self.held)
            if isinstance(item, Report):
                live.append(item)
            else:
                backlogs.append(item)
        self.rng.shuffle(live)
        for group in backlogs:
            for start in range(0, len(group), MAX_POST_REPORTS):
                yield Post(at, group[start : start + MAX_POST_REPORTS], backlog=True)
        for start in range(0, len(live), MAX_POST_REPORTS):
            yield Post(at, tuple(live[start : start + MAX_POST_REPORTS]))

    def finish(self, until: int) -> Iterator[Post]:
        """At the end of the run every offline controller reconnects and everything held is sent."""
        for index in range(len(self.ids)):
            self._send_backlog(index, until)
        yield from self.flush(float("inf"), until)


def generate(fleet: Fleet, *, until: int, tally: Tally | None = None) -> Iterator[Post]:
    """The POSTs of ``fleet`` from its start until ``until`` (Unix seconds), in the order they are sent.

    Each POST's ``at`` is the simulated second it is sent (non-decreasing); ``tally``, when given,
    counts what happened on the way.
    """
    stream = _Stream(fleet, tally if tally is not None else Tally())
    next_flush = fleet.start + FLUSH_PERIOD
    for tick, index, at in stream.ticks(until):
        while next_flush <= at:
            yield from stream.flush(next_flush, next_flush)
            next_flush += FLUSH_PERIOD
        stream.tick(tick, index, at)
    while next_flush <= until:
        yield from stream.flush(next_flush, next_flush)
        next_flush += FLUSH_PERIOD
    yield from stream.finish(until)
