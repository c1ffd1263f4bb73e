"""The embedded default store: SQLite in WAL mode, one writer, one table per capture day.

Why a table per day: inserts stay fast because each day's indexes stay small and hot, and
retention drops a whole day with ``DROP TABLE`` instead of deleting millions of rows.
``seq`` (the log's sequence number) is the rowid of the day table; the single writer hands
them out in increasing order, so every append lands at the end of its b-tree.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.store.base import (
    AppendResult,
    Segment,
    StoreError,
)
from kruispunt.store.sql import Conn, SqlStore

US_PER_DAY = 86_400_000_000
EPOCH = dt.date(1970, 1, 1)

READ_COLUMNS = (
    "seq, read_id, cam, zone, captured_us, received_us, plate_raw, plate, country, "
    "country_inferred, plate_format, confidence, direction, lane, vehicle_class, make, colour, "
    "image_ref"
)
_PLACEHOLDERS = ",".join("?" * len(READ_COLUMNS.split(",")))

# Versioned schema: each entry moves the store one version up. Never edit a shipped entry.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE segments (
        day TEXT PRIMARY KEY, min_seq INTEGER NOT NULL, max_seq INTEGER NOT NULL,
        rows INTEGER NOT NULL
    );
    CREATE TABLE cameras (
        id TEXT PRIMARY KEY, num INTEGER NOT NULL UNIQUE, doc BLOB NOT NULL,
        token_hash TEXT, deleted INTEGER NOT NULL DEFAULT 0, updated_us INTEGER NOT NULL
    );
    CREATE TABLE processor_cursors (
        name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_us INTEGER NOT NULL
    );
    CREATE TABLE traffic_counts (
        camera_id TEXT NOT NULL, bucket_us INTEGER NOT NULL, reads INTEGER NOT NULL,
        low_confidence INTEGER NOT NULL, foreign_plates INTEGER NOT NULL,
        PRIMARY KEY (camera_id, bucket_us)
    ) WITHOUT ROWID;
    CREATE INDEX ix_traffic_counts_bucket ON traffic_counts (bucket_us);
    """,
    # 2: users, audit, hotlists, hits, webhooks
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY, doc BLOB NOT NULL, token_hash TEXT UNIQUE,
        created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL
    );
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL, actor TEXT NOT NULL,
        actor_zone TEXT, action TEXT NOT NULL, object_type TEXT NOT NULL,
        object_id TEXT NOT NULL, detail BLOB NOT NULL, prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX ix_audit_object ON audit_log (object_type, object_id);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE hotlists (
        id TEXT PRIMARY KEY, doc BLOB NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
        updated_us INTEGER NOT NULL
    );
    CREATE TABLE hotlist_entries (
        id TEXT PRIMARY KEY, list_id TEXT NOT NULL REFERENCES hotlists (id),
        plate TEXT NOT NULL, country TEXT, valid_from_us INTEGER NOT NULL,
        expires_at_us INTEGER NOT NULL, doc BLOB NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
        updated_us INTEGER NOT NULL
    );
    CREATE INDEX ix_hotlist_entries_list ON hotlist_entries (list_id);
    CREATE INDEX ix_hotlist_entries_plate ON hotlist_entries (plate);
    CREATE TABLE hits (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, created_us INTEGER NOT NULL,
        camera_zone_id TEXT NOT NULL, owner_zone_id TEXT NOT NULL, list_id TEXT NOT NULL,
        entry_id TEXT NOT NULL, status TEXT NOT NULL, doc BLOB NOT NULL,
        updated_us INTEGER NOT NULL
    );
    CREATE INDEX ix_hits_created ON hits (created_us);
    CREATE TABLE hit_events (
        id INTEGER PRIMARY KEY, hit_id TEXT NOT NULL REFERENCES hits (id),
        at_us INTEGER NOT NULL, doc BLOB NOT NULL
    );
    CREATE INDEX ix_hit_events_hit ON hit_events (hit_id);
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY, zone_id TEXT NOT NULL, url TEXT NOT NULL, secret TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1, created_us INTEGER NOT NULL
    );
    """,
    # 3: expiry sweeps without a table scan
    """
    CREATE INDEX ix_hotlist_entries_expires ON hotlist_entries (expires_at_us);
    """,
    # 4: node processes catch up with hotlist changes without a table scan
    """
    CREATE INDEX ix_hotlist_entries_updated ON hotlist_entries (updated_us);
    CREATE INDEX ix_hotlists_updated ON hotlists (updated_us);
    """,
    # 5: local accounts (argon2 password, TOTP, lock-out) and browser sessions
    """
    CREATE TABLE credentials (
        user_id TEXT PRIMARY KEY REFERENCES users (id), password_hash TEXT,
        totp_secret TEXT, totp_pending TEXT, totp_last_step INTEGER,
        failures INTEGER NOT NULL DEFAULT 0, locked_until_us INTEGER NOT NULL DEFAULT 0,
        updated_us INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id),
        created_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL, source_ip TEXT
    );
    CREATE INDEX ix_sessions_last_seen ON sessions (last_seen_us);
    CREATE INDEX ix_sessions_created ON sessions (created_us);
    CREATE INDEX ix_sessions_user ON sessions (user_id);
    """,
    # 6: signed checkpoints of the audit chain (append-only, like the log)
    """
    CREATE TABLE audit_checkpoints (
        seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL, head_hash TEXT NOT NULL,
        signature TEXT NOT NULL, key_id TEXT NOT NULL
    );
    CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 7: cross-zone grants (need-to-know access to another zone's reads)
    """
    CREATE TABLE grants (
        id TEXT PRIMARY KEY, requester_id TEXT NOT NULL, requester_zone TEXT NOT NULL,
        grantee_id TEXT NOT NULL, data_zone TEXT NOT NULL, status TEXT NOT NULL,
        valid_from_us INTEGER NOT NULL, valid_until_us INTEGER NOT NULL,
        requested_us INTEGER NOT NULL, updated_us INTEGER NOT NULL, doc BLOB NOT NULL
    );
    CREATE INDEX ix_grants_grantee ON grants (grantee_id, data_zone);
    CREATE INDEX ix_grants_requester ON grants (requester_id);
    CREATE INDEX ix_grants_data_zone ON grants (data_zone);
    CREATE INDEX ix_grants_requester_zone ON grants (requester_zone);
    CREATE INDEX ix_grants_open ON grants (status, valid_until_us);
    CREATE INDEX ix_grants_requested ON grants (requested_us);
    """,
    # 8: prosecutor authorisations, supervisors' approvals of wide searches, legal holds (and
    #    the reads they keep), images with their own retention, scoped machine tokens, OIDC links
    """
    CREATE TABLE authorisations (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, reference TEXT NOT NULL,
        case_key TEXT NOT NULL, zone_id TEXT NOT NULL, status TEXT NOT NULL,
        valid_from_us INTEGER NOT NULL, valid_until_us INTEGER NOT NULL,
        recorded_by TEXT NOT NULL, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,
        doc BLOB NOT NULL
    );
    CREATE INDEX ix_authorisations_case ON authorisations (case_key);
    CREATE INDEX ix_authorisations_zone ON authorisations (zone_id, valid_until_us);
    CREATE INDEX ix_authorisations_created ON authorisations (created_us);
    CREATE TABLE search_approvals (
        id TEXT PRIMARY KEY, requester_id TEXT NOT NULL, zone_id TEXT NOT NULL,
        case_key TEXT NOT NULL, status TEXT NOT NULL, valid_until_us INTEGER NOT NULL,
        requested_us INTEGER NOT NULL, updated_us INTEGER NOT NULL, doc BLOB NOT NULL
    );
    CREATE INDEX ix_search_approvals_requester ON search_approvals (requester_id, status);
    CREATE INDEX ix_search_approvals_zone ON search_approvals (zone_id, status);
    CREATE INDEX ix_search_approvals_requested ON search_approvals (requested_us);
    CREATE TABLE legal_holds (
        id TEXT PRIMARY KEY, case_key TEXT NOT NULL, zone_id TEXT NOT NULL,
        status TEXT NOT NULL, since_us INTEGER NOT NULL, until_us INTEGER NOT NULL,
        expires_us INTEGER NOT NULL, created_by TEXT NOT NULL, created_us INTEGER NOT NULL,
        updated_us INTEGER NOT NULL, doc BLOB NOT NULL
    );
    CREATE INDEX ix_legal_holds_case ON legal_holds (case_key);
    CREATE INDEX ix_legal_holds_open ON legal_holds (status, expires_us);
    CREATE TABLE held_reads (
        hold_id TEXT NOT NULL REFERENCES legal_holds (id), seq INTEGER NOT NULL,
        captured_us INTEGER NOT NULL, plate TEXT NOT NULL, camera_id TEXT NOT NULL,
        doc BLOB NOT NULL, PRIMARY KEY (hold_id, seq)
    );
    CREATE INDEX ix_held_reads_plate ON held_reads (plate, captured_us);
    CREATE INDEX ix_held_reads_captured ON held_reads (captured_us);
    CREATE TABLE images (
        id TEXT PRIMARY KEY, camera_id TEXT NOT NULL, read_id TEXT, zone_id TEXT NOT NULL,
        captured_us INTEGER NOT NULL, sha256 TEXT NOT NULL, content_type TEXT NOT NULL,
        size INTEGER NOT NULL, case_key TEXT, stored_us INTEGER NOT NULL, doc BLOB NOT NULL
    );
    CREATE INDEX ix_images_read ON images (camera_id, read_id);
    CREATE INDEX ix_images_captured ON images (captured_us);
    CREATE INDEX ix_images_case ON images (case_key);
    CREATE TABLE machine_tokens (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, zone_id TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL, expires_us INTEGER,
        revoked_us INTEGER, created_by TEXT NOT NULL, created_us INTEGER NOT NULL,
        last_used_us INTEGER, doc BLOB NOT NULL
    );
    CREATE TABLE oidc_links (
        issuer TEXT NOT NULL, subject TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users (id),
        created_us INTEGER NOT NULL, last_login_us INTEGER, PRIMARY KEY (issuer, subject)
    );
    """,
    # 9: a camera's reads in a time window (place and time, convoy): an index on every day
    #    table, the existing ones through DAY_TABLE_MIGRATIONS[9]
    """
    SELECT 1;
    """,
    # 10: the audit log read by period (the auditors' API, the oversight reports)
    """
    CREATE INDEX ix_audit_at ON audit_log (at_us);
    """,
    # 11: traffic enforcement: offence records (section control, LEZ) and LEZ permits
    #     (registrations, exemptions, day passes)
    """
    CREATE TABLE IF NOT EXISTS offences (
        id TEXT PRIMARY KEY, module TEXT NOT NULL, category TEXT NOT NULL, plate TEXT NOT NULL,
        country TEXT, day TEXT NOT NULL, occurred_us INTEGER NOT NULL, zone_id TEXT NOT NULL,
        status TEXT NOT NULL, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,
        doc BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ix_offences_module_day ON offences (module, day);
    CREATE INDEX IF NOT EXISTS ix_offences_plate ON offences (module, plate, day);
    CREATE INDEX IF NOT EXISTS ix_offences_occurred ON offences (occurred_us);
    CREATE TABLE IF NOT EXISTS lez_permits (
        id TEXT PRIMARY KEY, plate TEXT NOT NULL, country TEXT, kind TEXT NOT NULL,
        valid_from_us INTEGER NOT NULL, valid_until_us INTEGER NOT NULL,
        revoked_us INTEGER, created_us INTEGER NOT NULL, doc BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ix_lez_permits_plate ON lez_permits (plate, valid_until_us);
    """,
    # 12: section control's speed distribution: passages per section, day and 5 km/h bin
    #     (no plate: kruispunt.enforcement.stats)
    """
    CREATE TABLE IF NOT EXISTS section_speeds (
        zone_id TEXT NOT NULL, day TEXT NOT NULL, section_id TEXT NOT NULL,
        bin_kmh INTEGER NOT NULL, passages INTEGER NOT NULL,
        PRIMARY KEY (zone_id, day, section_id, bin_kmh)
    );
    """,
    # 13: camera health's alarm log: each alarm raised once and cleared once (no plate:
    #     kruispunt.health.events)
    """
    CREATE TABLE IF NOT EXISTS camera_alarm_events (
        seq INTEGER PRIMARY KEY, alarm_id TEXT NOT NULL, event TEXT NOT NULL,
        camera_id TEXT NOT NULL, camera_zone_id TEXT NOT NULL, manager_zone_id TEXT NOT NULL,
        kind TEXT NOT NULL, severity TEXT NOT NULL, since_us INTEGER NOT NULL,
        at_us INTEGER NOT NULL, doc BLOB NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS ux_camera_alarm_events
        ON camera_alarm_events (alarm_id, event);
    CREATE INDEX IF NOT EXISTS ix_camera_alarm_events_camera
        ON camera_alarm_events (camera_id, at_us);
    CREATE INDEX IF NOT EXISTS ix_camera_alarm_events_at ON camera_alarm_events (at_us);
    """,
)

