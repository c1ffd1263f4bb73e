"""The store side of searches, the same SQL on both engines, every query bounded.

Both stores keep one table per UTC capture day named ``reads_YYYYMMDD`` (SQLite day tables,
PostgreSQL day partitions), with the indexes ``(plate, captured_us)`` and
``(cam, captured_us)``. A search becomes one statement per (day, allowed window) piece, so each
statement touches one day's small indexes, whatever the retention:

- plates: equality or prefix ranges on the plate index (``patterns.plan_for``), the pattern
  as a residual filter; a pattern without known leading characters scans by camera and time;
- places and convoys: ranges on the camera index.

Bounds, refused with ``SearchTooBroad`` (422) before a row is returned: the number of day
tables (``max_days``); the rows a range or scan would visit (``max_scan_rows``, counted first
on the index alone with a ``LIMIT``, so the count itself is bounded); the time of the whole
search (``timeout_ms``: the store interrupts a statement, and the total is checked between
statements). Pages are bounded by ``max_page`` and continue after a ``(captured_us, seq)``
cursor. Only reads inside the decision's windows and zones are ever selected.

Purpose limitation: ``Filters.exclude`` names the cameras whose reads may not serve the
search (cameras registered without the police purpose). Every query honours it: camera lists
are cut before a statement is built, and a plate search without a camera list adds
``+cam NOT IN (...)`` (a residual filter: the plate index still drives the statement).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from kruispunt.domain.reads import Read
from kruispunt.search.convoy import CoRead
from kruispunt.search.errors import SearchInvalid, SearchTooBroad
from kruispunt.search.multisite import SiteVehicle
from kruispunt.search.patterns import PlatePlan, key_sql
from kruispunt.store.sql import Conn, SqlStore

US_PER_DAY = 86_400_000_000
EPOCH = dt.date(1970, 1, 1)
READ_COLUMNS = (
    "seq, read_id, cam, zone, captured_us, received_us, plate_raw, plate, country, "
    "country_inferred, plate_format, confidence, direction, lane, vehicle_class, make, colour, "
    "image_ref"
)
Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Caps:
    max_scan_rows: int = 2_000_000
    max_days: int = 400
    timeout_ms: int = 10_000
    max_page: int = 1000


@dataclass(frozen=True, slots=True)
class Filters:
    """What a search may read (the decision's zones) and what it asks for besides a plate.
    An attribute filter keeps only reads whose camera gave that attribute."""

    zones: frozenset[str]
    cameras: tuple[str, ...] = ()
    """Only these cameras (empty: every camera)."""
    exclude: tuple[str, ...] = ()
    """Never these cameras, even when named (purpose limitation: cameras registered without
    the police purpose)."""
    country: str | None = None
    direction: str | None = None
    vehicle_class: str | None = None
    make: str | None = None
    colour: str | None = None


@dataclass(frozen=True, slots=True)
class Piece:
    """One statement's worth: a day table and a window inside that day."""

    table: str
    lo: int
    hi: int


def table_of(day: dt.date) -> str:
    return f"reads_{day:%Y%m%d}"


def pieces(spans: Sequence[Span], days: Sequence[dt.date]) -> list[Piece]:
    """The (day table, window) pieces of ``spans`` over the days that hold reads, in time
    order. ``spans``: inclusive, sorted, disjoint."""
    out: list[Piece] = []
    for day in sorted(days):
        start = (day - EPOCH).days * US_PER_DAY
        end = start + US_PER_DAY - 1
        for lo, hi in spans:
            a, b = max(lo, start), min(hi, end)
            if a <= b:
                out.append(Piece(table_of(day), a, b))
    return out


def _timed_out(exc: Exception) -> bool:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "interrupt" in str(exc)


def _missing_table(exc: Exception) -> bool:
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)


def _marks(n: int) -> str:
    return ",".join("?" * n)


@dataclass
class _Where:
    parts: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, sql: str, *args: Any) -> None:
        self.parts.append(sql)
        self.args.extend(args)

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "1=1"


class _Run:
    """One search's connection and its deadline."""

    def __init__(self, conn: Conn, deadline: float, timeout_ms: int):
        self.conn = conn
        self.deadline = deadline
        self.timeout_ms = timeout_ms

    def rows(self, sql: str, args: Sequence[Any]) -> list[Any]:
        if time.monotonic() > self.deadline:
            raise _too_slow(self.timeout_ms)
        try:
            return self.conn.execute(sql, args).fetchall()
        except (sqlite3.Error, psycopg.Error) as exc:
            if _timed_out(exc):
                raise _too_slow(self.timeout_ms) from None
            if _missing_table(exc):  # retention dropped the day meanwhile
                return []
            raise


