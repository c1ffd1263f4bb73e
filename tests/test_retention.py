"""Retention is enforced by code: whole days past the limit are dropped, nothing younger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kruispunt.node import Node
from kruispunt.retention import days_to_drop
from kruispunt.store.sqlite import US_PER_DAY
from tests.conftest import make_camera, make_config
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