# Per schema version, what each existing day table gets (``{t}``: the table), in the same
# transaction as the version; new day tables get it from _DAY_TABLE.
DAY_TABLE_MIGRATIONS: dict[int, str] = {
    9: "CREATE INDEX IF NOT EXISTS ix_{t}_cam_time ON {t} (cam, captured_us);",
}

_DAY_TABLE = """
CREATE TABLE IF NOT EXISTS {t} (
    seq INTEGER PRIMARY KEY, read_id TEXT NOT NULL, cam INTEGER NOT NULL, zone TEXT NOT NULL,
    captured_us INTEGER NOT NULL, received_us INTEGER NOT NULL, plate_raw TEXT NOT NULL,
    plate TEXT NOT NULL, country TEXT, country_inferred INTEGER NOT NULL, plate_format TEXT,
    confidence REAL NOT NULL, direction TEXT, lane INTEGER, vehicle_class TEXT, make TEXT,
    colour TEXT, image_ref TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_{t}_cam_read ON {t} (cam, read_id);
CREATE INDEX IF NOT EXISTS ix_{t}_plate_time ON {t} (plate, captured_us);
CREATE INDEX IF NOT EXISTS ix_{t}_cam_time ON {t} (cam, captured_us);
"""

_camera_encoder = msgspec.json.Encoder()


