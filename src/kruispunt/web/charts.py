"""Bar charts as geometry for server-rendered SVG (pure): the page's template draws the
rectangles; nothing runs in the browser and nothing is fetched (closed network, strict CSP).

A chart is a row of bars, each a stack of segments (fines, warnings, cancelled ...), over a
value axis rounded to a readable top (1, 2 or 5 times a power of ten).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 34
"""Room for the value labels (left) and the bar labels (below)."""


@dataclass(frozen=True, slots=True)
class Segment:
    kind: str
    value: int
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Bar:
    key: str
    label: str
    x: float
    width: float
    total: int
    segments: tuple[Segment, ...]
    show_label: bool
    """Only every so many bars are labelled below the axis (the rest: in their title)."""

    @property
    def centre(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    axis_max: int
    kinds: tuple[str, ...]


def nice_step(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (≥ 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 5, 10):
        if m * power >= value:
            return int(m * power)
    return int(10 * power)  # pragma: no cover (the loop ends at 10)


def stacked_bars(
    rows: Sequence[tuple[str, str, Mapping[str, int]]],
    kinds: Sequence[str],
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    max_labels: int = 12,
    gap: float = 0.2,
) -> Chart:
    """Bars of ``rows`` (key, label, value per kind), segments stacked in ``kinds`` order
    from the axis up. ``gap``: the share of each slot left empty (0 for a histogram)."""
    plot_w = width - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM
    base = TOP + plot_h
    totals = [sum(v.get(k, 0) for k in kinds) for _, _, v in rows]
    step = nice_step(max(totals, default=0) / 4)
    axis_max = step * max(1, math.ceil(max(totals, default=0) / step))
    slot = plot_w / max(1, len(rows))
    every = max(1, math.ceil(len(rows) / max_labels))
    bars = []
    for i, ((key, label, values), total) in enumerate(zip(rows, totals, strict=True)):
        y = float(base)
        segments = []
        for kind in kinds:
            value = values.get(kind, 0)
            if value <= 0:
                continue
            h = plot_h * value / axis_max
            y -= h
            segments.append(Segment(kind, value, round(y, 2), round(h, 2)))
        bars.append(
            Bar(
                key=key,
                label=label,
                x=round(LEFT + i * slot + slot * gap / 2, 2),
                width=round(max(slot * (1 - gap), 1.0), 2),
                total=total,
                segments=tuple(segments),
                show_label=i % every == 0,
            )
        )
    ticks = tuple(
        Tick(round(base - plot_h * v / axis_max, 2), f"{v:,}".replace(",", "\u2009"))
        for v in range(0, axis_max + 1, step)
    )
    return Chart(
        width=width, height=height, left=LEFT, right=width - RIGHT, top=TOP, bottom=base,
        bars=tuple(bars), ticks=ticks, axis_max=axis_max, kinds=tuple(kinds),
    )  # fmt: skip
