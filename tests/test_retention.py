"""Retention is enforced by code: whole days past the limit are dropped, nothing younger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kruispunt.config import Config
from kruispunt.node import Node
from kruispunt.retention import days_to_drop
from kruispunt.store.sql import SqlStore
from kruispunt.store.sqlite import US_PER_DAY
from tests.conftest import make_camera, make_config, on_both_engines
from tests.test_store_sqlite import DAY0, read

TODAY = dt.date(2026, 11, 22)


def test_days_older_than_the_limit_are_dropped() -> None:
    days = [TODAY - dt.timedelta(days=n) for n in range(0, 40)]
    dropped = days_to_drop(days, today=TODAY, keep_days=30)
    # Day D's newest read is from just before D+1; D goes once D+1 <= today - 30.
    assert dropped == [TODAY - dt.timedelta(days=n) for n in range(39, 30, -1)]


@given(
    st.lists(st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)), max_size=50),
    st.integers(1, 400),
)
def test_no_read_younger_than_the_limit_is_ever_dropped(days: list[dt.date], keep: int) -> None:
    cutoff = dt.datetime.combine(TODAY - dt.timedelta(days=keep), dt.time(), dt.UTC)
    for day in days_to_drop(days, today=TODAY, keep_days=keep):
        newest = dt.datetime.combine(day, dt.time.max, dt.UTC)
        assert newest < cutoff
    for day in set(days) - set(days_to_drop(days, today=TODAY, keep_days=keep)):
        assert dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC) > cutoff


def test_node_drops_expired_days_from_the_store(tmp_path: Path) -> None:
    node = Node(make_config(tmp_path, retention={"reads_days": 2}))
    node.start()
    try:
        node.upsert_cameras([make_camera("cam-a")])
        node.writer.submit_reads(
            [read("old", at_us=DAY0), read("new", at_us=DAY0 + 2 * US_PER_DAY)]
        ).result()
        dropped = node.enforce_retention(today=dt.date(2026, 11, 23))
        assert dropped == 1
        assert [r.read_id for r in node.store.reads_after(0, 10)] == ["new"]
    finally:
        node.stop()


@on_both_engines
def test_the_jurisdiction_limit_wins_and_hits_go_with_the_reads(config: Config) -> None:
    """NL keeps reads 28 days: a configured 365 does not stretch that. Hits carry plates and
    go with the reads; the purge is audited."""
    from kruispunt.audit import read_audit, verify_chain
    from kruispunt.config import LawConfig
    from kruispunt.hits.store import HitStore
    from tests.test_hits_policy import make_hit

    cfg = config.model_copy(update={"law": LawConfig(profile="nl")})
    node = Node(cfg)
    node.start()
    try:
        assert node.reads_keep_days == 28 and node.law.key == "NL"
        node.upsert_cameras([make_camera("cam-a")])
        today = dt.date(2026, 11, 23)
        old = int(dt.datetime(2026, 10, 20, 12, tzinfo=dt.UTC).timestamp()) * 1_000_000
        recent = int(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp()) * 1_000_000
        node.writer.submit_reads([read("old", at_us=old), read("new", at_us=recent)]).result()
        store = node.store
        assert isinstance(store, SqlStore)
        hits = [make_hit(id="h-old", seq=0, created_us=old),
                make_hit(id="h-new", seq=0, created_us=recent)]  # fmt: skip

        def insert(_store: object) -> None:  # on the writer thread, as every write
            with store.transaction() as conn:
                HitStore(store).insert(conn, hits)

        node.writer.call(insert).result()
        assert node.enforce_retention(today=today) == 1
        assert [r.read_id for r in store.reads_after(0, 10)] == ["new"]
        assert [h.id for h in node.hit_store.since(0, 10)] == ["h-new"]
        records = read_audit(store.reader(), object_type="retention")
        assert [(r.action, r.detail["reads"], r.detail["hits"]) for r in records] == [
            ("retention.purge", 1, 1)
        ]
        assert verify_chain(read_audit(store.reader())) is None
    finally:
        node.stop()
