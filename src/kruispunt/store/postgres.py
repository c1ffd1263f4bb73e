"""The production store: PostgreSQL through psycopg 3.

- Schema through Alembic migrations (``pg_migrations``), in its own schema (``store.schema``),
  serialised by an advisory lock so that several processes can start at once.
- Reads in one table partitioned by capture day (native declarative partitioning): retention
  drops whole partitions, a plate's history prunes to the days asked for, and each day's
  indexes stay small. Partitions are created on demand, under an advisory lock.
- Appends with COPY (the fastest way in); a batch holding a read that is already stored
  falls back to a staged ``INSERT ... ON CONFLICT DO NOTHING`` and reports the original seq.
- Sequence numbers: with the embedded log (one node process) the store hands them out like
  the SQLite store, guarded by a session advisory lock so that a second process cannot
  write the same log; with the distributed log (JetStream) the reads arrive numbered and
  several workers append at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.store.base import (
    AppendResult,
    Segment,
    StoreError,
)
from kruispunt.store.sql import Conn, Cursor, SqlStore, now_us

log = logging.getLogger(__name__)

US_PER_DAY = 86_400_000_000
EPOCH = dt.date(1970, 1, 1)
COLUMNS = (
    "day", "seq", "read_id", "cam", "zone", "captured_us", "received_us", "plate_raw", "plate",
    "country", "country_inferred", "plate_format", "confidence", "direction", "lane",
    "vehicle_class", "make", "colour", "image_ref",
)  # fmt: skip
_COLS = ", ".join(COLUMNS)
_READ_COLS = ", ".join(COLUMNS[1:])  # a Read's fields, in its order
_WRITER_LOCK = "kruispunt.embedded-log-writer"

_camera_encoder = msgspec.json.Encoder()


def partition_name(day: dt.date) -> str:
    return f"reads_{day:%Y%m%d}"


def day_of_us(us: int) -> dt.date:
    return EPOCH + dt.timedelta(days=us // US_PER_DAY)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` as SQLAlchemy wants it for psycopg 3."""
    scheme, _, rest = url.partition("://")
    if scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
        raise StoreError(f"not a PostgreSQL URL: {scheme}://...")
    return f"postgresql+psycopg://{rest}"


@functools.lru_cache(maxsize=2048)
def to_pg(statement: str) -> str:
    """Portable SQL (``?`` placeholders) in psycopg's style. Our statements never hold a
    ``?`` or ``%`` inside a string literal except ``LIKE`` patterns, which are escaped."""
    return statement.replace("%", "%%").replace("?", "%s")


class _Rows:
    """A fetched result, for reads through the pool (the connection is already back)."""

    def __init__(self, rows: list[Any], rowcount: int):
        self._rows = rows
        self._rowcount = rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class PgConn:
    """A psycopg connection inside a transaction, speaking the domain stores' SQL."""

    def __init__(self, conn: psycopg.Connection[Any]):
        self.raw = conn

    def execute(self, statement: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self.raw.execute(to_pg(statement), tuple(parameters))

    def executemany(self, statement: str, parameters: Any, /) -> Any:
        with self.raw.cursor() as cur:
            cur.executemany(to_pg(statement), parameters)
            return cur.rowcount

    def lock(self, name: str) -> None:
        self.raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))


class PoolReader:
    """Reads through a bounded pool: each statement borrows a connection (autocommit, so it
    sees every committed change) and returns the rows fetched."""

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]]):
        self._pool = pool

    def execute(self, statement: str, parameters: Sequence[Any] = (), /) -> Cursor:
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute(to_pg(statement), tuple(parameters))
            rows = cur.fetchall() if cur.description is not None else []
            return _Rows(rows, cur.rowcount)

    def executemany(self, statement: str, parameters: Any, /) -> Any:
        raise StoreError("the reader does not write")