class SearchQueries:
    """Bounded reads for searches over one store (``SqliteStore`` or ``PgStore``)."""

    def __init__(self, store: SqlStore, caps: Caps | None = None):
        self.store = store
        self.caps = caps or Caps()
        self._num_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}

    # -- cameras and days -------------------------------------------------------------------
    def _load_cameras(self) -> None:
        rows = self.store.reader().execute("SELECT id, num FROM cameras").fetchall()
        self._num_of = {str(i): int(n) for i, n in rows}
        self._id_of = {n: i for i, n in self._num_of.items()}

    def camera_nums(self, camera_ids: Sequence[str]) -> list[int]:
        """The store's numbers of these cameras (unknown ones are skipped: no reads)."""
        if any(c not in self._num_of for c in camera_ids):
            self._load_cameras()
        return sorted({self._num_of[c] for c in camera_ids if c in self._num_of})

    def all_camera_nums(self) -> list[int]:
        self._load_cameras()
        return sorted(self._id_of)

    def allowed_nums(self, f: Filters, camera_ids: Sequence[str] | None) -> list[int]:
        """The store's numbers of ``camera_ids`` (None: every camera) less ``f.exclude``."""
        nums = self.all_camera_nums() if camera_ids is None else self.camera_nums(camera_ids)
        banned = set(self.camera_nums(f.exclude)) if f.exclude else set()
        return [n for n in nums if n not in banned]

    def camera_id(self, num: int) -> str:
        if num not in self._id_of:
            self._load_cameras()
        return self._id_of.get(num, f"#{num}")

    def pieces(self, spans: Sequence[Span]) -> list[Piece]:
        """Pieces of ``spans`` over the days the store holds, at most ``max_days`` days."""
        if not spans:
            return []
        first, last = spans[0][0] // US_PER_DAY, spans[-1][1] // US_PER_DAY
        days = [s.day for s in self.store.segments() if first <= (s.day - EPOCH).days <= last]
        if len(days) > self.caps.max_days:
            raise SearchTooBroad(
                f"the period covers {len(days)} days of reads, more than {self.caps.max_days}",
                {"days": len(days), "max_days": self.caps.max_days},
            )
        return pieces(spans, days)

    # -- running statements -----------------------------------------------------------------
    @contextmanager
    def _run(self) -> Iterator[_Run]:
        timeout = self.caps.timeout_ms
        with self.store.timed_reader(timeout) as conn:
            yield _Run(conn, time.monotonic() + timeout / 1000, timeout)

    def _filters(
        self, f: Filters, where: _Where, *, cams: Sequence[int] | None,
        banned: Sequence[int] = (),
    ) -> None:  # fmt: skip
        """Zones always; cameras (``+cam``: never the camera index for a plate search), the
        cameras never to read (``banned``, when no camera list already leaves them out) and
        the attribute filters."""
        zones = sorted(f.zones)
        where.add(f"zone IN ({_marks(len(zones))})", *zones)
        if cams is not None:
            where.add(f"+cam IN ({_marks(len(cams))})", *cams)
        elif banned:
            where.add(f"+cam NOT IN ({_marks(len(banned))})", *banned)
        for column, value in (("country", f.country), ("direction", f.direction),
                              ("vehicle_class", f.vehicle_class)):  # fmt: skip
            if value is not None:
                where.add(f"{column} = ?", value)
        for column, value in (("make", f.make), ("colour", f.colour)):
            if value is not None:
                where.add(f"upper({column}) = ?", value.upper())

    @staticmethod
    def _plate_condition(plan: PlatePlan, where: _Where) -> None:
        if plan.equals:
            where.add(f"plate IN ({_marks(len(plan.equals))})", *plan.equals)
        elif plan.ranges:
            terms, args = [], []
            for lo, hi in plan.ranges:
                if hi is None:
                    terms.append("plate >= ?")
                    args.append(lo)
                else:
                    terms.append("(plate >= ? AND plate < ?)")
                    args += [lo, hi]
            where.add("(" + " OR ".join(terms) + ")", *args)

    def _budget(self, run: _Run, sql_from_where: list[tuple[str, list[Any]]]) -> int:
        """Rows the statements would visit, counted on their index, refused above the cap."""
        left = self.caps.max_scan_rows
        for from_where, args in sql_from_where:
            n = run.rows(f"SELECT count(*) FROM (SELECT 1 FROM {from_where} LIMIT ?) AS c",
                         [*args, left + 1])[0][0]  # fmt: skip
            left -= int(n)
            if left < 0:
                raise SearchTooBroad(
                    f"the search would scan more than {self.caps.max_scan_rows:,} reads: narrow "
                    "the period, the cameras or the plate (more known leading characters)",
                    {"max_scan_rows": self.caps.max_scan_rows},
                )
        return self.caps.max_scan_rows - left

    # -- plates -----------------------------------------------------------------------------
    def plate_reads(
        self,
        plan: PlatePlan,
        spans: Sequence[Span],
        f: Filters,
        *,
        after: tuple[int, int] | None = None,
        limit: int = 100,
    ) -> tuple[list[Read], bool]:
        """Reads of the plates ``plan`` answers, oldest first, after the cursor; and whether
        more follow. ``limit`` is capped by ``max_page``."""
        limit = max(1, min(limit, self.caps.max_page))
        todo = [p for p in self.pieces(spans) if after is None or p.hi >= after[0]]
        scan_cams = None
        if plan.time_scan:
            scan_cams = self.allowed_nums(f, f.cameras or None)
            if not scan_cams:
                return [], False
        cams = None if plan.time_scan or not f.cameras else self.allowed_nums(f, f.cameras)
        if cams == []:
            return [], False
        plain = cams is None and scan_cams is None
        banned = self.camera_nums(f.exclude) if f.exclude and plain else []
        with self._run() as run:
            if not plan.equals:
                self._budget(run, [self._index_part(plan, scan_cams, p) for p in todo])
            rows: list[Any] = []
            for piece in todo:
                where = _Where()
                if scan_cams is not None:
                    where.add(f"cam IN ({_marks(len(scan_cams))})", *scan_cams)
                else:
                    self._plate_condition(plan, where)
                where.add("captured_us BETWEEN ? AND ?", piece.lo, piece.hi)
                if plan.like is not None:
                    where.add("plate LIKE ?", plan.like)
                if plan.key_like is not None:
                    where.add(f"{key_sql()} LIKE ?", plan.key_like)
                self._filters(f, where, cams=cams, banned=banned)
                if after is not None:
                    where.add("(captured_us > ? OR (captured_us = ? AND seq > ?))",
                              after[0], after[0], after[1])  # fmt: skip
                rows += run.rows(
                    f"SELECT {READ_COLUMNS} FROM {piece.table} WHERE {where.sql} "
                    "ORDER BY captured_us, seq LIMIT ?",
                    [*where.args, limit + 1 - len(rows)],
                )
                if len(rows) > limit:
                    break
        return [self._read(r) for r in rows[:limit]], len(rows) > limit

    def _index_part(
        self, plan: PlatePlan, scan_cams: list[int] | None, piece: Piece
    ) -> tuple[str, list[Any]]:
        """``table WHERE ...`` over the index alone, for the scan budget."""
        where = _Where()
        if scan_cams is not None:
            where.add(f"cam IN ({_marks(len(scan_cams))})", *scan_cams)
        else:
            self._plate_condition(plan, where)
        where.add("captured_us BETWEEN ? AND ?", piece.lo, piece.hi)
        return f"{piece.table} WHERE {where.sql}", where.args

    def _read(self, row: Sequence[Any]) -> Read:
        (seq, read_id, cam, zone, cap, rec, raw, plate, country, inferred, fmt, conf,
         direction, lane, vclass, make, colour, image) = row  # fmt: skip
        return Read(
            int(seq), read_id, self.camera_id(int(cam)), zone, int(cap), int(rec), raw, plate,
            country, bool(inferred), fmt, float(conf), direction, lane, vclass, make, colour,
            image,
        )  # fmt: skip

    # -- places -----------------------------------------------------------------------------
    def place_vehicles(
        self, camera_ids: Sequence[str], spans: Sequence[Span], f: Filters
    ) -> tuple[dict[str, list[int]], dict[tuple[str, str | None], SiteVehicle]]:
        """Who passed these cameras inside ``spans``: per camera ``[reads, vehicles]``, and per
        vehicle (plate, country) its reads, first and last time and cameras."""
        cams = self.allowed_nums(f, camera_ids)
        if not cams:
            return {}, {}
        todo = self.pieces(spans)
        per_cam: dict[int, list[Any]] = {}
        vehicles: dict[tuple[str, str | None], list[Any]] = {}
        with self._run() as run:
            self._budget(run, [self._cam_part(cams, p) for p in todo])
            for piece in todo:
                where = _Where()
                where.add(f"cam IN ({_marks(len(cams))})", *cams)
                where.add("captured_us BETWEEN ? AND ?", piece.lo, piece.hi)
                self._filters(f, where, cams=None)
                for plate, country, cam, n, first, last in run.rows(
                    "SELECT plate, country, cam, count(*), min(captured_us), max(captured_us) "
                    f"FROM {piece.table} WHERE {where.sql} GROUP BY plate, country, cam",
                    where.args,
                ):
                    cam_tally = per_cam.setdefault(int(cam), [0, set()])
                    cam_tally[0] += int(n)
                    cam_tally[1].add((plate, country))
                    v = vehicles.setdefault((plate, country), [0, int(first), int(last), set()])
                    v[0] += int(n)
                    v[1] = min(v[1], int(first))
                    v[2] = max(v[2], int(last))
                    v[3].add(int(cam))
        counts = {self.camera_id(c): [t[0], len(t[1])] for c, t in per_cam.items()}
        out = {
            key: SiteVehicle(
                plate=key[0],
                country=key[1],
                reads=v[0],
                first_us=v[1],
                last_us=v[2],
                cameras=sorted(self.camera_id(c) for c in v[3]),
            )
            for key, v in vehicles.items()
        }
        return counts, out

    @staticmethod
    def _cam_part(cams: Sequence[int], piece: Piece) -> tuple[str, list[Any]]:
        return (
            f"{piece.table} WHERE cam IN ({_marks(len(cams))}) AND captured_us BETWEEN ? AND ?",
            [*cams, piece.lo, piece.hi],
        )

    # -- convoys ----------------------------------------------------------------------------
    def around(
        self,
        passages: Sequence[tuple[str, int]],
        gap_us: int,
        spans: Sequence[Span],
        f: Filters,
    ) -> list[list[CoRead]]:
        """For each (camera, time) passage, the reads of that camera within ``gap_us`` either
        side (inside ``spans`` and the zones), bounded by ``max_scan_rows`` in all."""
        if not passages:
            return []
        start = min(t for _, t in passages) - gap_us
        end = max(t for _, t in passages) + gap_us
        tables = {p.table for p in self.pieces([(start, end)])}
        left = self.caps.max_scan_rows
        out: list[list[CoRead]] = []
        zones = sorted(f.zones)
        # Camera numbers first: no second connection is asked for while the run holds one.
        # A camera that may not serve the search (``f.exclude``) is looked around at none.
        num_of = {c: self.allowed_nums(f, [c]) for c in {c for c, _ in passages}}
        with self._run() as run:
            for camera_id, at in passages:
                nums = num_of[camera_id]
                found: list[CoRead] = []
                for lo, hi in _clip(at - gap_us, at + gap_us, spans):
                    for piece in pieces([(lo, hi)], _days_between(lo, hi)):
                        if not nums or piece.table not in tables:
                            continue
                        rows = run.rows(
                            f"SELECT plate, country, captured_us FROM {piece.table} "
                            f"WHERE cam = ? AND captured_us BETWEEN ? AND ? "
                            f"AND zone IN ({_marks(len(zones))}) LIMIT ?",
                            [nums[0], piece.lo, piece.hi, *zones, left + 1],
                        )
                        left -= len(rows)
                        if left < 0:
                            raise SearchTooBroad(
                                f"the convoy search would read more than "
                                f"{self.caps.max_scan_rows:,} reads: shorten the period or "
                                "the gap",
                                {"max_scan_rows": self.caps.max_scan_rows},
                            )
                        found += [CoRead(p, c, int(t)) for p, c, t in rows]
                out.append(found)
        return out


def _clip(lo: int, hi: int, spans: Sequence[Span]) -> list[Span]:
    return [(max(lo, a), min(hi, b)) for a, b in spans if max(lo, a) <= min(hi, b)]


def _days_between(lo: int, hi: int) -> list[dt.date]:
    return [EPOCH + dt.timedelta(days=d) for d in range(lo // US_PER_DAY, hi // US_PER_DAY + 1)]


def _too_slow(timeout_ms: int) -> SearchTooBroad:
    return SearchTooBroad(
        f"the search took longer than {timeout_ms / 1000:g} s and was stopped: narrow the "
        "period, the cameras or the plate",
        {"timeout_ms": timeout_ms},
    )


def parse_cursor(raw: str | None) -> tuple[int, int] | None:
    """A page cursor ``<captured_us>.<seq>`` (as the previous page gave it), or None."""
    if raw is None or raw == "":
        return None
    head, sep, tail = raw.partition(".")
    if not (sep and head.isascii() and head.isdigit() and tail.isascii() and tail.isdigit()):
        raise SearchInvalid("cursor: give back the next_cursor of the previous page", "bad_cursor")
    return int(head), int(tail)


def cursor_of(read: Read) -> str:
    return f"{read.captured_us}.{read.seq}"
