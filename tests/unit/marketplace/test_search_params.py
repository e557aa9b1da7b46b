"""Parsing of /search bounds: accepted forms, the UTC rule, and the 400 reasons."""

from __future__ import annotations

from datetime import datetime

import pytest

from crossdock.errors import InvalidInputError
from crossdock.marketplace.readmodel import SearchIndex
from crossdock.marketplace.search import parse_bound, search_answer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2021-02-01T00:00:00Z", datetime(2021, 2, 1)),
        ("2021-02-01T00:00:00", datetime(2021, 2, 1)),
        ("2021-02-01T02:00:00+02:00", datetime(2021, 2, 1)),
        ("2021-02-01T02:00:00 02:00", datetime(2021, 2, 1)),  # '+' decoded to a space
        ("2021-01-31T19:00:00-05:00", datetime(2021, 2, 1)),
        ("2021-02-01T00:00:00.000Z", datetime(2021, 2, 1)),
        ("2021-02-01", datetime(2021, 2, 1)),
    ],
)
def test_accepted_forms_follow_the_utc_rule(raw: str, expected: datetime) -> None:
    """Z, offsets and naive values all work; offsets convert to UTC wall-clock."""
    assert parse_bound("starts_at", raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "tomorrow", "2021-13-01T00:00:00", "2021-09-31T20:00:00", "2021-02-01T25:00"]
)
def test_malformed_bounds_are_invalid_datetime(raw: str) -> None:
    """Malformed values raise InvalidInputError with code invalid_datetime and name the parameter."""
    with pytest.raises(InvalidInputError) as caught:
        parse_bound("ends_at", raw)
    assert caught.value.code == "invalid_datetime"
    assert "ends_at" in caught.value.message


def test_inverted_range_is_invalid_range() -> None:
    """starts_at after ends_at is a 400 with code invalid_range."""
    with pytest.raises(InvalidInputError) as caught:
        search_answer(SearchIndex.empty(), starts_at="2022-01-01T00:00:00Z", ends_at="2021-01-01T00:00:00Z")
    assert caught.value.code == "invalid_range"


def test_missing_bounds_are_open() -> None:
    """No parameters at all is a valid query over everything."""
    assert search_answer(SearchIndex.empty(), starts_at=None, ends_at=None).startswith(b'{"data"')