class PgStore(SqlStore):
    type_key: ClassVar[str] = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        schema: str = "kruispunt",
        pool_size: int = 8,
        numbered_by_log: bool = False,
    ):
        self.url = url
        self.schema = schema
        self._pool_size = pool_size
        # True: reads arrive numbered by the distributed log and several processes append.
        self.numbered_by_log = numbered_by_log
        self._w: psycopg.Connection[Any] | None = None
        self._writer_lock_conn: psycopg.Connection[Any] | None = None
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._next_seq = 0
        self._partitions: set[str] = set()
        self._cam_num: dict[str, int] = {}
        self._cam_id: dict[int, str] = {}
        self._cam_lock = threading.Lock()
        # Segment rows are per (day, writer key): concurrent writers never wait on one row.
        self._writer_key = random.randrange(1, 2**31)

    # -- connections ------------------------------------------------------------------------
    def _connect(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self.url, autocommit=autocommit, options=f"-c search_path={self.schema}"
        )

    @property
    def _writer(self) -> psycopg.Connection[Any]:
        if self._w is None:
            raise StoreError("store is not open")
        return self._w

    def transaction(self) -> AbstractContextManager[Conn]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[PgConn]:
        conn = self._writer
        if conn.broken or conn.closed:  # the server restarted: one new connection, then on
            log.warning("store connection lost; reconnecting")
            self._w = conn = self._connect()
        with conn.transaction():
            yield PgConn(conn)

    def batch(self) -> AbstractContextManager[object]:
        # The transactions opened inside become savepoints of this one: one commit.
        return self._transaction()

    def reader(self) -> Conn:
        if self._pool is None:
            raise StoreError("store is not open")
        return PoolReader(self._pool)

    @contextmanager
    def timed_reader(self, timeout_ms: int) -> Iterator[Conn]:
        """One pooled connection for a whole search; each of its statements is cancelled
        (``QueryCanceled``) after ``timeout_ms``. The caller bounds the total."""
        if self._pool is None:
            raise StoreError("store is not open")
        with self._pool.connection() as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{timeout_ms}ms",))
            try:
                yield PgConn(conn)
            finally:
                if not (conn.closed or conn.broken):
                    conn.execute("RESET statement_timeout")

    def lock(self, conn: Conn, name: str) -> None:
        if isinstance(conn, PgConn):
            conn.lock(name)

    # -- life cycle -------------------------------------------------------------------------
    def open(self) -> None:
        try:
            migrate(self.url, self.schema)
            if not self.numbered_by_log:
                self._take_writer_lock()
            self._w = self._connect()
            self._pool = ConnectionPool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                kwargs={"autocommit": True, "options": f"-c search_path={self.schema}"},
                open=True,
                name="kruispunt-readers",
            )
            self._load_state()
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"cannot open the PostgreSQL store: {exc}") from exc

    def _take_writer_lock(self) -> None:
        """One process numbers the embedded log: a second would hand out the same seqs."""
        conn = self._connect()
        got = conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", (f"{_WRITER_LOCK}.{self.schema}",)
        )
        row = got.fetchone()
        if not row or not row[0]:
            conn.close()
            raise StoreError(
                "another node process writes this PostgreSQL store's log; run several "
                "processes with the distributed log (bus.url / KRUISPUNT_BUS_URL)"
            )
        self._writer_lock_conn = conn

    def _load_state(self) -> None:
        conn = self._writer
        self._partitions = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n "
                "ON n.oid = p.relnamespace WHERE p.relname = 'reads' AND n.nspname = %s",
                (self.schema,),
            )
        }
        row = conn.execute(
            "SELECT greatest((SELECT coalesce(max(max_seq), 0) FROM segments), "
            "(SELECT coalesce(max(value::bigint), 0) FROM meta WHERE key = 'seq_hwm'))"
        ).fetchone()
        self._next_seq = int(row[0]) if row else 0
        self._reload_cameras()

    def _reload_cameras(self) -> None:
        rows = self._pool_rows("SELECT id, num FROM cameras")
        with self._cam_lock:
            for cam_id, num in rows:
                self._cam_num[cam_id] = num
                self._cam_id[num] = cam_id

    def _pool_rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.reader().execute(statement, params).fetchall()

    def close(self) -> None:
        for conn in (self._w, self._writer_lock_conn):
            if conn is not None:
                conn.close()
        self._w = self._writer_lock_conn = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # -- the log ----------------------------------------------------------------------------
    def _ensure_partitions(self, days: Sequence[int]) -> None:
        missing = [
            d for d in days if partition_name(EPOCH + dt.timedelta(d)) not in self._partitions
        ]
        if not missing:
            return
        # Its own short transaction: creating a partition locks the parent table.
        with self._writer.transaction():
            self._writer.execute("SELECT pg_advisory_xact_lock(hashtext('kruispunt.partitions'))")
            for day_number in missing:
                name = partition_name(EPOCH + dt.timedelta(day_number))
                self._writer.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF reads "
                        "FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(name),
                        sql.Literal(day_number),
                        sql.Literal(day_number + 1),
                    )
                )
        self._partitions.update(partition_name(EPOCH + dt.timedelta(d)) for d in missing)

    def _cam_number(self, camera_id: str) -> int:
        num = self._cam_num.get(camera_id)
        if num is None:  # registered by another process since we loaded
            self._reload_cameras()
            num = self._cam_num.get(camera_id)
            if num is None:
                raise StoreError(f"unknown camera {camera_id!r}")
        return num

    def append(self, reads: Sequence[Read]) -> AppendResult:
        seq = self._next_seq
        seqs: list[int] = []
        rows: list[tuple[Any, ...]] = []
        for r in reads:
            if r.seq > 0:
                this = r.seq
            else:
                seq += 1
                this = seq
            seqs.append(this)
            rows.append(
                (r.captured_us // US_PER_DAY, this, r.read_id, self._cam_number(r.camera_id),
                 r.zone_id, r.captured_us, r.received_us, r.plate_raw, r.plate, r.country,
                 r.country_inferred, r.plate_format, r.confidence, r.direction, r.lane,
                 r.vehicle_class, r.make, r.colour, r.image_ref)
            )  # fmt: skip
        duplicate = [False] * len(rows)
        if not rows:
            return AppendResult(seqs=seqs, duplicate=duplicate)
        try:
            self._ensure_partitions(sorted({row[0] for row in rows}))
            with self._transaction() as tx:
                conn = tx.raw
                stored = self._copy(conn, rows, seqs, duplicate)
                self._record_segments(conn, stored)
                top = max((row[1] for row in stored), default=0)
                if top > self._next_seq and not self.numbered_by_log:
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('seq_hwm', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(top),),
                    )
        except psycopg.Error as exc:
            raise StoreError(f"append failed, nothing stored: {exc}") from exc
        self._next_seq = max(self._next_seq, top)
        return AppendResult(seqs=seqs, duplicate=duplicate)

    @staticmethod
    def _copy(
        conn: psycopg.Connection[Any],
        rows: list[tuple[Any, ...]],
        seqs: list[int],
        duplicate: list[bool],
    ) -> list[tuple[Any, ...]]:
        """COPY the rows in; when one is already stored, stage them and insert the new ones.
        Returns the rows stored (duplicates get the stored row's seq in ``seqs``)."""
        try:
            with (
                conn.transaction(),  # a savepoint
                conn.cursor() as cur,
                cur.copy(f"COPY reads ({_COLS}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return rows
        except psycopg.errors.UniqueViolation:
            pass
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS incoming_reads (LIKE reads) ON COMMIT DELETE ROWS"
        )
        conn.execute("DELETE FROM incoming_reads")
        with conn.cursor() as cur:
            with cur.copy(f"COPY incoming_reads ({_COLS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            # In seq order, so that of two copies in one batch the first is the one kept.
            cur.execute(
                f"INSERT INTO reads ({_COLS}) SELECT {_COLS} FROM incoming_reads ORDER BY seq "
                "ON CONFLICT DO NOTHING RETURNING seq"
            )
            inserted = {r[0] for r in cur.fetchall()}
            # Every other row was stored before (a redelivery keeps its seq, a resend not).
            cur.execute(
                "SELECT i.seq, r.seq FROM incoming_reads i JOIN reads r ON r.cam = i.cam "
                "AND r.read_id = i.read_id AND r.day = i.day"
            )
            original = {i: r for i, r in cur.fetchall() if i not in inserted}
        index_of = {s: i for i, s in enumerate(seqs)}
        kept = []
        for row in rows:
            stored_seq = original.get(row[1])
            if stored_seq is None:
                kept.append(row)
            else:
                i = index_of[row[1]]
                seqs[i] = stored_seq
                duplicate[i] = True
        return kept

    def _record_segments(self, conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
        by_day: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            by_day[row[0]].append(row[1])
        for day_number, day_seqs in by_day.items():
            conn.execute(
                "INSERT INTO segments (day, writer, min_seq, max_seq, rows) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (day, writer) DO UPDATE SET "
                "min_seq = least(segments.min_seq, excluded.min_seq), "
                "max_seq = greatest(segments.max_seq, excluded.max_seq), "
                "rows = segments.rows + excluded.rows",
                (EPOCH + dt.timedelta(day_number), self._writer_key, min(day_seqs),
                 max(day_seqs), len(day_seqs)),
            )  # fmt: skip

    def copy_rows_raw(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """The ceiling for benchmarks: a bare COPY of rows in the log's shape (``COLUMNS``),
        nothing else."""
        self._ensure_partitions(sorted({row[0] for row in rows}))
        with (
            self._writer.transaction(),
            self._writer.cursor() as cur,
            cur.copy(f"COPY reads ({_COLS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def drop_segment(self, day: dt.date) -> int:
        name = partition_name(day)
        try:
            with self._transaction() as tx:
                row = tx.raw.execute(
                    "SELECT coalesce(sum(rows), 0) FROM segments WHERE day = %s", (day,)
                ).fetchone()
                tx.raw.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
                tx.raw.execute("DELETE FROM segments WHERE day = %s", (day,))
        except psycopg.Error as exc:
            raise StoreError(f"cannot drop {day}: {exc}") from exc
        self._partitions.discard(name)
        return int(row[0]) if row else 0

    def upsert_camera(self, camera: Camera, token_hash: str | None) -> None:
        try:
            with self._transaction() as tx:
                row = tx.raw.execute(
                    "INSERT INTO cameras (id, doc, token_hash, deleted, updated_us) "
                    "VALUES (%s, %s, %s, 0, %s) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc,"
                    " token_hash = coalesce(excluded.token_hash, cameras.token_hash), deleted = 0,"
                    " updated_us = excluded.updated_us RETURNING num",
                    (camera.id, _camera_encoder.encode(camera), token_hash, now_us()),
                ).fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"cannot save camera {camera.id}: {exc}") from exc
        if row is None:
            raise StoreError(f"cannot save camera {camera.id}: no number returned")
        with self._cam_lock:
            self._cam_num[camera.id] = int(row[0])
            self._cam_id[int(row[0])] = camera.id

    def set_token_hash(self, camera_id: str, token_hash: str) -> bool:
        return self._update_camera(
            "UPDATE cameras SET token_hash = %s, updated_us = %s WHERE id = %s AND deleted = 0",
            (token_hash, now_us(), camera_id),
        )

    def delete_camera(self, camera_id: str) -> bool:
        return self._update_camera(
            "UPDATE cameras SET deleted = 1, token_hash = NULL, updated_us = %s "
            "WHERE id = %s AND deleted = 0",
            (now_us(), camera_id),
        )

    def _update_camera(self, statement: str, params: tuple[Any, ...]) -> bool:
        try:
            with self._transaction() as tx:
                changed = tx.raw.execute(statement, params).rowcount
        except psycopg.Error as exc:
            raise StoreError(f"cannot change camera {params[-1]}: {exc}") from exc
        return changed > 0

    # -- reading ----------------------------------------------------------------------------
    def last_seq(self) -> int:
        return self._next_seq

    def _camera_id(self, num: int) -> str:
        cam = self._cam_id.get(num)
        if cam is None:
            self._reload_cameras()
            cam = self._cam_id.get(num, f"#{num}")
        return cam

    def reads_after(self, seq: int, limit: int) -> list[Read]:
        rows = self._pool_rows(
            f"SELECT {_READ_COLS} FROM reads WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        )
        return [self._row_to_read(r) for r in rows]

    def segments(self) -> list[Segment]:
        return [
            Segment(day, int(lo), int(hi), int(n))
            for day, lo, hi, n in self._pool_rows(
                "SELECT day, min(min_seq), max(max_seq), sum(rows) FROM segments "
                "GROUP BY day ORDER BY day"
            )
        ]

    def reads_of_plate(self, plate: str, since_us: int, until_us: int) -> list[Read]:
        rows = self._pool_rows(
            f"SELECT {_READ_COLS} FROM reads WHERE plate = ? AND day BETWEEN ? AND ? "
            "AND captured_us BETWEEN ? AND ? ORDER BY captured_us",
            (plate, since_us // US_PER_DAY, until_us // US_PER_DAY, since_us, until_us),
        )
        return [self._row_to_read(r) for r in rows]

    def _day_rows(
        self, conn: Conn, since_us: int, until_us: int, condition: str, args: Sequence[Any]
    ) -> list[Any]:
        # One table partitioned by capture day: the day bounds prune the partitions.
        return conn.execute(
            f"SELECT {_READ_COLS} FROM reads WHERE day BETWEEN ? AND ? AND {condition} "
            "ORDER BY seq",
            [since_us // US_PER_DAY, until_us // US_PER_DAY, *args],
        ).fetchall()

    def _delete_day_seqs(self, conn: Conn, day_number: int, seqs: Sequence[int]) -> int:
        marks = ", ".join("?" * len(seqs))
        gone = conn.execute(
            f"DELETE FROM reads WHERE day = ? AND seq IN ({marks})", [day_number, *seqs]
        ).rowcount
        if gone:
            # Segment rows are per (day, writer) and read as a sum: count them out on ours.
            conn.execute(
                "INSERT INTO segments (day, writer, min_seq, max_seq, rows) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (day, writer) DO UPDATE SET "
                "rows = segments.rows + excluded.rows",
                (EPOCH + dt.timedelta(day_number), self._writer_key, min(seqs), max(seqs),
                 -gone),
            )  # fmt: skip
        return int(gone)

    def size_bytes(self) -> int:
        rows = self._pool_rows(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? "
            "AND c.relkind IN ('r', 'p')",
            (self.schema,),
        )
        return int(rows[0][0])

    def drop_schema(self) -> None:
        """Delete everything this store holds (tests and benchmarks)."""
        self.close()
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )


MIGRATIONS_DIR = Path(__file__).with_name("pg_migrations")


def migrate(url: str, schema: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (one process at a time)."""
    import sqlalchemy
    from alembic.config import Config as AlembicConfig

    engine = sqlalchemy.create_engine(
        sqlalchemy_url(url),
        connect_args={"options": f"-c search_path={schema}"},
        poolclass=sqlalchemy.pool.NullPool,
    )
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per start is enough
    started = time.monotonic()
    try:
        _upgrade(engine, cfg, schema, revision)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StoreError(
            f"cannot migrate schema {schema}: {getattr(exc, 'orig', None) or exc}"
        ) from exc
    finally:
        engine.dispose()
    log.info("schema %s is at revision %s (%.2f s)", schema, revision, time.monotonic() - started)


def _upgrade(engine: Any, cfg: Any, schema: str, revision: str) -> None:
    import sqlalchemy
    from alembic import command

    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
            {"name": f"kruispunt.migrate.{schema}"},
        )
        quoted = connection.dialect.identifier_preparer.quote_schema(schema)
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
        cfg.attributes["connection"] = connection
        cfg.attributes["schema"] = schema
        command.upgrade(cfg, revision)
