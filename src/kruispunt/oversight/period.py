"""A report's period: [since, until) in microseconds, read from dates or times (pure).

A date means local midnight in the report's time zone; as ``until`` it counts whole (the
period ends at the next midnight), so ``since=2025-06-01&until=2025-06-30`` is June. A time
with a UTC offset is taken as given; one without is local. No ``until``: now; no ``since``:
the default number of days before ``until``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import msgspec

from kruispunt.errors import Refused

US_PER_DAY = 86_400_000_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class PeriodError(Refused):
    """The period asked for cannot be reported on (400)."""

    status = 400
    code = "bad_period"


class Period(msgspec.Struct, frozen=True, kw_only=True):
    since_us: int
    until_us: int
    timezone: str

    def contains(self, at_us: int) -> bool:
        return self.since_us <= at_us < self.until_us

    @property
    def days(self) -> float:
        return (self.until_us - self.since_us) / US_PER_DAY

    def local(self, at_us: int) -> dt.datetime:
        return local_time(at_us, self.timezone)


def local_time(at_us: int, timezone: str) -> dt.datetime:
    return (EPOCH + dt.timedelta(microseconds=at_us)).astimezone(zoneinfo.ZoneInfo(timezone))


def to_us(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def _moment(name: str, text: str, tz: zoneinfo.ZoneInfo, *, end: bool) -> int:
    text = text.strip()
    try:
        if _DATE.match(text):
            day = dt.date.fromisoformat(text)
            if end:
                day += dt.timedelta(days=1)
            return to_us(dt.datetime.combine(day, dt.time(), tz))
        moment = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise PeriodError(
            f"{name}: a date (2025-06-01) or a time (2025-06-01T08:00:00+02:00), not {text[:40]!r}",
            "bad_date",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return to_us(moment)


def period_from(
    since: str | None,
    until: str | None,
    *,
    now_us: int,
    timezone: str,
    default_days: int,
    max_days: int,
) -> Period:
    """The period of ``since`` and ``until`` as given (either may be None), or PeriodError."""
    tz = zoneinfo.ZoneInfo(timezone)
    until_us = _moment("until", until, tz, end=True) if until else now_us
    since_us = (
        _moment("since", since, tz, end=False) if since else until_us - default_days * US_PER_DAY
    )
    if since_us >= until_us:
        raise PeriodError("the period ends before it begins (since must be before until)")
    if until_us - since_us > max_days * US_PER_DAY:
        raise PeriodError(
            f"the period is longer than {max_days} days: ask for shorter periods",
            "period_too_long",
        )
    return Period(since_us=since_us, until_us=until_us, timezone=timezone)
