"""Offence records: what section control and the LEZ find, ready to exchange.

Categories follow the EU cross-border enforcement directive 2015/413 (and its amendment
2024/3237, which adds vehicle access restrictions such as a low-emission zone), so a record
can go to another state's contact point as it is. An offence carries its evidence (the reads,
the computation, the margin or the rule) and holds no holder name: the back office that
processes fines identifies the holder.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

import msgspec


class OffenceCategory(enum.StrEnum):
    SPEEDING = "speeding"
    SEAT_BELT = "seat_belt"
    RED_LIGHT = "red_light"
    DRINK_DRIVING = "drink_driving"
    DRUGS = "drugs"
    HELMET = "helmet"
    FORBIDDEN_LANE = "forbidden_lane"
    PHONE = "phone"
    ACCESS_RESTRICTION = "access_restriction"


class OffenceStatus(enum.StrEnum):
    NEW = "new"
    WARNING = "warning"
    """A first offence answered by a warning, not a fine (the LEZ's first time)."""
    EXPORTED = "exported"
    """Handed to the processing back office."""
    CANCELLED = "cancelled"


class Offence(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    module: str
    """``section_control`` or ``lez``: which processor found it (purpose limitation)."""
    category: OffenceCategory
    plate: str
    country: str | None
    day: str
    """The local day it happened (YYYY-MM-DD, Europe/Brussels): one LEZ offence per vehicle
    per day."""
    occurred_us: int
    created_us: int
    zone_id: str
    """The zone (or city) whose camera saw it."""
    camera_ids: tuple[str, ...]
    status: OffenceStatus = OffenceStatus.NEW
    fine_eur: int | None = None
    evidence: dict[str, Any] = {}
    """The reads (ids, cameras, times, confidence), the computation and the rule applied."""


def offence_id(module: str, *parts: str) -> str:
    """Deterministic: the same finding from a replayed log is the same offence."""
    digest = hashlib.sha256("\x1f".join((module, *parts)).encode()).hexdigest()
    return f"o-{digest[:24]}"
