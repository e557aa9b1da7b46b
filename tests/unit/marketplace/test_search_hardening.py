"""/search bounds at the edges of the calendar, and the answer before the read model ever loaded."""

from __future__ import annotations

import logging

import orjson
import pytest

from crossdock.errors import InvalidInputError
from crossdock.marketplace.readmodel import SearchIndex, SearchIndexHolder
from crossdock.marketplace.search import answer_query, parse_bound

EDGE_BOUNDS = [
    "0001-01-01T00:00:00+01:00",  # one hour before year 1 in UTC
    "9999-12-31T23:59:59-05:00",  # five hours into year 10000 in UTC
    "0001-01-01T00:00:00.000001+14:00",
    "9999-12-31T23:59:59.999999-23:59",
]


@pytest.mark.parametrize("raw", EDGE_BOUNDS)
def test_bound_outside_the_calendar_in_utc_is_invalid_datetime(raw: str) -> None:
    """A bound whose UTC value falls outside years 1-9999 is InvalidInputError invalid_datetime, naming it."""
    with pytest.raises(InvalidInputError) as caught:
        parse_bound("starts_at", raw)
    assert caught.value.code == "invalid_datetime"
    assert "starts_at" in caught.value.message


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T01:00:00+01:00"])
def test_bounds_at_the_edges_of_the_calendar_still_work(raw: str) -> None:
    """The first and last representable instants in UTC are valid bounds."""
    assert parse_bound("ends_at", raw) is not None


@pytest.mark.parametrize("name", ["starts_at", "ends_at"])
@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-05:00"])
def test_edge_bounds_answer_400_without_logging_an_error(
    caplog: pytest.LogCaptureFixture, name: str, raw: str
) -> None:
    """The shared answer function gives 400 invalid_datetime and logs nothing at ERROR."""
    holder = SearchIndexHolder(SearchIndex.empty())
    with caplog.at_level(logging.DEBUG):
        status, body = answer_query(holder, f"{name}={raw}".encode())
    assert status == 400
    assert orjson.loads(body)["error"]["code"] == "invalid_datetime"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_search_before_the_read_model_ever_loaded_is_503_not_ready() -> None:
    """Until a read model is loaded, /search answers 503 not_ready in the error envelope, then 200."""
    holder = SearchIndexHolder()
    status, body = answer_query(holder, b"starts_at=2021-01-01")
    assert status == 503
    answer = orjson.loads(body)
    assert answer["data"] is None
    assert answer["error"]["code"] == "not_ready"
    assert answer["error"]["message"]
    holder.swap(SearchIndex.empty())
    assert answer_query(holder, b"starts_at=2021-01-01") == (
        200,
        b'{"data":{"events":[]},"error":null}',
    )


def test_not_ready_answer_is_not_cached() -> None:
    """The 503 is never remembered: the first request after loading is answered from the read model."""
    holder = SearchIndexHolder()
    assert answer_query(holder, b"")[0] == 503
    assert len(holder.raw_cache) == 0
