"""The in-process budget of one DSP account: a sliding log that never lets the limit be passed,
uses the whole limit when no status poll waits, and holds the poll reserve back from submissions
only while a poll waits for a slot."""

from __future__ import annotations

from crossdock.submissions.budget import SLACK_SECONDS, Budget


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_submissions_use_the_whole_limit_when_no_poll_waits() -> None:
    clock = Clock()
    budget = Budget(limit=10, window=5.0, poll_reserve=2, clock=clock)
    assert [budget.take_now("submit") for _ in range(10)] == [0.0] * 10
    wait = budget.take_now("submit")
    assert wait > 0
    assert budget.used() == 10


def test_a_slot_frees_when_the_oldest_request_leaves_the_window_plus_slack() -> None:
    clock = Clock()
    budget = Budget(limit=3, window=2.0, poll_reserve=1, clock=clock)
    for _ in range(3):
        assert budget.take_now("submit") == 0.0
        clock.now += 0.5
    # Requests at 100.0, 100.5, 101.0; now 101.5: the first leaves at 102.0 + slack.
    wait = budget.take_now("submit")
    assert abs(wait - (0.5 + SLACK_SECONDS)) < 1e-9
    clock.now += wait
    assert budget.take_now("submit") == 0.0


def test_a_waiting_poll_gets_the_next_slot_before_any_submission() -> None:
    clock = Clock()
    budget = Budget(limit=4, window=1.0, poll_reserve=1, clock=clock)
    for _ in range(4):
        assert budget.take_now("submit") == 0.0
    assert budget.take_now("poll") > 0  # the window is full: the poll waits, and says so
    clock.now += 0.3
    budget.take_now("submit")  # still full
    clock.now += 1.0  # every slot is free again
    # While the poll waits, submissions leave it the reserve: three go, the fourth is held back.
    assert [budget.take_now("submit") for _ in range(3)] == [0.0] * 3
    assert budget.take_now("submit") > 0
    assert budget.take_now("poll") == 0.0
    assert budget.used() == 4


def test_once_the_poll_went_submissions_use_the_whole_limit_again() -> None:
    clock = Clock()
    budget = Budget(limit=4, window=1.0, poll_reserve=2, clock=clock)
    for _ in range(4):
        budget.take_now("submit")
    assert budget.take_now("poll") > 0
    clock.now += 2.0
    assert budget.take_now("poll") == 0.0
    assert [budget.take_now("submit") for _ in range(3)] == [0.0] * 3


async def test_a_pause_refuses_every_purpose_until_it_ends() -> None:
    clock = Clock()
    budget = Budget(limit=100, window=1.0, clock=clock)
    await budget.pause(7.5)
    assert budget.take_now("submit") == 7.5
    assert budget.take_now("poll") == 7.5
    clock.now += 7.5
    assert budget.take_now("submit") == 0.0


def test_the_reserve_never_leaves_submissions_without_a_slot() -> None:
    budget = Budget(limit=1, window=1.0, poll_reserve=5, clock=Clock())
    assert budget.poll_reserve == 0
