"""The controllers simulator's report streams: the same for a seed, and each fault doing what it says."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from crossdock.controller_outages.schemas import OUTAGE_TYPES, parse_record
from crossdock.controller_outages.simulator.generator import (
    FLUSH_PERIOD,
    MAX_POST_REPORTS,
    REPORT_PERIOD,
    Faults,
    Fleet,
    Post,
    Report,
    Tally,
    generate,
)
from crossdock.errors import InvalidInputError

START = 1_756_684_800  # 2025-09-01T00:00:00Z
DAY = 86_400


def stream(
    faults: Faults | None = None, *, seed: int = 1, controllers: int = 40, days: float = 2
) -> tuple[list[Post], Tally]:
    tally = Tally()
    fleet = Fleet(controllers=controllers, start=START, seed=seed, faults=faults or Faults())
    return list(generate(fleet, until=START + round(days * DAY), tally=tally)), tally


def sent(posts: list[Post]) -> list[tuple[int, Report]]:
    """(time sent, report) for every report of every post."""
    return [(post.at, report) for post in posts for report in post.reports]


def test_a_seed_gives_the_same_stream_and_another_seed_another() -> None:
    """Generation is a pure function of the fleet and its seed."""
    faults = Faults(loss=0.1, duplicate_rate=0.1, reorder_window=1800, backlog_rate=0.02)
    assert stream(faults, seed=3) == stream(faults, seed=3)
    assert stream(faults, seed=3)[0] != stream(faults, seed=4)[0]


def test_without_faults_every_report_is_sent_once_within_a_minute() -> None:
    """No faults: each report once, in the POST of the simulated minute it was made, every 10 minutes per
    outage on each controller's own clock; POSTs in time order, records as the service reads them."""
    posts, tally = stream()
    pairs = sent(posts)
    reports = [report for _at, report in pairs]
    assert len(reports) == len(set(reports)) == tally.generated > 100
    assert [post.at for post in posts] == sorted(post.at for post in posts)
    assert all(0 <= at - report.at <= FLUSH_PERIOD for at, report in pairs)
    assert all(report.at < START + 2 * DAY for report in reports)
    assert {report.outage_type for report in reports} == set(OUTAGE_TYPES)
    phases: dict[str, set[int]] = defaultdict(set)
    for report in reports:
        phases[report.controller_id].add((report.at - START) % REPORT_PERIOD)
    assert all(len(phase) == 1 for phase in phases.values())
    assert not any(post.backlog for post in posts)
    for post in posts:
        body = post.body()
        records = [body] if isinstance(body, dict) else body
        assert isinstance(records, list)
        assert [parse_record(record).at for record in records] == [r.at * 1_000_000 for r in post.reports]


def test_loss_drops_its_share_of_reports() -> None:
    """--loss: about that share of the reports is never sent; the rest is sent once."""
    posts, tally = stream(Faults(loss=0.3))
    reports = [report for _at, report in sent(posts)]
    assert len(reports) == len(set(reports)) == tally.generated - tally.lost
    assert tally.lost / tally.generated == pytest.approx(0.3, abs=0.05)
    nothing, lost_all = stream(Faults(loss=1.0))
    assert nothing == []
    assert lost_all.lost == lost_all.generated > 0


def test_duplicates_send_a_report_twice_the_copy_later() -> None:
    """--duplicate-rate: about that share of the reports is sent twice, the copy not before the original
    and at most a report period later; with 1, every report is sent exactly twice."""
    posts, tally = stream(Faults(duplicate_rate=0.2))
    counts = Counter(report for _at, report in sent(posts))
    assert set(counts.values()) == {1, 2}
    assert sum(1 for count in counts.values() if count == 2) == tally.duplicated
    assert tally.duplicated / tally.generated == pytest.approx(0.2, abs=0.05)
    times: dict[Report, list[int]] = defaultdict(list)
    for at, report in sent(posts):
        times[report].append(at)
    assert all(t[-1] - t[0] <= REPORT_PERIOD + FLUSH_PERIOD for t in times.values())
    every, _tally = stream(Faults(duplicate_rate=1.0))
    assert set(Counter(report for _at, report in sent(every)).values()) == {2}


def test_reordering_holds_reports_up_to_the_window_so_later_ones_overtake() -> None:
    """--reorder-window: each report leaves at most the window (plus the minute) late, and reports of one
    controller and type arrive out of order; POSTs are shuffled, not sorted by time."""
    window = 3600
    posts, tally = stream(Faults(reorder_window=window))
    pairs = sent(posts)
    assert len(pairs) == tally.generated
    assert all(0 <= at - report.at <= window + FLUSH_PERIOD for at, report in pairs)
    assert max(at - report.at for at, report in pairs) > window / 2
    arrival: dict[tuple[str, str], list[int]] = defaultdict(list)
    for _at, report in pairs:
        arrival[(report.controller_id, report.outage_type)].append(report.at)
    assert any(times != sorted(times) for times in arrival.values())
    assert any(list(post.reports) != sorted(post.reports) for post in posts)


def test_backlogs_are_sent_at_once_when_a_controller_reconnects() -> None:
    """--backlog-rate: an offline controller's reports are not sent while it is away, then leave together
    in a POST of their own, holding only that controller's reports, the oldest a tick old or more."""
    posts, tally = stream(Faults(backlog_rate=0.05))
    backlogs = [post for post in posts if post.backlog]
    assert len(backlogs) == tally.backlogs > 5
    reports = [report for _at, report in sent(posts)]
    assert len(reports) == len(set(reports)) == tally.generated
    live = [(at, report) for post in posts if not post.backlog for at, report in sent([post])]
    for post in backlogs:
        (controller,) = {report.controller_id for report in post.reports}
        oldest = min(report.at for report in post.reports)
        newest = max(report.at for report in post.reports)
        assert post.at - oldest >= REPORT_PERIOD
        assert not [
            report
            for _at, report in live
            if report.controller_id == controller and oldest <= report.at <= newest
        ]
    assert any(len({r.at for r in post.reports}) > 1 for post in backlogs)


def test_every_fault_at_once_still_sends_every_report_not_lost() -> None:
    """All faults together: what is not lost is sent at least once by the end of the run, in POSTs of at
    most the maximum size; a POST of one report is one record object."""
    faults = Faults(loss=0.05, duplicate_rate=0.1, reorder_window=7200, backlog_rate=0.03)
    posts, tally = stream(faults, controllers=1000, days=1)
    distinct = {report for _at, report in sent(posts)}
    assert len(distinct) == tally.generated - tally.lost
    assert max(len(post.reports) for post in posts) == MAX_POST_REPORTS  # the end of the run: split
    assert all(len(post.reports) <= MAX_POST_REPORTS for post in posts)
    single = next(post for post in posts if len(post.reports) == 1)
    assert isinstance(single.body(), dict)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({"loss": 1.5}, "loss must be between 0 and 1"),
        ({"duplicate_rate": -0.1}, "duplicate_rate must be between 0 and 1"),
        ({"backlog_rate": 2}, "backlog_rate must be between 0 and 1"),
        ({"reorder_window": -1}, "reorder_window must be between 0"),
    ],
)
def test_out_of_range_faults_are_refused(faults: dict[str, float], message: str) -> None:
    """Rates outside 0-1 and a negative window are refused with their name."""
    with pytest.raises(InvalidInputError, match=message):
        Faults(**faults)
    with pytest.raises(InvalidInputError, match="controllers must be"):
        Fleet(controllers=0, start=START)
