"""Small robust statistics, on plain floats."""

from __future__ import annotations

from collections.abc import Sequence

MAD_TO_SIGMA = 1.4826  # MAD times this estimates a normal standard deviation


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of ``values`` (need not be sorted; must not be empty)."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return quantile(values, 0.5)


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    m = median(values)
    return median([abs(v - m) for v in values])
