"""Public holidays, from rules kept as data (``HealthConfig.holidays_fixed`` and
``holidays_easter_offsets``): traffic on a holiday looks like a Sunday's, so camera health
judges a holiday against the weekend profile instead of raising a drop at every camera.

Pure: dates in, dates out.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable


def easter_sunday(year: int) -> dt.date:
    """Western (Gregorian) Easter Sunday: the anonymous Gregorian computus (Meeus/Jones/
    Butcher), valid for every Gregorian year."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * l_) // 433
    month, day = divmod(h + l_ - 7 * m + 90, 25)
    day = (h + l_ - 7 * m + 33 * month + 19) % 32
    return dt.date(year, month, day)


def holidays(
    years: Iterable[int], *, fixed: Iterable[str], easter_offsets: Iterable[int]
) -> frozenset[dt.date]:
    """The holidays of ``years``: each fixed ``MM-DD`` and each Easter Sunday + offset days."""
    fixed = tuple(fixed)
    offsets = tuple(easter_offsets)
    out: set[dt.date] = set()
    for year in years:
        for month_day in fixed:
            month, day = (int(part) for part in month_day.split("-"))
            if month == 2 and day == 29 and not calendar.isleap(year):
                continue  # a 29 February holiday falls only in leap years
            out.add(dt.date(year, month, day))
        easter = easter_sunday(year)
        out.update(easter + dt.timedelta(days=n) for n in offsets)
    return frozenset(out)
