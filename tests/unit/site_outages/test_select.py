"""The pure site-outages rule: filter by device and cut-off, enrich with names, keep source order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossdock.errors import InvalidInputError
from crossdock.site_outages.provider import SiteInfoPayload, parse_outages
from crossdock.site_outages.service import parse_since, select_site_outages

CUTOFF = parse_since("2022-01-01T00:00:00.000Z")


@pytest.fixture(scope="module")
def krakenflex(krakenflex_dir: Path) -> Path:
    return krakenflex_dir


def site(devices: dict[str, str]) -> SiteInfoPayload:
    return SiteInfoPayload(id="s", name="S", devices=[{"id": k, "name": v} for k, v in devices.items()])  # type: ignore[misc]


def outages(*rows: tuple[str, str, str]) -> bytes:
    return json.dumps([{"id": i, "begin": b, "end": e} for i, b, e in rows]).encode()


def test_kingfisher_example(krakenflex: Path) -> None:
    """The task README's kingfisher example gives exactly its expected body."""
    selection = select_site_outages(
        parse_outages((krakenflex / "readme-example-outages.json").read_bytes()),
        SiteInfoPayload.model_validate_json(
            (krakenflex / "readme-example-site-info-kingfisher.json").read_bytes()
        ),
        since=CUTOFF,
    )
    expected = json.loads((krakenflex / "readme-example-expected-site-outages-kingfisher.json").read_text())
    assert [o.model_dump() for o in selection.kept] == expected


def test_norwich_expected_body(krakenflex: Path) -> None:
    """The real outages and norwich-pear-tree site give the body the platform accepts, keys in order."""
    selection = select_site_outages(
        parse_outages((krakenflex / "outages.json").read_bytes()),
        SiteInfoPayload.model_validate_json((krakenflex / "site-info-norwich-pear-tree.json").read_bytes()),
        since=CUTOFF,
    )
    expected = json.loads((krakenflex / "expected-site-outages-norwich-pear-tree.json").read_text())
    dumped = [o.model_dump() for o in selection.kept]
    assert dumped == expected
    assert all(list(row) == ["id", "name", "begin", "end"] for row in dumped)
    assert selection.dropped_unknown_device + selection.dropped_before_cutoff + len(dumped) == 108


@pytest.mark.parametrize(
    ("begin", "kept"),
    [
        ("2022-01-01T00:00:00.000Z", True),  # exactly the cut-off: kept
        ("2021-12-31T23:59:59.999Z", False),  # one millisecond before: dropped
        ("2022-01-01T01:00:00+01:00", True),  # the same instant in another offset: kept
        ("2022-01-01T00:59:59.999+01:00", False),  # before the cut-off once converted
        ("2022-01-01T00:00:00Z", True),  # other precision
    ],
)
def test_cutoff_is_inclusive_and_millisecond_exact(begin: str, kept: bool) -> None:
    """Begins compare as instants (any offset or precision), inclusive of the cut-off."""
    selection = select_site_outages(
        parse_outages(outages(("d1", begin, "2022-02-01T00:00:00Z"))), site({"d1": "B1"}), since=CUTOFF
    )
    assert bool(selection.kept) is kept
    if kept:
        assert selection.kept[0].begin == begin  # sent back exactly as received


def test_began_before_and_ended_after_is_dropped() -> None:
    """An outage that began before the cut-off is dropped even if it ended after it."""
    selection = select_site_outages(
        parse_outages(outages(("d1", "2021-07-12T16:31:47.254Z", "2022-10-13T04:05:10.044Z"))),
        site({"d1": "B1"}),
        since=CUTOFF,
    )
    assert (selection.kept, selection.dropped_before_cutoff) == ([], 1)


def test_several_outages_per_device_keep_source_order() -> None:
    """Outages are never keyed by device id: all of a device's outages are kept, in source order."""
    rows = [
        ("d2", "2022-03-01T00:00:00Z", "x"),
        ("d1", "2022-02-01T00:00:00Z", "y"),
        ("d2", "2022-01-05T00:00:00Z", "z"),
    ]
    selection = select_site_outages(
        parse_outages(outages(*rows)), site({"d1": "B1", "d2": "B2"}), since=CUTOFF
    )
    assert [(o.id, o.name, o.end) for o in selection.kept] == [
        ("d2", "B2", "x"),
        ("d1", "B1", "y"),
        ("d2", "B2", "z"),
    ]


def test_unknown_devices_are_dropped_and_counted() -> None:
    """Outages of devices that are not the site's are dropped and counted apart."""
    selection = select_site_outages(
        parse_outages(outages(("other", "2022-05-01T00:00:00Z", "x"))), site({"d1": "B1"}), since=CUTOFF
    )
    assert (selection.kept, selection.dropped_unknown_device) == ([], 1)


def test_since_without_offset_is_refused() -> None:
    """A cut-off without an offset is ambiguous and refused with a clear message."""
    with pytest.raises(InvalidInputError, match="offset"):
        parse_since("2022-01-01T00:00:00")
