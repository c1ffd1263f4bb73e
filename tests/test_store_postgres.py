"""What is PostgreSQL's own in the store: day partitions, Alembic migrations, COPY, and
several processes at once (the contract for both engines is in test_store.py)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import msgspec
import psycopg
import pytest

from kruispunt.store.base import StoreError
from kruispunt.store.postgres import PgStore, migrate
from kruispunt.store.sqlite import US_PER_DAY
from tests.backends import require_postgres, unique_name
from tests.conftest import drop_pg_schema, make_camera
from tests.test_store import DAY0, read


@pytest.fixture
def pg() -> Iterator[tuple[str, str]]:
    url = require_postgres()
    schema = unique_name("kp_pg")
    yield url, schema
    drop_pg_schema(url, schema)


def partitions(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE p.relname = 'reads' AND n.nspname = %s ORDER BY 1",
            (schema,),
        ).fetchall()
    return [r[0] for r in rows]


def test_reads_live_in_one_partition_per_day_and_retention_drops_it(pg: tuple[str, str]) -> None:
    url, schema = pg
    store = PgStore(url, schema=schema)
    store.open()
    store.upsert_camera(make_camera("cam-a"), None)
    store.append([read("a"), read("b", at_us=DAY0 + US_PER_DAY)])
    assert partitions(url, schema) == ["reads_20261120", "reads_20261121"]
    with psycopg.connect(url) as conn:
        plan = conn.execute(
            f"EXPLAIN SELECT * FROM {schema}.reads WHERE plate = '1ABC123' "
            f"AND day = {DAY0 // US_PER_DAY}"
        ).fetchall()
    # Partition pruning: a one-day question touches one day's partition only.
    text = "\n".join(r[0] for r in plan)
    assert "reads_20261120" in text and "reads_20261121" not in text
    assert store.drop_segment(dt.date(2026, 11, 20)) == 1
    assert partitions(url, schema) == ["reads_20261121"]
    store.close()


def test_the_schema_is_alembic_managed_and_migrating_again_changes_nothing(
    pg: tuple[str, str],
) -> None:
    url, schema = pg
    # Several processes starting at once: the advisory lock lets one migrate at a time.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(url, schema)
        except BaseException as exc:  # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(url) as conn:
        version = conn.execute(f"SELECT version_num FROM {schema}.alembic_version").fetchall()
    assert version == [("0011",)]


def test_a_second_process_cannot_number_the_embedded_log(pg: tuple[str, str]) -> None:
    url, schema = pg
    first = PgStore(url, schema=schema)
    first.open()
    second = PgStore(url, schema=schema)
    with pytest.raises(StoreError, match="distributed log"):
        second.open()
    first.close()
    second.open()  # the lock goes with the process (or its connection) that held it
    second.close()


def test_workers_append_numbered_reads_at_once(pg: tuple[str, str]) -> None:
    """With the distributed log several workers append to one store; each read keeps the
    seq the log gave it and the per-day catalogue adds up."""
    url, schema = pg
    stores = [PgStore(url, schema=schema, numbered_by_log=True) for _ in range(3)]
    for s in stores:
        s.open()
    stores[0].upsert_camera(make_camera("cam-a"), None)
    errors: list[BaseException] = []

    def work(w: int, store: PgStore) -> None:
        try:
            for batch in range(20):
                base = (w * 100 + batch) << 16
                reads = [
                    msgspec.structs.replace(read(f"w{w}-{batch}-{i}", at_us=DAY0 + i), seq=base + i)
                    for i in range(50)
                ]
                store.append(reads)
        except BaseException as exc:  # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w, s)) for w, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert stores[0].count_reads() == 3 * 20 * 50
    got = stores[1].reads_after(0, 10_000)
    assert len(got) == 3000 and [r.seq for r in got] == sorted(r.seq for r in got)
    for s in stores:
        s.close()


def test_a_lost_connection_is_replaced(pg: tuple[str, str]) -> None:
    url, schema = pg
    store = PgStore(url, schema=schema)
    store.open()
    store.upsert_camera(make_camera("cam-a"), None)
    store.append([read("1")])
    pid = store._writer.info.backend_pid
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # The append in flight fails whole (nothing acknowledged); the next one reconnects.
    with pytest.raises(StoreError):
        store.append([read("2")])
    store.append([read("2")])
    assert [r.read_id for r in store.reads_after(0, 10)] == ["1", "2"]
    store.close()
