"""What the domain stores (users, hotlists, hits, webhooks, audit) need of a SQL store.

They write portable SQL with ``?`` placeholders (SQLite's style; the PostgreSQL store
translates) and the subset both engines share: ``ON CONFLICT``, ``RETURNING``,
``IS NOT DISTINCT FROM``. A write runs inside the writer transaction the caller holds, so a
change and its audit record commit together; reads use the calling thread's reader.
"""

from __future__ import annotations

import abc
import contextlib
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import msgspec
import psycopg

from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.health.events import AlarmEvent, decode_alarm, encode_alarm
from kruispunt.store.base import CameraRecord, ReadStore, StoreError, TrafficCount

US_PER_DAY = 86_400_000_000

_camera_decoder = msgspec.json.Decoder(Camera)

# A failure of either engine: nothing of the transaction was applied.
DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error, StoreError)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """A connection as the domain stores use it (``sqlite3.Connection`` is one)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class SqlStore(ReadStore):
    """A read store that also hosts the domain tables (schema and migrations are its own)."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Conn]:
        """A write transaction (writer thread, or one per call in a worker process)."""

    @abc.abstractmethod
    def reader(self) -> Conn:
        """A connection for reads that sees every committed change (any thread)."""

    def timed_reader(self, timeout_ms: int) -> contextlib.AbstractContextManager[Conn]:
        """A reader whose statements are interrupted once ``timeout_ms`` have passed since
        it was taken (searches: a query too wide fails fast instead of holding the node).
        The engine's own error is raised (see ``kruispunt.search.queries``)."""
        return contextlib.nullcontext(self.reader())

    def batch(self) -> contextlib.AbstractContextManager[object]:
        """Several writes committed as one where the engine can nest transactions (a worker
        archives a batch and commits every processor's records in one commit); otherwise
        each write commits on its own."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def lock(self, conn: Conn, name: str) -> None:
        """Inside a transaction: serialise with every other process writing under ``name``
        until commit (the audit chain must not fork). A no-op for a single-writer engine."""

    # -- what both engines do with the same SQL ----------------------------------------------
    @abc.abstractmethod
    def _camera_id(self, num: int) -> str:
        """The id of the camera the log knows by ``num``."""

    def _row_to_read(self, row: Sequence[Any]) -> Read:
        (seq, read_id, cam, zone, cap, rec, raw, plate, country, inferred, fmt, conf,
         direction, lane, vclass, make, colour, image) = row  # fmt: skip
        return Read(
            seq, read_id, self._camera_id(cam), zone, cap, rec, raw, plate, country,
            bool(inferred), fmt, conf, direction, lane, vclass, make, colour, image,
        )  # fmt: skip

    def reads_captured(
        self,
        conn: Conn,
        since_us: int,
        until_us: int,
        *,
        zone: str | None = None,
        plates: Sequence[str] = (),
        cameras: Sequence[str] = (),
        read_ids: Sequence[str] = (),
    ) -> Iterator[Read]:
        """The stored reads captured from ``since_us`` to ``until_us`` (both included), of
        ``zone``, ``plates``, ``cameras`` (ids) and ``read_ids`` (None or empty: any), in
        sequence order within each capture day; on ``conn`` (the caller's transaction, or a
        reader). Internal, like ``reads_of_plate``: legal holds copy what they keep of a day
        before retention drops it."""
        if since_us > until_us:
            return
        where = ["captured_us BETWEEN ? AND ?"]
        args: list[Any] = [since_us, until_us]
        if zone is not None:
            where.append("zone=?")
            args.append(zone)
        if cameras:
            found = conn.execute(
                f"SELECT num FROM cameras WHERE id IN ({_marks(len(cameras))})", list(cameras)
            )
            nums = [int(r[0]) for r in found]
            if not nums:
                return
            where.append(f"cam IN ({_marks(len(nums))})")
            args += nums
        for column, values in (("plate", plates), ("read_id", read_ids)):
            if values:
                where.append(f"{column} IN ({_marks(len(values))})")
                args += values
        for row in self._day_rows(conn, since_us, until_us, " AND ".join(where), args):
            yield self._row_to_read(row)

    @abc.abstractmethod
    def _day_rows(
        self, conn: Conn, since_us: int, until_us: int, condition: str, args: Sequence[Any]
    ) -> list[Any]:
        """The rows (a read's columns, in its order) of the capture days from ``since_us``
        to ``until_us`` that meet ``condition``, in sequence order within each day."""

    def delete_reads(self, conn: Conn, reads: Sequence[Read]) -> int:
        """Inside the caller's write transaction: delete these stored reads (found by their
        capture day and seq; one already gone is skipped); returns how many went. Internal:
        the LEZ deletes the reads of admitted vehicles within a day of their capture."""
        by_day: dict[int, list[int]] = {}
        for r in reads:
            by_day.setdefault(r.captured_us // US_PER_DAY, []).append(r.seq)
        gone = 0
        for day_number, seqs in sorted(by_day.items()):
            for start in range(0, len(seqs), 500):
                gone += self._delete_day_seqs(conn, day_number, seqs[start : start + 500])
        return gone

    @abc.abstractmethod
    def _delete_day_seqs(self, conn: Conn, day_number: int, seqs: Sequence[int]) -> int:
        """Delete the reads ``seqs`` of one capture day (days since the epoch) and count
        them out of the day's segment; returns how many were deleted."""

    def commit_processor(
        self,
        name: str,
        from_cursor: int,
        cursor: int,
        counts: Mapping[tuple[str, int], tuple[int, int, int]],
    ) -> None:
        try:
            with self.transaction() as conn:
                self.move_cursor(conn, name, from_cursor, cursor)
                conn.executemany(
                    "INSERT INTO traffic_counts (camera_id, bucket_us, reads, low_confidence, "
                    "foreign_plates) VALUES (?, ?, ?, ?, ?) ON CONFLICT (camera_id, bucket_us) "
                    "DO UPDATE SET reads = traffic_counts.reads + excluded.reads, "
                    "low_confidence = traffic_counts.low_confidence + excluded.low_confidence, "
                    "foreign_plates = traffic_counts.foreign_plates + excluded.foreign_plates",
                    [(cam, bucket, *values) for (cam, bucket), values in counts.items()],
                )
        except DB_ERRORS as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"processor commit failed: {exc}") from exc

    def cursor(self, name: str) -> int:
        row = (
            self.reader()
            .execute("SELECT seq FROM processor_cursors WHERE name=?", (name,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def cursors(self) -> dict[str, int]:
        rows = self.reader().execute("SELECT name, seq FROM processor_cursors")
        return {str(n): int(s) for n, s in rows}

    def cameras(self) -> list[CameraRecord]:
        rows = self.reader().execute(
            "SELECT doc, token_hash FROM cameras WHERE deleted=0 ORDER BY id"
        )
        return [CameraRecord(_camera_decoder.decode(doc), token) for doc, token in rows]

    def traffic_counts(self, since_us: int, camera_id: str | None = None) -> list[TrafficCount]:
        statement = (
            "SELECT camera_id, bucket_us, reads, low_confidence, foreign_plates "
            "FROM traffic_counts WHERE bucket_us >= ?"
        )
        args: tuple[Any, ...] = (since_us,)
        if camera_id is not None:
            statement += " AND camera_id = ?"
            args += (camera_id,)
        rows = self.reader().execute(statement + " ORDER BY camera_id, bucket_us", args)
        return [TrafficCount(c, int(b), int(r), int(lo), int(f)) for c, b, r, lo, f in rows]

    # -- camera health's alarm log (kruispunt.health.events) ------------------------------
    def record_camera_alarms(self, events: Sequence[AlarmEvent]) -> list[AlarmEvent]:
        """Writer thread: store alarm events not stored yet (by alarm id and event); returns
        the new ones with their seq, in order. Storing one again changes nothing."""
        new: list[AlarmEvent] = []
        with self.transaction() as conn:
            if events:
                serialise(conn, "kruispunt.camera_alarms")  # seqs visible in their order
            for e in events:
                a = e.alarm
                row = conn.execute(
                    "INSERT INTO camera_alarm_events (alarm_id, event, camera_id, "
                    "camera_zone_id, manager_zone_id, kind, severity, since_us, at_us, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (alarm_id, event) DO NOTHING RETURNING seq",
                    (a.alarm_id, e.event, a.camera_id, e.camera_zone_id, e.manager_zone_id,
                     a.kind, a.severity, a.since_us, e.at_us, encode_alarm(a)),
                ).fetchone()  # fmt: skip
                if row is not None:
                    new.append(msgspec.structs.replace(e, seq=int(row[0])))
        return new

    def camera_alarm_events(
        self,
        *,
        after_seq: int = 0,
        since_us: int | None = None,
        until_us: int | None = None,
        camera_ids: Sequence[str] | None = None,
        zone_ids: Sequence[str] | None = None,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[AlarmEvent]:
        """Alarm events (any thread): after a seq, in a period (event time), of these cameras,
        of cameras in or managed by these zones (None: any; empty: none)."""
        if (camera_ids is not None and not camera_ids) or (zone_ids is not None and not zone_ids):
            return []
        where: list[str] = ["seq > ?"]
        args: list[Any] = [after_seq]
        if since_us is not None:
            where.append("at_us >= ?")
            args.append(since_us)
        if until_us is not None:
            where.append("at_us <= ?")
            args.append(until_us)
        if camera_ids is not None:
            where.append(f"camera_id IN ({_marks(len(camera_ids))})")
            args += camera_ids
        if zone_ids is not None:
            marks = _marks(len(zone_ids))
            where.append(f"(camera_zone_id IN ({marks}) OR manager_zone_id IN ({marks}))")
            args += [*zone_ids, *zone_ids]
        order = "DESC" if newest_first else "ASC"
        rows = self.reader().execute(
            "SELECT seq, event, at_us, camera_zone_id, manager_zone_id, doc "
            f"FROM camera_alarm_events WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?",
            [*args, limit],
        )
        return [_alarm_event(row) for row in rows]

    def open_camera_alarms(self) -> list[AlarmEvent]:
        """The raise events of the alarms not cleared yet (any thread), in seq order."""
        rows = self.reader().execute(
            "SELECT seq, event, at_us, camera_zone_id, manager_zone_id, doc "
            "FROM camera_alarm_events r WHERE event = 'raised' AND NOT EXISTS ("
            "SELECT 1 FROM camera_alarm_events c WHERE c.alarm_id = r.alarm_id "
            "AND c.event = 'cleared') ORDER BY seq"
        )
        return [_alarm_event(row) for row in rows]

    def camera_alarms_head(self) -> int:
        row = self.reader().execute("SELECT max(seq) FROM camera_alarm_events").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    @staticmethod
    def move_cursor(conn: Conn, name: str, from_cursor: int, cursor: int) -> None:
        """Inside a write transaction: move a processor's cursor, refusing (StoreError) when
        it is not where the caller read it (two runners would derive everything twice).

        A compare-and-set that holds under concurrent writers too: PostgreSQL re-checks the
        ``seq=?`` condition on the newest row version once a competing commit is done."""
        at = now_us()
        if from_cursor == 0 and (
            conn.execute(
                "INSERT INTO processor_cursors (name, seq, updated_us) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO NOTHING",
                (name, cursor, at),
            ).rowcount
            == 1
        ):
            return
        changed = conn.execute(
            "UPDATE processor_cursors SET seq=?, updated_us=? WHERE name=? AND seq=?",
            (cursor, at, name, from_cursor),
        ).rowcount
        if changed != 1:
            row = conn.execute("SELECT seq FROM processor_cursors WHERE name=?", (name,)).fetchone()
            raise StoreError(
                f"processor {name}: cursor moved ({row[0] if row else 0} != {from_cursor});"
                " another runner shares it"
            )


def _alarm_event(row: Sequence[Any]) -> AlarmEvent:
    seq, event, at_us, camera_zone, manager_zone, doc = row
    return AlarmEvent(
        seq=int(seq), event=event, at_us=int(at_us), camera_zone_id=camera_zone,
        manager_zone_id=manager_zone, alarm=decode_alarm(doc),
    )  # fmt: skip


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def serialise(conn: Conn, name: str) -> None:
    """Inside a write transaction: wait for every other process writing under ``name`` until
    commit (PostgreSQL advisory lock). SQLite's single writer is serialised already."""
    lock = getattr(conn, "lock", None)
    if lock is not None:
        lock(name)


def now_us() -> int:
    return time.time_ns() // 1000
