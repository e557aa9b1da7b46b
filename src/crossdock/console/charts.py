"""Small SVG charts drawn on the server: no chart library, nothing to download, readable without
JavaScript. Each returns markup safe to put in a template (``Markup``), with a ``<title>`` and an
``aria-label`` saying what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 600, 160
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 22, 8


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    tone: str = "ok"  # ok | bad | warn | muted: a CSS class of the console's style sheet
    note: str = ""


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]  # (x, y)
    tone: str = "ok"


def _empty(x: float, y: float) -> str:
    return f'<text class="empty" x="{x}" y="{y}" text-anchor="middle">no data</text>'


def _frame(label: str, body: str, *, width: int = WIDTH, height: int = HEIGHT, kind: str = "") -> Markup:
    """The chart's markup: every value in ``body`` was escaped where it was written."""
    text = escape(label)
    return Markup(  # noqa: S704 - built from escaped values only
        f'<svg class="chart{kind}" viewBox="0 0 {width} {height}" role="img" aria-label="{text}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg"><title>{text}</title>{body}</svg>'
    )


def _axis(top: float, unit: str) -> str:
    bottom = HEIGHT - PAD_BOTTOM
    return (
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{bottom}"/>'
        f'<line class="axis" x1="{PAD_LEFT}" y1="{bottom}" x2="{WIDTH}" y2="{bottom}"/>'
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end">'
        f"{escape(_short(top))}{unit}</text>"
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{bottom}" text-anchor="end">0</text>'
    )


def _short(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def bar_chart(label: str, bars: Sequence[Bar], *, top: float | None = None, unit: str = "") -> Markup:
    """Vertical bars, one per item, left to right; empty input draws the axes and says "no data"."""
    highest = top if top is not None else max((bar.value for bar in bars), default=0.0)
    highest = highest or 1.0
    body = [_axis(highest, unit)]
    if not bars:
        body.append(_empty(WIDTH / 2, HEIGHT / 2))
        return _frame(label, "".join(body))
    span = (WIDTH - PAD_LEFT - 4) / len(bars)
    usable = HEIGHT - PAD_BOTTOM - PAD_TOP
    for index, bar in enumerate(bars):
        height = max(1.0, usable * min(bar.value, highest) / highest) if bar.value > 0 else 0.0
        x = PAD_LEFT + 2 + index * span
        y = HEIGHT - PAD_BOTTOM - height
        tip = escape(f"{bar.label}: {_short(bar.value)}{unit}{' — ' + bar.note if bar.note else ''}")
        body.append(
            f'<rect class="bar {escape(bar.tone)}" x="{x:.1f}" y="{y:.1f}" width="{max(1.0, span - 2):.1f}" '
            f'height="{height:.1f}"><title>{tip}</title></rect>'
        )
    last = len(bars) - 1
    for index, anchor in ((0, "start"), (last, "end")) if last else ((0, "start"),):
        x = PAD_LEFT + 2 + (index * span if anchor == "start" else (index + 1) * span - 2)
        body.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
            f"{escape(bars[index].label)}</text>"
        )
    return _frame(label, "".join(body))


def line_chart(
    label: str, series: Sequence[Series], *, x_labels: tuple[str, str] = ("", ""), limit: float | None = None
) -> Markup:
    """Lines over a shared x range; ``limit`` draws a dashed horizontal line (e.g. a rate limit)."""
    points = [point for line in series for point in line.points]
    body: list[str] = []
    if not points:
        body.append(_axis(limit or 1.0, ""))
        body.append(_empty(WIDTH / 2, HEIGHT / 2))
        return _frame(label, "".join(body))
    low_x = min(x for x, _ in points)
    high_x = max(x for x, _ in points)
    top = max([y for _, y in points] + ([limit] if limit else [])) or 1.0
    top *= 1.1
    body.append(_axis(top, ""))
    usable_w = WIDTH - PAD_LEFT - 8
    usable_h = HEIGHT - PAD_BOTTOM - PAD_TOP

    def place(x: float, y: float) -> tuple[float, float]:
        across = (x - low_x) / (high_x - low_x) if high_x > low_x else 0.5
        return PAD_LEFT + 4 + across * usable_w, HEIGHT - PAD_BOTTOM - usable_h * y / top

    if limit is not None:
        _, y = place(low_x, limit)
        body.append(f'<line class="limit" x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}"/>')
        body.append(
            f'<text class="tick" x="{WIDTH - 4}" y="{y - 3:.1f}" text-anchor="end">'
            f"limit {_short(limit)}</text>"
        )
    for line in series:
        placed = [place(x, y) for x, y in sorted(line.points)]
        if len(placed) == 1:
            x, y = placed[0]
            body.append(f'<circle class="dot {escape(line.tone)}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(placed))
        body.append(
            f'<path class="line {escape(line.tone)}" d="{path}"><title>{escape(line.name)}</title></path>'
        )
    body.append(f'<text class="tick" x="{PAD_LEFT + 4}" y="{HEIGHT - 6}">{escape(x_labels[0])}</text>')
    body.append(
        f'<text class="tick" x="{WIDTH - 4}" y="{HEIGHT - 6}" text-anchor="end">{escape(x_labels[1])}</text>'
    )
    return _frame(label, "".join(body))


@dataclass(frozen=True, slots=True)
class Span:
    lane: str
    start: float
    end: float
    tone: str = "bad"
    note: str = ""


def timeline(
    label: str,
    spans: Sequence[Span],
    *,
    start: float,
    end: float,
    lanes: Sequence[str],
    x_labels: tuple[str, str] = ("", ""),
) -> Markup:
    """Horizontal spans per lane between ``start`` and ``end`` (e.g. outage events per controller);
    ``x_labels`` are written under both ends of the time axis."""
    row = 22
    height = max(40, PAD_TOP + row * len(lanes) + PAD_BOTTOM)
    left = 150
    base = height - PAD_BOTTOM
    body = [f'<line class="axis" x1="{left}" y1="{base}" x2="{WIDTH}" y2="{base}"/>']
    if not lanes:
        body.append(_empty(WIDTH / 2, height / 2))
        return _frame(label, "".join(body), height=height, kind=" timeline")
    width = WIDTH - left - 4
    total = max(end - start, 1e-9)
    index = {lane: number for number, lane in enumerate(lanes)}
    for lane, number in index.items():
        y = PAD_TOP + number * row + row * 0.7
        body.append(
            f'<text class="tick" x="{left - 6}" y="{y:.1f}" text-anchor="end">{escape(lane[:24])}</text>'
        )
    for span in spans:
        if span.lane not in index:
            continue
        x0 = left + width * (max(span.start, start) - start) / total
        x1 = left + width * (min(span.end, end) - start) / total
        y = PAD_TOP + index[span.lane] * row + 3
        tip = escape(f"{span.lane}: {span.note}" if span.note else span.lane)
        body.append(
            f'<rect class="span {escape(span.tone)}" x="{x0:.1f}" y="{y:.1f}" '
            f'width="{max(2.0, x1 - x0):.1f}" height="{row - 6}"><title>{tip}</title></rect>'
        )
    if any(x_labels):
        # Class "when", not "tick": the ticks of a timeline are its lanes' names.
        body.append(f'<text class="when" x="{left}" y="{height - 6}">{escape(x_labels[0])}</text>')
        body.append(
            f'<text class="when" x="{WIDTH - 4}" y="{height - 6}" text-anchor="end">'
            f"{escape(x_labels[1])}</text>"
        )
    return _frame(label, "".join(body), height=height, kind=" timeline")
