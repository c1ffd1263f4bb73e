"""The SQLite log store on a real file."""

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


def test_append_assigns_increasing_seqs_and_reads_back_in_order(store: SqliteStore) -> None:
    result = store.append([read("1"), read("2"), read("3", camera="cam-b")])
    assert result.seqs == [1, 2, 3] and result.duplicate == [False] * 3
    got = store.reads_after(0, 10)
    assert [(r.seq, r.read_id, r.camera_id) for r in got] == [
        (1, "1", "cam-a"), (2, "2", "cam-a"), (3, "3", "cam-b"),
    ]  # fmt: skip
    assert store.reads_after(2, 10)[0].seq == 3
    assert store.reads_after(0, 2)[-1].seq == 2


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


def test_duplicates_return_the_original_seq(store: SqliteStore) -> None:
    first = store.append([read("1"), read("2")])
    again = store.append([read("3"), read("2"), read("1", camera="cam-b")])
    assert again.duplicate == [False, True, False]
    assert again.seqs[1] == first.seqs[1]
    assert store.count_reads() == 4


def test_a_failing_append_stores_nothing(store: SqliteStore) -> None:
    good = read("ok")
    bad = Read(0, "bad", "cam-a", "pz5364", DAY0, DAY0, "X", None, None, False, None, 0.5)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.append([good, read("other", at_us=DAY0 + US_PER_DAY), bad])
    assert store.count_reads() == 0
    assert store.segments() == []
    # The store keeps working afterwards, and the failed seqs are not reused.
    assert store.append([good]).seqs == [1]


def test_unknown_camera_is_refused(store: SqliteStore) -> None:
    with pytest.raises(StoreError, match="unknown camera"):
        store.append([read("1", camera="ghost")])


def test_reopen_resumes_the_sequence(tmp_path: Path, store: SqliteStore) -> None:
    store.append([read("1"), read("2")])
    store.close()
    again = SqliteStore(store.path)
    again.open()
    assert again.last_seq() == 2
    assert again.append([read("3")]).seqs == [3]
    assert again.append([read("1")]).duplicate == [True]
    assert [c.camera.id for c in again.cameras()] == ["cam-a", "cam-b"]


def test_drop_segment_deletes_a_whole_day(store: SqliteStore) -> None:
    store.append([read("a"), read("b", at_us=DAY0 + US_PER_DAY)])
    assert store.drop_segment(dt.date(2026, 11, 20)) == 1
    assert [r.read_id for r in store.reads_after(0, 10)] == ["b"]
    assert [s.day for s in store.segments()] == [dt.date(2026, 11, 21)]


def test_plate_history(store: SqliteStore) -> None:
    store.append(
        [read("a", plate="1XYZ999"), read("b"), read("c", plate="1XYZ999", at_us=DAY0 + US_PER_DAY)]
    )
    hist = store.reads_of_plate("1XYZ999", DAY0 - 1, DAY0 + 2 * US_PER_DAY)
    assert [r.read_id for r in hist] == ["a", "c"]


def test_deleted_camera_keeps_its_reads_and_loses_its_token(store: SqliteStore) -> None:
    store.upsert_camera(make_camera("cam-a"), "hash")
    store.append([read("a")])
    assert store.delete_camera("cam-a")
    assert not store.delete_camera("cam-a")
    assert [c.camera.id for c in store.cameras()] == ["cam-b"]
    assert store.reads_after(0, 10)[0].camera_id == "cam-a"


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


def test_duplicates_do_not_use_up_sequence_numbers(store: SqliteStore) -> None:
    store.append([read("1"), read("2")])
    store.append([read("1"), read("2")])
    assert store.last_seq() == 2
    assert store.append([read("3")]).seqs == [3]


def test_sequence_never_goes_back_after_retention(tmp_path: Path, store: SqliteStore) -> None:
    store.append([read("a"), read("b", at_us=DAY0 + US_PER_DAY)])
    store.drop_segment(dt.date(2026, 11, 21))  # the newest day, holding the highest seq
    store.close()
    again = SqliteStore(store.path)
    again.open()
    assert again.last_seq() == 2
    assert again.append([read("c", at_us=DAY0 + 2 * US_PER_DAY)]).seqs == [3]


def test_a_processor_cursor_must_move_from_where_it_is(store: SqliteStore) -> None:
    store.commit_processor("p", 0, 10, {("cam-a", 0): (1, 0, 0)})
    with pytest.raises(StoreError, match="cursor moved"):
        store.commit_processor("p", 0, 20, {("cam-a", 0): (1, 0, 0)})
    assert store.cursor("p") == 10
    assert [c.reads for c in store.traffic_counts(0)] == [1]


def test_derived_records_and_cursor_fail_together(store: SqliteStore) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute(
        "CREATE TRIGGER no_counts BEFORE INSERT ON traffic_counts "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    conn.commit()
    with pytest.raises(StoreError):
        store.commit_processor("p", 0, 10, {("cam-a", 0): (5, 0, 0)})
    assert store.traffic_counts(0) == [] and store.cursor("p") == 0
    conn.execute("DROP TRIGGER no_counts")
    conn.commit()
    conn.close()
    store.commit_processor("p", 0, 10, {("cam-a", 0): (5, 0, 0)})
    assert [c.reads for c in store.traffic_counts(0)] == [5]


def test_setting_a_token_does_not_revive_a_deleted_camera(store: SqliteStore) -> None:
    assert store.set_token_hash("cam-a", "h1")
    store.delete_camera("cam-a")
    assert not store.set_token_hash("cam-a", "h2")
    assert [c.camera.id for c in store.cameras()] == ["cam-b"]
