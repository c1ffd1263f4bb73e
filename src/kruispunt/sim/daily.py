"""The daily traffic curve, as data, and Belgian local time without a tz database."""

from __future__ import annotations

import datetime as dt

# Share of a day's traffic per local hour (0-23), in per mille. Working days: a low night, a
# morning peak at 7-9 and a longer evening peak at 16-18. Weekends: flatter, later, no peaks.
WEEKDAY_PER_MILLE = (
    8, 5, 4, 4, 7, 18, 45, 75, 80, 55, 48, 50,
    53, 52, 54, 63, 76, 82, 64, 46, 35, 28, 21, 14,
)  # fmt: skip
WEEKEND_PER_MILLE = (
    15, 11, 8, 6, 6, 9, 16, 26, 38, 50, 62, 68,
    70, 69, 68, 68, 67, 64, 58, 49, 39, 31, 24, 18,
)  # fmt: skip


def _normalised(per_mille: tuple[int, ...]) -> tuple[float, ...]:
    total = sum(per_mille)
    return tuple(v / total for v in per_mille)


WEEKDAY_SHARES = _normalised(WEEKDAY_PER_MILLE)
WEEKEND_SHARES = _normalised(WEEKEND_PER_MILLE)


def _last_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)  # month < 12: March, October
    return day - dt.timedelta(days=(day.weekday() + 1) % 7)


def brussels_offset(at_utc: dt.datetime) -> dt.timedelta:
    """UTC offset of Belgian local time (EU summer time: last Sunday of March to that of
    October, switching at 01:00 UTC)."""
    year = at_utc.year
    start = dt.datetime.combine(_last_sunday(year, 3), dt.time(1), tzinfo=dt.UTC)
    end = dt.datetime.combine(_last_sunday(year, 10), dt.time(1), tzinfo=dt.UTC)
    return dt.timedelta(hours=2 if start <= at_utc < end else 1)


def local_time(at_utc: dt.datetime) -> dt.datetime:
    """Naive Belgian wall-clock time of a UTC instant."""
    return (at_utc + brussels_offset(at_utc)).replace(tzinfo=None)


def hour_share(at_utc: dt.datetime) -> float:
    """Share of the (local) day's traffic that falls in the local hour containing ``at_utc``."""
    local = local_time(at_utc)
    shares = WEEKEND_SHARES if local.weekday() >= 5 else WEEKDAY_SHARES
    return shares[local.hour]
