"""The console's SVG charts: drawn from the values given, escaped, and saying so when empty."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from crossdock.console.charts import Bar, Series, Span, bar_chart, line_chart, timeline

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))  # noqa: S314 - markup this test just drew


def test_a_bar_chart_draws_one_bar_per_value_scaled_to_the_top() -> None:
    chart = parse(bar_chart("runs", [Bar("a", 50), Bar("b", 100, "bad"), Bar("c", 0, "muted")], top=100))
    bars = chart.findall(f"{SVG}rect")
    assert len(bars) == 3
    heights = [float(bar.get("height", "0")) for bar in bars]
    assert heights[1] == 2 * heights[0]
    assert heights[2] == 0
    assert bars[1].get("class") == "bar bad"
    assert chart.get("role") == "img"
    assert chart.get("aria-label") == "runs"


def test_an_empty_chart_says_no_data() -> None:
    for markup in (bar_chart("x", []), line_chart("x", []), timeline("x", [], start=0, end=1, lanes=[])):
        assert "no data" in str(markup)
        parse(markup)  # still valid SVG


def test_labels_are_escaped() -> None:
    markup = str(bar_chart('<script>"x"', [Bar("<b>", 1, note="a & b")]))
    assert "<script>" not in markup
    assert "&lt;b&gt;" in markup
    parse(markup)


def test_a_line_chart_draws_each_series_and_the_limit() -> None:
    chart = parse(
        line_chart(
            "rate",
            [Series("sent", [(0, 1), (1, 5), (2, 3)]), Series("other", [(1, 2)], "bad")],
            limit=6,
            x_labels=("12:00", "13:00"),
        )
    )
    assert len(chart.findall(f"{SVG}path")) == 1
    assert len(chart.findall(f"{SVG}circle")) == 1
    limit = [line for line in chart.findall(f"{SVG}line") if line.get("class") == "limit"]
    assert len(limit) == 1
    path = chart.find(f"{SVG}path")
    assert path is not None
    assert re.match(r"M[\d.]+,[\d.]+ L", path.get("d", ""))


def test_a_timeline_places_spans_in_their_lanes_and_clips_them_to_the_range() -> None:
    chart = parse(
        timeline(
            "events",
            [Span("c1", 10, 20), Span("c2", -5, 5, "warn"), Span("unknown", 0, 1)],
            start=0,
            end=40,
            lanes=["c1", "c2"],
        )
    )
    spans = chart.findall(f"{SVG}rect")
    assert len(spans) == 2  # the span of an unlisted lane is not drawn
    first, second = (float(span.get("x", "0")) for span in spans)
    assert second < first  # c2's span starts at the range's start, c1's a quarter in
    assert spans[1].get("class") == "span warn"


def test_a_timeline_writes_its_range_under_the_axis() -> None:
    ends = ("00:00", "04:00")
    markup = str(timeline("events", [Span("c1", 1, 2)], start=0, end=4, lanes=["c1"], x_labels=ends))
    assert ">00:00</text>" in markup
    assert ">04:00</text>" in markup
    parse(markup)
