"""Figures for the enforcement dashboards: offences per day, top sections and entry cameras,
and the speeds measured on each section (no plate anywhere).

Two sources:

- The offences themselves (``OffenceFacts``: a record without its plate), summed by pure
  functions: per day (warnings, fines, cancelled), per section or camera, and the measured
  speeds their evidence carries.
- ``section_speeds``: every passage section control measures, offence or not, as a count per
  (zone, local day, section, 5 km/h bin). Section control adds its passages with the pure
  ``add_passages`` while it processes a slice, and stores them with
  ``SpeedStatsStore.commit`` in the transaction of its commit (its cursor moves with them,
  so a replayed slice is not counted twice). Until it does, the dashboards plot the
  offences' speeds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

from kruispunt.enforcement.offences import OffenceCategory, OffenceStatus
from kruispunt.store.sql import Conn

BIN_KMH = 5
"""Width of a speed bin (km/h); a bin is named by its lower bound."""
MAX_BIN_KMH = 300
"""Speeds above this go in the last bin (a misread pair, not a car)."""
SECTION_KEYS = ("section_id", "section")
"""Where a section-control offence's evidence names its section."""
SPEED_KEYS = ("average_kmh", "avg_kmh", "measured_kmh", "speed_kmh")
"""Where it holds the measured (average) speed."""


# -- passages of section control ----------------------------------------------------------
class SectionPassage(NamedTuple):
    """One vehicle measured over one section: no plate, only what the histogram needs."""

    section_id: str
    zone_id: str
    """The zone the section belongs to (who may see its figures)."""
    day: str
    """The local day of the passage (YYYY-MM-DD, Europe/Brussels), as offences count days."""
    kmh: float


class SpeedKey(NamedTuple):
    zone_id: str
    day: str
    section_id: str
    bin_kmh: int


