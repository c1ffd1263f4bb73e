"""The store contract, run against both engines: SQLite on a real file and the real
PostgreSQL server (each test in a schema of its own)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import psycopg
import pytest

from kruispunt.domain.reads import Read
from kruispunt.store.base import StoreError
from kruispunt.store.postgres import PgStore
from kruispunt.store.sql import SqlStore
from kruispunt.store.sqlite import US_PER_DAY, SqliteStore
from tests.backends import require_postgres, unique_name
from tests.conftest import ENGINES, drop_pg_schema, make_camera

DAY0 = int(dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp()) * 1_000_000


def read(read_id: str, *, at_us: int = DAY0, plate: str = "1ABC123", camera: str = "cam-a") -> Read:
    return Read(
        0, read_id, camera, "pz5364", at_us, at_us + 1000, plate, plate, "BE", True,
        "BE.current", 0.9,
    )  # fmt: skip


@dataclass
class Backend:
    engine: str
    new_store: Callable[[], SqlStore]  # another store object on the same database
    sql: Callable[[str], None]  # run DDL behind the store's back (failure injection)

    def break_inserts(self, table: str) -> None:
        if self.engine == "sqlite":
            self.sql(
                f"CREATE TRIGGER broken BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
            )
        else:
            self.sql(
                "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk trouble'; END $$"
            )
            self.sql(f"CREATE TRIGGER broken BEFORE INSERT ON {table} FOR EACH ROW "
                     "EXECUTE FUNCTION broken()")  # fmt: skip

    def mend(self, table: str) -> None:
        if self.engine == "sqlite":
            self.sql("DROP TRIGGER broken")
        else:
            self.sql(f"DROP TRIGGER broken ON {table}")
            self.sql("DROP FUNCTION broken()")


@pytest.fixture(params=ENGINES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "s.sqlite"

        def sqlite_ddl(statement: str) -> None:
            with sqlite3.connect(path) as conn:
                conn.execute(statement)

        yield Backend("sqlite", lambda: SqliteStore(path, synchronous="NORMAL"), sqlite_ddl)
        return
    url = require_postgres()
    schema = unique_name("kp_store")

    def pg_ddl(statement: str) -> None:
        with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as conn:
            conn.execute(statement)  # type: ignore[call-overload]

    yield Backend("postgresql", lambda: PgStore(url, schema=schema, pool_size=2), pg_ddl)
    drop_pg_schema(url, schema)


@pytest.fixture
def store(backend: Backend) -> Iterator[SqlStore]:
    s = backend.new_store()
    s.open()
    s.upsert_camera(make_camera("cam-a"), None)
    s.upsert_camera(make_camera("cam-b"), None)
    yield s
    s.close()


def reopen(backend: Backend, store: SqlStore) -> SqlStore:
    store.close()
    again = backend.new_store()
    again.open()
    return again


def test_append_assigns_increasing_seqs_and_reads_back_in_order(store: SqlStore) -> None:
    result = store.append([read("1"), read("2"), read("3", camera="cam-b")])
    assert result.seqs == [1, 2, 3] and result.duplicate == [False] * 3
    got = store.reads_after(0, 10)
    assert [(r.seq, r.read_id, r.camera_id) for r in got] == [
        (1, "1", "cam-a"), (2, "2", "cam-a"), (3, "3", "cam-b"),
    ]  # fmt: skip
    assert store.reads_after(2, 10)[0].seq == 3
    assert store.reads_after(0, 2)[-1].seq == 2
    assert got[0] == Read(
        1, "1", "cam-a", "pz5364", DAY0, DAY0 + 1000, "1ABC123", "1ABC123", "BE", True,
        "BE.current", 0.9,
    )  # fmt: skip


def test_reads_come_back_in_log_order_across_days(store: SqlStore) -> None:
    store.append([read("a", at_us=DAY0), read("b", at_us=DAY0 + US_PER_DAY), read("c", at_us=DAY0)])
    days = {s.day.isoformat(): s.rows for s in store.segments()}
    assert days == {"2026-11-20": 2, "2026-11-21": 1}
    # A late read for an old day still comes out of the log in sequence order.
    store.append([read("late", at_us=DAY0 + 5)])
    assert [r.read_id for r in store.reads_after(0, 10)] == ["a", "b", "c", "late"]
    assert [r.read_id for r in store.reads_after(2, 10)] == ["c", "late"]


def test_duplicates_return_the_original_seq(store: SqlStore) -> None:
    first = store.append([read("1"), read("2")])
    again = store.append([read("3"), read("2"), read("1", camera="cam-b")])
    assert again.duplicate == [False, True, False]
    assert again.seqs[1] == first.seqs[1]
    assert store.count_reads() == 4


def test_a_read_twice_in_one_batch_is_stored_once(store: SqlStore) -> None:
    result = store.append([read("1"), read("1"), read("2")])
    assert result.duplicate == [False, True, False]
    assert result.seqs[1] == result.seqs[0]
    assert store.count_reads() == 2


def test_a_failing_append_stores_nothing(store: SqlStore) -> None:
    good = read("ok")
    bad = Read(0, "bad", "cam-a", "pz5364", DAY0, DAY0, "X", None, None, False, None, 0.5)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.append([good, read("other", at_us=DAY0 + US_PER_DAY), bad])
    assert store.count_reads() == 0
    assert store.segments() == []
    # The store keeps working afterwards, and the failed seqs are not reused.
    assert store.append([good]).seqs == [1]


def test_unknown_camera_is_refused(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="unknown camera"):
        store.append([read("1", camera="ghost")])


def test_reopen_resumes_the_sequence(backend: Backend, store: SqlStore) -> None:
    store.append([read("1"), read("2")])
    again = reopen(backend, store)
    assert again.last_seq() == 2
    assert again.append([read("3")]).seqs == [3]
    assert again.append([read("1")]).duplicate == [True]
    assert [c.camera.id for c in again.cameras()] == ["cam-a", "cam-b"]
    again.close()


def test_drop_segment_deletes_a_whole_day(store: SqlStore) -> None:
    store.append([read("a"), read("b", at_us=DAY0 + US_PER_DAY)])
    assert store.drop_segment(dt.date(2026, 11, 20)) == 1
    assert [r.read_id for r in store.reads_after(0, 10)] == ["b"]
    assert [s.day for s in store.segments()] == [dt.date(2026, 11, 21)]
    assert store.reads_of_plate("1ABC123", DAY0 - 1, DAY0 + 2 * US_PER_DAY)[0].read_id == "b"
    # The day can come back (a late read) and is a fresh, empty day.
    store.append([read("late", at_us=DAY0 + 7)])
    assert {s.day: s.rows for s in store.segments()}[dt.date(2026, 11, 20)] == 1


def test_plate_history(store: SqlStore) -> None:
    store.append(
        [read("a", plate="1XYZ999"), read("b"), read("c", plate="1XYZ999", at_us=DAY0 + US_PER_DAY)]
    )
    hist = store.reads_of_plate("1XYZ999", DAY0 - 1, DAY0 + 2 * US_PER_DAY)
    assert [r.read_id for r in hist] == ["a", "c"]
    assert [r.read_id for r in store.reads_of_plate("1XYZ999", DAY0 + 1, DAY0 + 10)] == []


def test_deleted_camera_keeps_its_reads_and_loses_its_token(store: SqlStore) -> None:
    store.upsert_camera(make_camera("cam-a"), "hash")
    store.append([read("a")])
    assert store.delete_camera("cam-a")
    assert not store.delete_camera("cam-a")
    assert [c.camera.id for c in store.cameras()] == ["cam-b"]
    assert store.reads_after(0, 10)[0].camera_id == "cam-a"


def test_duplicates_do_not_use_up_sequence_numbers(store: SqlStore) -> None:
    store.append([read("1"), read("2")])
    store.append([read("1"), read("2")])
    assert store.last_seq() == 2
    assert store.append([read("3")]).seqs == [3]


def test_sequence_never_goes_back_after_retention(backend: Backend, store: SqlStore) -> None:
    store.append([read("a"), read("b", at_us=DAY0 + US_PER_DAY)])
    store.drop_segment(dt.date(2026, 11, 21))  # the newest day, holding the highest seq
    again = reopen(backend, store)
    assert again.last_seq() == 2
    assert again.append([read("c", at_us=DAY0 + 2 * US_PER_DAY)]).seqs == [3]
    again.close()


def test_reads_numbered_by_a_distributed_log_keep_their_seq(store: SqlStore) -> None:
    numbered = [msgspec.structs.replace(read(f"n{n}"), seq=(7 << 16) + n) for n in range(3)]
    result = store.append(numbered)
    assert result.seqs == [7 << 16, (7 << 16) + 1, (7 << 16) + 2]
    assert [r.seq for r in store.reads_after(0, 10)] == result.seqs
    resent = store.append(numbered[:1])
    assert resent.duplicate == [True] and resent.seqs == [7 << 16]


def test_a_processor_cursor_must_move_from_where_it_is(store: SqlStore) -> None:
    store.commit_processor("p", 0, 10, {("cam-a", 0): (1, 0, 0)})
    with pytest.raises(StoreError, match="cursor moved"):
        store.commit_processor("p", 0, 20, {("cam-a", 0): (1, 0, 0)})
    with pytest.raises(StoreError, match="cursor moved"):
        store.commit_processor("p", 5, 20, {("cam-a", 0): (1, 0, 0)})
    assert store.cursor("p") == 10
    assert [c.reads for c in store.traffic_counts(0)] == [1]
    store.commit_processor("p", 10, 20, {("cam-a", 0): (2, 1, 1)})
    assert store.cursors() == {"p": 20}
    assert [(c.reads, c.low_confidence, c.foreign) for c in store.traffic_counts(0)] == [(3, 1, 1)]


def test_derived_records_and_cursor_fail_together(backend: Backend, store: SqlStore) -> None:
    backend.break_inserts("traffic_counts")
    with pytest.raises(StoreError):
        store.commit_processor("p", 0, 10, {("cam-a", 0): (5, 0, 0)})
    assert store.traffic_counts(0) == [] and store.cursor("p") == 0
    backend.mend("traffic_counts")
    store.commit_processor("p", 0, 10, {("cam-a", 0): (5, 0, 0)})
    assert [c.reads for c in store.traffic_counts(0)] == [5]


def test_setting_a_token_does_not_revive_a_deleted_camera(store: SqlStore) -> None:
    assert store.set_token_hash("cam-a", "h1")
    store.delete_camera("cam-a")
    assert not store.set_token_hash("cam-a", "h2")
    assert [c.camera.id for c in store.cameras()] == ["cam-b"]
    assert not store.set_token_hash("ghost", "h3")


def test_the_audit_log_refuses_changes(store: SqlStore) -> None:
    from kruispunt.audit import read_audit, verify_chain, write_audit

    with store.transaction() as conn:
        write_audit(conn, actor="u1", actor_zone="pz5364", action="test", object_type="t",
                    object_id="1", detail={"why": "because"})  # fmt: skip
        write_audit(conn, actor="u1", actor_zone=None, action="test", object_type="t",
                    object_id="2")  # fmt: skip
    records = read_audit(store.reader())
    assert len(records) == 2 and verify_chain(records) is None
    for statement in ("UPDATE audit_log SET actor='x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), store.transaction() as conn:
            conn.execute(statement)
    assert verify_chain(read_audit(store.reader())) is None
