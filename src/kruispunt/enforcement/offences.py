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
from collections.abc import Iterable
from typing import Any

import msgspec

from kruispunt.store.sql import Conn


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


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Offence)


class OffenceQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which offences to list; every field narrows (None: no restriction)."""

    module: str | None = None
    since_day: str | None = None
    until_day: str | None = None
    """Inclusive (YYYY-MM-DD)."""
    status: OffenceStatus | None = None
    zone_id: str | None = None
    category: OffenceCategory | None = None
    after_occurred_us: int = 0
    limit: int = 500


def narrowing(
    columns: Iterable[tuple[str, object]], *, since_day: str | None, until_day: str | None
) -> tuple[list[str], list[Any]]:
    """The WHERE clauses (and their arguments) of a query's filters: each column equal to its
    value (None: any), the local day from ``since_day`` to ``until_day`` inclusive."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in columns:
        if value is not None:
            where.append(f"{column} = ?")
            args.append(str(value))
    if since_day is not None:
        where.append("day >= ?")
        args.append(since_day)
    if until_day is not None:
        where.append("day <= ?")
        args.append(until_day)
    return where, args


class OffenceStore:
    """Offence rows on either engine (portable SQL through ``kruispunt.store.sql.Conn``)."""

    @staticmethod
    def insert(conn: Conn, offences: Iterable[Offence]) -> list[Offence]:
        """Store offences not stored before (same id: the same finding); returns the new."""
        new: list[Offence] = []
        for o in offences:
            cur = conn.execute(
                "INSERT INTO offences (id, module, category, plate, country, day, occurred_us, "
                "zone_id, status, created_us, updated_us, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (o.id, o.module, str(o.category), o.plate, o.country, o.day, o.occurred_us,
                 o.zone_id, str(o.status), o.created_us, o.created_us, _encoder.encode(o)),
            )  # fmt: skip
            if cur.rowcount:
                new.append(o)
        return new

    @staticmethod
    def on_day(conn: Conn, module: str, plate: str, day: str) -> Offence | None:
        """The vehicle's offence of ``module`` on ``day``, if any (one per vehicle per day)."""
        row = conn.execute(
            "SELECT doc FROM offences WHERE module=? AND plate=? AND day=? LIMIT 1",
            (module, plate, day),
        ).fetchone()
        return None if row is None else _decoder.decode(row[0])

    @staticmethod
    def count_for_plate(conn: Conn, module: str, plate: str, *, before_day: str) -> int:
        """How many offences of ``module`` the vehicle had before ``day`` (repeat offences)."""
        row = conn.execute(
            "SELECT COUNT(*) FROM offences WHERE module=? AND plate=? AND day<? AND status<>?",
            (module, plate, before_day, str(OffenceStatus.CANCELLED)),
        ).fetchone()
        return int(row[0])

    @staticmethod
    def query(conn: Conn, q: OffenceQuery) -> list[Offence]:
        where, args = narrowing(
            (("module", q.module), ("status", q.status), ("zone_id", q.zone_id),
             ("category", q.category)),
            since_day=q.since_day, until_day=q.until_day,
        )  # fmt: skip
        rows = conn.execute(
            f"SELECT doc FROM offences WHERE {' AND '.join(['occurred_us > ?', *where])} "
            "ORDER BY occurred_us, id LIMIT ?",
            [q.after_occurred_us, *args, q.limit],
        )
        return [_decoder.decode(r[0]) for r in rows]

    @staticmethod
    def set_status(conn: Conn, offence_id: str, status: OffenceStatus, at_us: int) -> bool:
        row = conn.execute("SELECT doc FROM offences WHERE id=?", (offence_id,)).fetchone()
        if row is None:
            return False
        new = msgspec.structs.replace(_decoder.decode(row[0]), status=status)
        conn.execute(
            "UPDATE offences SET status=?, updated_us=?, doc=? WHERE id=?",
            (str(status), at_us, _encoder.encode(new), offence_id),
        )
        return True
