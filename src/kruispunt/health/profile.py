"""A camera's expected reads per quarter hour, learned from its own traffic counts.

The profile keys on (weekday or weekend, quarter hour of the local day): rush hour on a
Tuesday is compared with earlier Tuesdays to Fridays, Sunday night with earlier weekend
nights. Each slot keeps the median, the low quartile and a MAD-based spread over the days
seen, so a few odd days (a closed road, a festival) do not move it. Days with no read at all
are outages, not traffic, and are left out.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from kruispunt.health.config import HealthConfig
from kruispunt.health.stats import MAD_TO_SIGMA, mad, median, quantile
from kruispunt.processors.traffic_counts import BUCKET_US

DayType = Literal["weekday", "weekend"]
SlotKey = tuple[DayType, int]
BucketCounts = Mapping[int, tuple[int, int, int]]
"""One camera's counts: bucket start (µs, UTC) -> (reads, low-confidence, foreign)."""


def bucket_start(t_us: int) -> int:
    return t_us - t_us % BUCKET_US


@dataclass(frozen=True)
class SlotStats:
    days: int
    median: float
    low_quartile: float
    spread: float  # robust standard deviation of the count between days
    low_conf_share: float  # pooled share of low-confidence reads


@dataclass(frozen=True)
class CameraProfile:
    camera_id: str
    timezone: str
    history_days: int
    min_history_days: int
    min_days_per_slot: int
    slots: dict[SlotKey, SlotStats]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)

    @property
    def ready(self) -> bool:
        return self.history_days >= self.min_history_days

    def slot_of(self, bucket_us: int) -> SlotKey:
        local = _local(bucket_us, self.timezone)
        weekend = local.weekday() >= 5 or local.date() in self.holidays
        return ("weekend" if weekend else "weekday", (local.hour * 60 + local.minute) // 15)

    def stats(self, bucket_us: int) -> SlotStats | None:
        """The slot's statistics, or None while there is too little history to judge."""
        if not self.ready:
            return None
        s = self.slots.get(self.slot_of(bucket_us))
        if s is None or s.days < self.min_days_per_slot:
            return None
        return s

    def window(self, start_us: int, end_us: int) -> list[tuple[int, SlotStats]] | None:
        """(bucket start, stats) for every bucket overlapping [start, end); None if any slot
        is not ready."""
        out: list[tuple[int, SlotStats]] = []
        for b in range(bucket_start(start_us), end_us, BUCKET_US):
            s = self.stats(b)
            if s is None:
                return None
            out.append((b, s))
        return out

    def expected_low(self, start_us: int, end_us: int) -> float | None:
        """Reads a low-traffic day (low quartile) still brings in [start, end)."""
        buckets = self.window(start_us, end_us)
        if buckets is None:
            return None
        total = 0.0
        for b, s in buckets:
            overlap = min(end_us, b + BUCKET_US) - max(start_us, b)
            total += s.low_quartile * overlap / BUCKET_US
        return total


def _local(t_us: int, timezone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(t_us / 1_000_000, tz=zoneinfo.ZoneInfo(timezone))


def learn_profile(
    camera_id: str,
    counts: BucketCounts,
    *,
    start_us: int,
    end_us: int,
    config: HealthConfig,
    holidays: Collection[dt.date] = (),
) -> CameraProfile:
    """Learn from the buckets in [start_us, end_us); a bucket missing from ``counts`` is 0."""
    tz = zoneinfo.ZoneInfo(config.timezone)
    hol = frozenset(holidays)
    per_day: dict[dt.date, dict[SlotKey, tuple[int, int]]] = {}
    for b in range(bucket_start(start_us), end_us, BUCKET_US):
        local = dt.datetime.fromtimestamp(b / 1_000_000, tz=tz)
        weekend = local.weekday() >= 5 or local.date() in hol
        key: SlotKey = ("weekend" if weekend else "weekday", (local.hour * 60 + local.minute) // 15)
        reads, low, _foreign = counts.get(b, (0, 0, 0))
        day = per_day.setdefault(local.date(), {})
        prev = day.get(key, (0, 0))
        day[key] = (prev[0] + reads, prev[1] + low)  # the repeated hour when clocks go back
    samples: dict[SlotKey, list[tuple[int, int]]] = {}
    days_with_data = 0
    for day in per_day.values():
        if sum(r for r, _ in day.values()) == 0:
            continue  # an outage day teaches nothing about traffic
        days_with_data += 1
        for key, value in day.items():
            samples.setdefault(key, []).append(value)
    slots = {key: _slot_stats(values) for key, values in samples.items()}
    return CameraProfile(
        camera_id=camera_id,
        timezone=config.timezone,
        history_days=days_with_data,
        min_history_days=config.min_history_days,
        min_days_per_slot=config.min_days_per_slot,
        slots=slots,
        holidays=hol,
    )


def _slot_stats(values: list[tuple[int, int]]) -> SlotStats:
    reads = [float(r) for r, _ in values]
    total = sum(r for r, _ in values)
    low = sum(lo for _, lo in values)
    return SlotStats(
        days=len(values),
        median=median(reads),
        low_quartile=quantile(reads, 0.25),
        spread=MAD_TO_SIGMA * mad(reads),
        low_conf_share=low / total if total else 0.0,
    )
