"""The ``GET /search`` contract: bound parsing and answers from the read model (no I/O).

Both ways of serving ``/search`` (the ASGI fast path and the FastAPI route that documents it) call
:func:`answer_query`, so they answer byte for byte the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

from crossdock.api.errors import envelope, error_answer
from crossdock.errors import CrossdockError, InvalidInputError
from crossdock.marketplace.readmodel import SearchIndex, SearchIndexHolder

BOUNDS = ("starts_at", "ends_at")


def parse_bound(name: str, value: str | None) -> datetime | None:
    """Parse one ``/search`` bound; naive result in the provider's wall-clock time (UTC rule).

    Accepts RFC 3339 / ISO 8601 date-times with ``Z``, with an offset, or without any (taken as
    UTC), and plain dates (midnight). An offset is converted to UTC, then dropped.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise InvalidInputError(
            f"{name} is empty; give an ISO 8601 date-time such as 2021-07-21T17:32:28Z",
            code="invalid_datetime",
        )
    # An unencoded '+' of an offset arrives as a space after form decoding: try it back as '+'.
    for candidate in (text, text.replace(" ", "+")):
        try:
            parsed = datetime.fromisoformat(candidate)
            break
        except ValueError:
            continue
    else:
        raise InvalidInputError(
            f"{name} {value[:64]!r} is not an ISO 8601 date-time such as 2021-07-21T17:32:28Z",
            code="invalid_datetime",
        )
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            # 0001-01-01T00:00:00+01:00 is a valid date-time whose UTC value is before year 1.
            raise InvalidInputError(
                f"{name} {value[:64]!r} falls outside the years 1 to 9999 once converted to UTC",
                code="invalid_datetime",
            ) from None
    return parsed


def search_answer(index: SearchIndex, *, starts_at: str | None, ends_at: str | None) -> bytes:
    """The JSON body answering ``GET /search``; raises :class:`InvalidInputError` on bad bounds."""
    low = parse_bound("starts_at", starts_at)
    high = parse_bound("ends_at", ends_at)
    if low is not None and high is not None and low > high:
        raise InvalidInputError("starts_at must not be after ends_at", code="invalid_range")
    return index.answer(low, high)


NOT_READY_ANSWER = (
    503,
    envelope(
        "not_ready",
        "search is not ready: the events have not been loaded from the database yet; try again shortly",
    ),
)


def answer_query(holder: SearchIndexHolder, query_string: bytes) -> tuple[int, bytes]:
    """Status and body of ``GET /search?<query_string>``, cached per raw query string.

    Until the holder has loaded a read model once, every query is 503 ``not_ready`` (not cached).
    """
    cached = holder.raw_cache.get(query_string)
    if cached is not None:
        return cached
    if not holder.loaded:
        return NOT_READY_ANSWER
    params: dict[str, str] = {}
    try:
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if name in BOUNDS:
                if name in params:
                    raise InvalidInputError(f"{name} is given more than once", code="duplicate_parameter")
                params[name] = value
        answer = (
            200,
            search_answer(holder.index, starts_at=params.get("starts_at"), ends_at=params.get("ends_at")),
        )
    except CrossdockError as exc:
        answer = error_answer(exc)
    holder.remember(query_string, answer)
    return answer
