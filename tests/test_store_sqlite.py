"""What is SQLite's own in the store: day tables, its schema versions, WAL snapshots.
(The store contract for both engines is in test_store.py.)"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from kruispunt.domain.reads import Read
from kruispunt.store.base import StoreError
from kruispunt.store.sqlite import US_PER_DAY, SqliteStore
from tests.conftest import make_camera

DAY0 = int(dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp()) * 1_000_000


def read(read_id: str, *, at_us: int = DAY0, plate: str = "1ABC123", camera: str = "cam-a") -> Read:
    return Read(
        0, read_id, camera, "pz5364", at_us, at_us + 1000, plate, plate, "BE", True,
        "BE.current", 0.9,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "s.sqlite", synchronous="NORMAL")
    s.open()
    s.upsert_camera(make_camera("cam-a"), None)
    s.upsert_camera(make_camera("cam-b"), None)
    return s


def test_reads_are_laid_out_one_table_per_capture_day(store: SqliteStore) -> None:
    store.append([read("a", at_us=DAY0), read("b", at_us=DAY0 + US_PER_DAY), read("c", at_us=DAY0)])
    days = {s.day.isoformat(): s.rows for s in store.segments()}
    assert days == {"2026-11-20": 2, "2026-11-21": 1}
    tables = {
        r[0]
        for r in sqlite3.connect(store.path).execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'reads_%'"
        )
    }
    assert tables == {"reads_20261120", "reads_20261121"}
    # A late read for an old day still comes out of the log in sequence order.
    store.append([read("late", at_us=DAY0 + 5)])
    assert [r.read_id for r in store.reads_after(0, 10)] == ["a", "b", "c", "late"]
    assert [r.read_id for r in store.reads_after(2, 10)] == ["c", "late"]


def test_newer_schema_is_refused(tmp_path: Path, store: SqliteStore) -> None:
    store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(store.path).open()


def test_reads_after_reads_one_snapshot(store: SqliteStore) -> None:
    """A commit landing in the middle of reads_after must not make a processor skip a late
    read (for an older day) that got a lower seq than a read it does return."""
    store.append([read("old", at_us=DAY0)])
    store.append([read("cur", at_us=DAY0 + US_PER_DAY)])
    real = store._reader()

    class CommitsMidway:
        fired = False

        def execute(self, sql: str, *args: object) -> object:
            result = real.execute(sql, *args)
            if "FROM segments" in sql and not CommitsMidway.fired:
                rows = list(result)
                CommitsMidway.fired = True
                store.append(
                    [read("late", at_us=DAY0 + 5), read("now", at_us=DAY0 + US_PER_DAY + 5)]
                )
                return iter(rows)
            return result

    store._reader = lambda: CommitsMidway()  # type: ignore[assignment,return-value,method-assign]
    got = store.reads_after(1, 100)
    del store._reader
    assert CommitsMidway.fired
    # Either the snapshot before the commit (just "cur") or after it (all three), never a gap.
    seqs = [r.seq for r in got]
    assert seqs in ([2], [2, 3, 4]), seqs
