"""Retention: which days of reads the law no longer allows us to keep (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable


def days_to_drop(days: Iterable[dt.date], *, today: dt.date, keep_days: int) -> list[dt.date]:
    """Days strictly older than ``keep_days`` before ``today`` (UTC capture days).

    A day is dropped only when every read in it is past the limit: the newest read of day D
    is captured just before D+1, so D goes once D+1 <= today - keep_days.
    """
    cutoff = today - dt.timedelta(days=keep_days)
    return sorted(d for d in days if d + dt.timedelta(days=1) <= cutoff)
