"""A sparkline as geometry for server-rendered SVG (pure): the template draws the polyline;
nothing runs in the browser to draw it (closed network, strict CSP)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 192, 32, 2


@dataclass(frozen=True, slots=True)
class Sparkline:
    width: int
    height: int
    points: str  # "x,y x,y ..." for <polyline points=...>
    area: str  # the same line closed along the bottom, for a filled <polygon>
    peak: int
    total: int


def sparkline(values: Sequence[int], *, width: int = WIDTH, height: int = HEIGHT) -> Sparkline:
    """Values left (oldest) to right, scaled to the peak (a flat line at the bottom when all
    are zero)."""
    n = max(1, len(values))
    peak = max(values, default=0)
    step = (width - 2 * PAD) / max(1, n - 1)
    usable = height - 2 * PAD
    coords = []
    for i, v in enumerate(values or [0]):
        x = PAD + i * step
        y = height - PAD - (usable * v / peak if peak else 0.0)
        coords.append(f"{x:.1f},{y:.1f}")
    bottom = f"{width - PAD if n > 1 else PAD:.1f},{height - PAD:.1f} {PAD:.1f},{height - PAD:.1f}"
    line = " ".join(coords)
    return Sparkline(width, height, line, f"{line} {bottom}", peak, sum(values))