def speed_bin(kmh: float) -> int:
    """The lower bound of the 5 km/h bin that holds ``kmh`` (0 to ``MAX_BIN_KMH``)."""
    if not math.isfinite(kmh) or kmh <= 0:
        return 0
    return min(int(kmh // BIN_KMH) * BIN_KMH, MAX_BIN_KMH)


def add_passages(
    counts: Mapping[SpeedKey, int], passages: Iterable[SectionPassage]
) -> dict[SpeedKey, int]:
    """``counts`` with ``passages`` added (a new mapping; ``counts`` is left as it was)."""
    out = dict(counts)
    for p in passages:
        key = SpeedKey(p.zone_id, p.day, p.section_id, speed_bin(p.kmh))
        out[key] = out.get(key, 0) + 1
    return out


class SpeedStatsStore:
    """The ``section_speeds`` table on either engine (portable SQL)."""

    @staticmethod
    def commit(conn: Conn, counts: Mapping[SpeedKey, int]) -> int:
        """Add ``counts`` to the stored ones, inside the caller's (writer) transaction;
        returns how many rows it touched."""
        rows = [(*key, n) for key, n in counts.items() if n > 0]
        if rows:
            conn.executemany(
                "INSERT INTO section_speeds (zone_id, day, section_id, bin_kmh, passages) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (zone_id, day, section_id, bin_kmh) "
                "DO UPDATE SET passages = section_speeds.passages + excluded.passages",
                rows,
            )
        return len(rows)

    @staticmethod
    def distribution(
        conn: Conn,
        *,
        zones: Collection[str],
        since_day: str,
        until_day: str,
        section_id: str | None = None,
    ) -> dict[int, int]:
        """Passages per speed bin of the zones' sections over the days (inclusive)."""
        if not zones:
            return {}
        marks = ", ".join("?" for _ in zones)
        sql = (
            "SELECT bin_kmh, SUM(passages) FROM section_speeds "
            f"WHERE zone_id IN ({marks}) AND day >= ? AND day <= ?"
        )
        args: list[Any] = [*sorted(zones), since_day, until_day]
        if section_id is not None:
            sql += " AND section_id = ?"
            args.append(section_id)
        rows = conn.execute(sql + " GROUP BY bin_kmh", args).fetchall()
        return {int(b): int(n) for b, n in rows}


# -- offences as the dashboards see them ------------------------------------------------
class OffenceFacts(msgspec.Struct, frozen=True, kw_only=True):
    """An offence without its plate: what the dashboards count (decoded from the stored
    record, whose other fields are skipped)."""

    id: str
    module: str
    category: OffenceCategory
    day: str
    zone_id: str
    camera_ids: tuple[str, ...]
    status: OffenceStatus = OffenceStatus.NEW
    fine_eur: int | None = None
    evidence: dict[str, Any] = {}


facts_decoder = msgspec.json.Decoder(OffenceFacts)


class DayCount(msgspec.Struct, frozen=True, kw_only=True):
    day: str
    offences: int
    """All of the day's offences, cancelled ones included."""
    warnings: int
    fines: int
    cancelled: int


class TopRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    """A section id, or a camera id."""
    name: str
    offences: int
    fines: int
    warnings: int
    max_kmh: float | None = None
    """Section control: the highest measured speed among them."""


class SpeedBin(msgspec.Struct, frozen=True, kw_only=True):
    from_kmh: int
    to_kmh: int
    """Exclusive."""
    count: int


def kind_of(f: OffenceFacts) -> str:
    """``cancelled``, ``warning`` (a first offence answered by a letter) or ``fine`` (the
    rest: section control leaves the amount to the back office)."""
    if f.status is OffenceStatus.CANCELLED:
        return "cancelled"
    if f.status is OffenceStatus.WARNING:
        return "warning"
    return "fine"


def days_between(since_day: str, until_day: str) -> list[str]:
    """Every day from ``since_day`` to ``until_day`` (inclusive), as YYYY-MM-DD."""
    first, last = dt.date.fromisoformat(since_day), dt.date.fromisoformat(until_day)
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def per_day(facts: Iterable[OffenceFacts], days: Sequence[str]) -> list[DayCount]:
    """One row per day of ``days`` (days without offences too, for an honest chart)."""
    counts: dict[str, Counter[str]] = {d: Counter() for d in days}
    for f in facts:
        if f.day in counts:
            counts[f.day][kind_of(f)] += 1
    return [
        DayCount(
            day=d,
            offences=c.total(),
            warnings=c["warning"],
            fines=c["fine"],
            cancelled=c["cancelled"],
        )
        for d, c in counts.items()
    ]


def _first(evidence: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if evidence.get(key) is not None:
            return evidence[key]
    return None


def section_of(f: OffenceFacts) -> str:
    """The section of a section-control offence: as its evidence names it, else its
    cameras (entry → exit)."""
    named = _first(f.evidence, SECTION_KEYS)
    if isinstance(named, str) and named:
        return named
    if isinstance(named, dict) and isinstance(named.get("id"), str):
        return str(named["id"])
    return "→".join(f.camera_ids)


def speed_of(f: OffenceFacts) -> float | None:
    """The measured (average) speed in km/h a section-control offence's evidence carries."""
    value = _first(f.evidence, SPEED_KEYS)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _top(
    facts: Iterable[OffenceFacts],
    key_of: Any,
    name_of: Mapping[str, str],
    n: int,
    *,
    speeds: bool,
) -> list[TopRow]:
    kinds: dict[str, Counter[str]] = {}
    fastest: dict[str, float] = {}
    for f in facts:
        key = key_of(f)
        kinds.setdefault(key, Counter())[kind_of(f)] += 1
        kmh = speed_of(f) if speeds else None
        if kmh is not None and kmh > fastest.get(key, -1.0):
            fastest[key] = kmh
    ranked = sorted(kinds.items(), key=lambda kv: (-kv[1].total(), kv[0]))[:n]
    return [
        TopRow(
            id=key,
            name=name_of.get(key, key),
            offences=c.total(),
            fines=c["fine"],
            warnings=c["warning"],
            max_kmh=fastest.get(key),
        )
        for key, c in ranked
    ]


def top_sections(facts: Iterable[OffenceFacts], names: Mapping[str, str], n: int) -> list[TopRow]:
    """The sections with the most offences (ties: by id), with their fastest passage."""
    return _top(facts, section_of, names, n, speeds=True)


def top_cameras(facts: Iterable[OffenceFacts], names: Mapping[str, str], n: int) -> list[TopRow]:
    """The (entry) cameras that saw the most offences: an offence counts at its first."""
    return _top(facts, lambda f: f.camera_ids[0] if f.camera_ids else "", names, n, speeds=False)


def offence_speeds(facts: Iterable[OffenceFacts]) -> dict[int, int]:
    """Offences per 5 km/h bin of their measured speed (those without one are left out)."""
    out: Counter[int] = Counter()
    for f in facts:
        kmh = speed_of(f)
        if kmh is not None:
            out[speed_bin(kmh)] += 1
    return dict(out)


def histogram(bins: Mapping[int, int]) -> list[SpeedBin]:
    """Contiguous bins from the lowest to the highest non-empty one (gaps as zero)."""
    filled = [b for b, n in bins.items() if n > 0]
    if not filled:
        return []
    return [
        SpeedBin(from_kmh=b, to_kmh=b + BIN_KMH, count=bins.get(b, 0))
        for b in range(min(filled), max(filled) + BIN_KMH, BIN_KMH)
    ]


def section_names(facts: Iterable[OffenceFacts], camera_names: Mapping[str, str]) -> dict[str, str]:
    """A readable name per section: its evidence's ``section_name``, else its cameras'."""
    names: dict[str, str] = {}
    for f in facts:
        key = section_of(f)
        if key in names:
            continue
        given = f.evidence.get("section_name")
        names[key] = (
            given
            if isinstance(given, str) and given
            else " → ".join(camera_names.get(c, c) for c in f.camera_ids)
        )
    return names
