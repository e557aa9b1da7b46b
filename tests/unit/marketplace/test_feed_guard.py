"""The reader in front of libxml2 that cuts overlong runs: invisible on normal input, bounded on any."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.marketplace.feed import FeedLimits, RejectedSession, SessionPayload, iter_feed
from crossdock.marketplace.feedguard import RunGuard

MAX_RUN = 64
MARK = b"!" * 9


def through_guard(data: bytes, read_size: int) -> tuple[bytes, RunGuard]:
    guard = RunGuard(io.BytesIO(data), max_run=MAX_RUN, mark=MARK)
    chunks = []
    while chunk := guard.read(read_size):
        chunks.append(chunk)
    return b"".join(chunks), guard


SHORT_RUNS = st.lists(
    st.binary(max_size=MAX_RUN // 2 - 1).map(lambda b: b.replace(b"<", b"")), max_size=40
).map(lambda runs: b"<".join(runs))


@given(data=SHORT_RUNS, read_size=st.integers(min_value=1, max_value=100))
@settings(max_examples=300, deadline=None)
def test_input_without_long_runs_passes_unchanged(data: bytes, read_size: int) -> None:
    """Bytes whose runs between two '<' stay under the pass length come out identical, whatever the reads."""
    out, guard = through_guard(data, read_size)
    assert out == data
    assert guard.cuts == 0
    assert guard.position == len(data)


@given(data=st.binary(max_size=2_000), read_size=st.integers(min_value=1, max_value=300))
@settings(max_examples=300, deadline=None)
def test_no_run_comes_out_longer_than_its_bound(data: bytes, read_size: int) -> None:
    """Whatever the input, no run in the output is longer than the limit plus the mark and a cut's slack."""
    out, guard = through_guard(data, read_size)
    assert max(len(run) for run in out.split(b"<")) <= MAX_RUN + len(MARK) + 64
    assert len(out) <= len(data) + guard.cuts * len(MARK)
    if guard.cuts == 0:
        assert out == data


def test_a_cut_keeps_characters_and_entities_whole() -> None:
    """A cut inside a value of multi-byte characters and entity references leaves well-formed UTF-8 XML."""
    value = ("é&amp;€𝄞" * 2_000).encode()
    body = b'<eventList><output><base_event base_event_id="1" sell_mode="online" title="' + value
    body += (
        b'"><event event_start_date="2021-01-01T10:00:00" event_id="1"/></base_event></output></eventList>'
    )
    for max_field_length in (256, 1_000, 4_096):
        items = list(iter_feed(io.BytesIO(body), limits=FeedLimits(max_field_length=max_field_length)))
        assert [type(item) for item in items] == [RejectedSession]
        assert isinstance(items[0], RejectedSession)
        assert items[0].code == "field_too_long"


@pytest.mark.parametrize("size", [100, 1_000, 10_000])
def test_values_under_the_limit_are_untouched(size: int) -> None:
    """A title just under the field limit is stored exactly, not cut."""
    title = "t" * size
    body = (
        f'<eventList><output><base_event base_event_id="1" sell_mode="online" title="{title}">'
        '<event event_start_date="2021-01-01T10:00:00" event_id="1"/></base_event></output></eventList>'
    ).encode()
    (item,) = list(iter_feed(io.BytesIO(body)))
    assert isinstance(item, SessionPayload)
    assert item.title == title