def day_table(day: dt.date) -> str:
    return f"reads_{day:%Y%m%d}"


def day_of_us(us: int) -> dt.date:
    return EPOCH + dt.timedelta(days=us // US_PER_DAY)


def _now_us() -> int:
    return time.time_ns() // 1000


class SqliteStore(SqlStore):
    type_key: ClassVar[str] = "sqlite"

    def __init__(self, path: Path, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000):
        self.path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._w: sqlite3.Connection | None = None
        self._local = threading.local()
        self._next_seq = 0
        self._tables: set[str] = set()
        self._cam_num: dict[str, int] = {}
        self._cam_id: dict[int, str] = {}
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # -- connections ------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    @property
    def _writer(self) -> sqlite3.Connection:
        if self._w is None:
            raise StoreError("store is not open")
        return self._w

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._all_readers.append(conn)
        return conn

    def transaction(self) -> contextlib.AbstractContextManager[Conn]:
        """For the domain stores built on this one (writer thread only)."""
        return self._transaction()

    def reader(self) -> Conn:
        """This thread's read-only connection, for the domain stores built on this one."""
        return self._reader()

    @contextmanager
    def timed_reader(self, timeout_ms: int) -> Iterator[Conn]:
        """This thread's reader, interrupted (``sqlite3.OperationalError: interrupted``) once
        ``timeout_ms`` have passed: the progress handler looks at the clock every few
        thousand virtual-machine steps."""
        conn = self._reader()
        deadline = time.monotonic() + timeout_ms / 1000
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 20_000)
        try:
            yield conn
        finally:
            conn.set_progress_handler(None, 0)

    def lock(self, conn: Conn, name: str) -> None:
        """One writer thread, ``BEGIN IMMEDIATE``: every write is serialised already."""

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # COMMIT itself may fail (I/O error); never leave the writer inside a transaction.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- life cycle -------------------------------------------------------------------------
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._w = conn
            self._migrate()
            self._load_state()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        conn = self._writer
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        version = 0
        if has_meta:
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(f"store schema v{version} is newer than this program knows")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            if number in DAY_TABLE_MIGRATIONS:
                script += "".join(
                    DAY_TABLE_MIGRATIONS[number].format(t=t)
                    for (t,) in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type='table' "
                        "AND name GLOB 'reads_[0-9]*'"
                    ).fetchall()
                )
            # The schema change and its version number commit together, or not at all.
            conn.executescript(
                f"BEGIN IMMEDIATE;{script};"
                f"INSERT INTO meta VALUES ('schema_version', '{number}') "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value;COMMIT;"
            )

    def _load_state(self) -> None:
        conn = self._writer
        self._tables = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'reads_%'"
            )
        }
        # The high-water mark survives retention dropping the newest day: sequence numbers
        # never go backwards, or processors with a higher cursor would ignore new reads.
        hwm = conn.execute("SELECT value FROM meta WHERE key='seq_hwm'").fetchone()
        self._next_seq = max(
            [r[0] or 0 for r in conn.execute("SELECT max(max_seq) FROM segments")]
            + [int(hwm[0]) if hwm else 0]
        )
        # A day table can hold rows committed before its segment row was (same transaction,
        # so not possible today), but trust the tables themselves over the catalogue.
        for table in self._tables:
            top = conn.execute(f"SELECT max(seq) FROM {table}").fetchone()[0]
            self._next_seq = max(self._next_seq, top or 0)
        for cam_id, num in conn.execute("SELECT id, num FROM cameras"):
            self._cam_num[cam_id] = num
            self._cam_id[num] = cam_id

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._all_readers:
                conn.close()
            self._all_readers.clear()
        self._local = threading.local()
        if self._w is not None:
            self._w.close()
            self._w = None

    # -- the log ----------------------------------------------------------------------------
    def _ensure_table(self, conn: sqlite3.Connection, table: str) -> None:
        if table not in self._tables:
            for statement in _DAY_TABLE.format(t=table).split(";"):
                if statement.strip():
                    conn.execute(statement)

    def append(self, reads: Sequence[Read]) -> AppendResult:
        cam_num = self._cam_num
        rows_by_day: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        seq = self._next_seq
        seqs: list[int] = []
        for r in reads:
            if r.seq > 0:  # numbered by the distributed log
                this = r.seq
            else:
                seq += 1
                this = seq
            seqs.append(this)
            try:
                cam = cam_num[r.camera_id]
            except KeyError:
                raise StoreError(f"unknown camera {r.camera_id!r}") from None
            rows_by_day[r.captured_us // US_PER_DAY].append(
                (this, r.read_id, cam, r.zone_id, r.captured_us, r.received_us, r.plate_raw,
                 r.plate, r.country, r.country_inferred, r.plate_format, r.confidence,
                 r.direction, r.lane, r.vehicle_class, r.make, r.colour, r.image_ref)
            )  # fmt: skip
        duplicate = [False] * len(seqs)
        created: list[str] = []
        top = self._next_seq
        numbered = any(r.seq > 0 for r in reads)
        try:
            with self._transaction() as conn:
                for day_number, rows in rows_by_day.items():
                    day = EPOCH + dt.timedelta(days=day_number)
                    table = day_table(day)
                    if table not in self._tables:
                        self._ensure_table(conn, table)
                        created.append(table)
                    if numbered and table not in created:
                        # A redelivery from the distributed log carries the same seqs:
                        # rows already stored are duplicates even when their seq matches.
                        rows = self._drop_stored(conn, table, rows, seqs, duplicate)
                    before = conn.total_changes
                    conn.executemany(
                        f"INSERT INTO {table} ({READ_COLUMNS}) VALUES ({_PLACEHOLDERS}) "
                        "ON CONFLICT (cam, read_id) DO NOTHING",
                        rows,
                    )
                    inserted = conn.total_changes - before
                    stored_rows = rows
                    if inserted != len(rows):
                        stored_rows = self._resolve_duplicates(conn, table, rows, seqs, duplicate)
                    if stored_rows:
                        lo = min(row[0] for row in stored_rows)
                        hi = max(row[0] for row in stored_rows)
                        top = max(top, hi)
                        conn.execute(
                            "INSERT INTO segments VALUES (?, ?, ?, ?) ON CONFLICT(day) DO UPDATE "
                            "SET min_seq=min(min_seq, excluded.min_seq), "
                            "max_seq=max(max_seq, excluded.max_seq), rows=rows+excluded.rows",
                            (day.isoformat(), lo, hi, len(stored_rows)),
                        )  # fmt: skip
                if top > self._next_seq:
                    conn.execute(
                        "INSERT INTO meta VALUES ('seq_hwm', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                        (str(top),),
                    )
        except sqlite3.Error as exc:
            raise StoreError(f"append failed, nothing stored: {exc}") from exc
        self._tables.update(created)
        # Only stored reads move the log on: seqs handed to duplicates are never used.
        self._next_seq = top
        return AppendResult(seqs=seqs, duplicate=duplicate)

    def _resolve_duplicates(
        self,
        conn: sqlite3.Connection,
        table: str,
        rows: list[tuple[Any, ...]],
        seqs: list[int],
        duplicate: list[bool],
    ) -> list[tuple[Any, ...]]:
        """The insert skipped already-stored rows: map each one to the stored row's seq."""
        stored = self._stored_seqs(conn, table, rows)
        index_of = {s: i for i, s in enumerate(seqs)}
        kept = []
        for row in rows:
            original = stored[(row[2], row[1])]
            if original != row[0]:
                i = index_of[row[0]]
                seqs[i] = original
                duplicate[i] = True
            else:
                kept.append(row)
        return kept

    def _drop_stored(
        self,
        conn: sqlite3.Connection,
        table: str,
        rows: list[tuple[Any, ...]],
        seqs: list[int],
        duplicate: list[bool],
    ) -> list[tuple[Any, ...]]:
        """Rows not stored yet; those already stored are marked duplicate with their seq."""
        stored = self._stored_seqs(conn, table, rows)
        if not stored:
            return rows
        index_of = {s: i for i, s in enumerate(seqs)}
        kept = []
        for row in rows:
            original = stored.get((row[2], row[1]))
            if original is None:
                kept.append(row)
            else:
                i = index_of[row[0]]
                seqs[i] = original
                duplicate[i] = True
        return kept

    @staticmethod
    def _stored_seqs(
        conn: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]]
    ) -> dict[tuple[int, str], int]:
        stored: dict[tuple[int, str], int] = {}
        by_cam: dict[int, list[str]] = defaultdict(list)
        for row in rows:
            by_cam[row[2]].append(row[1])
        for cam, read_ids in by_cam.items():
            for start in range(0, len(read_ids), 500):
                chunk = read_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for read_id, seq in conn.execute(
                    f"SELECT read_id, seq FROM {table} WHERE cam=? AND read_id IN ({marks})",
                    (cam, *chunk),
                ):
                    stored[(cam, read_id)] = seq
        return stored

    def drop_segment(self, day: dt.date) -> int:
        table = day_table(day)
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "SELECT rows FROM segments WHERE day=?", (day.isoformat(),)
                ).fetchone()
                conn.execute(f"DROP TABLE IF EXISTS {table}")
                conn.execute("DELETE FROM segments WHERE day=?", (day.isoformat(),))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot drop {day}: {exc}") from exc
        self._tables.discard(table)
        return int(row[0]) if row else 0

    def upsert_camera(self, camera: Camera, token_hash: str | None) -> None:
        try:
            with self._transaction() as conn:
                num = self._cam_num.get(camera.id)
                if num is None:
                    top = conn.execute("SELECT max(num) FROM cameras").fetchone()[0]
                    num = (top or 0) + 1
                conn.execute(
                    "INSERT INTO cameras VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT(id) DO UPDATE "
                    "SET doc=excluded.doc, token_hash=coalesce(excluded.token_hash, token_hash),"
                    " deleted=0, updated_us=excluded.updated_us",
                    (camera.id, num, _camera_encoder.encode(camera), token_hash, _now_us()),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save camera {camera.id}: {exc}") from exc
        self._cam_num[camera.id] = num
        self._cam_id[num] = camera.id

    def set_token_hash(self, camera_id: str, token_hash: str) -> bool:
        try:
            with self._transaction() as conn:
                changed = conn.execute(
                    "UPDATE cameras SET token_hash=?, updated_us=? WHERE id=? AND deleted=0",
                    (token_hash, _now_us(), camera_id),
                ).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"cannot set the token of camera {camera_id}: {exc}") from exc
        return changed > 0

    def delete_camera(self, camera_id: str) -> bool:
        # Soft delete: its reads stay in the log (and keep their camera) until retention.
        try:
            with self._transaction() as conn:
                changed = conn.execute(
                    "UPDATE cameras SET deleted=1, token_hash=NULL, updated_us=? "
                    "WHERE id=? AND deleted=0",
                    (_now_us(), camera_id),
                ).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete camera {camera_id}: {exc}") from exc
        return changed > 0

    # -- reading ----------------------------------------------------------------------------
    def last_seq(self) -> int:
        return self._next_seq

    def _camera_id(self, num: int) -> str:
        cam = self._cam_id.get(num)
        if cam is None:
            row = self._reader().execute("SELECT id FROM cameras WHERE num=?", (num,)).fetchone()
            cam = row[0] if row else f"#{num}"
        return cam

    def reads_after(self, seq: int, limit: int) -> list[Read]:
        conn = self._reader()
        rows: list[tuple[Any, ...]] = []
        # One read transaction = one WAL snapshot: a commit landing between the catalogue
        # query and the day-table queries would otherwise let a processor skip a late read.
        conn.execute("BEGIN")
        try:
            tables = [
                day_table(dt.date.fromisoformat(day))
                for (day,) in conn.execute(
                    "SELECT day FROM segments WHERE max_seq > ? ORDER BY min_seq", (seq,)
                )
            ]
            for table in tables:
                rows.extend(
                    conn.execute(
                        f"SELECT {READ_COLUMNS} FROM {table} WHERE seq > ? ORDER BY seq LIMIT ?",
                        (seq, limit),
                    )
                )
        finally:
            conn.execute("COMMIT")
        if len(tables) > 1:
            rows.sort(key=lambda r: int(r[0]))
        return [self._row_to_read(r) for r in rows[:limit]]

    def segments(self) -> list[Segment]:
        return [
            Segment(dt.date.fromisoformat(day), lo, hi, n)
            for day, lo, hi, n in self._reader().execute(
                "SELECT day, min_seq, max_seq, rows FROM segments ORDER BY day"
            )
        ]

    def reads_of_plate(self, plate: str, since_us: int, until_us: int) -> list[Read]:
        conn = self._reader()
        first, last = day_of_us(since_us), day_of_us(until_us)
        out: list[Read] = []
        for segment in self.segments():
            if not first <= segment.day <= last:
                continue
            try:
                rows = conn.execute(
                    f"SELECT {READ_COLUMNS} FROM {day_table(segment.day)} "
                    "WHERE plate=? AND captured_us BETWEEN ? AND ? ORDER BY captured_us",
                    (plate, since_us, until_us),
                ).fetchall()
            except sqlite3.OperationalError:
                continue
            out.extend(self._row_to_read(r) for r in rows)
        return out

    def _day_rows(
        self, conn: Conn, since_us: int, until_us: int, condition: str, args: Sequence[Any]
    ) -> list[Any]:
        rows: list[Any] = []
        days = conn.execute(
            "SELECT day FROM segments WHERE day BETWEEN ? AND ? ORDER BY day",
            (day_of_us(since_us).isoformat(), day_of_us(until_us).isoformat()),
        ).fetchall()
        for (day,) in days:
            table = day_table(dt.date.fromisoformat(day))
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
            ).fetchone()
            if exists is not None:
                statement = f"SELECT {READ_COLUMNS} FROM {table} WHERE {condition} ORDER BY seq"
                rows += conn.execute(statement, args).fetchall()
        return rows

    def _delete_day_seqs(self, conn: Conn, day_number: int, seqs: Sequence[int]) -> int:
        day = EPOCH + dt.timedelta(days=day_number)
        table = day_table(day)
        if table not in self._tables:  # dropped by retention already
            return 0
        marks = ",".join("?" * len(seqs))
        gone = conn.execute(f"DELETE FROM {table} WHERE seq IN ({marks})", list(seqs)).rowcount
        if gone:
            conn.execute("UPDATE segments SET rows=rows-? WHERE day=?", (gone, day.isoformat()))
        return int(gone)

    def size_bytes(self) -> int:
        return sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.exists()
        )
