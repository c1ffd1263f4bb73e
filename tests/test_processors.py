"""Processors: derived records from the log, resumed from their cursor, never doubled."""

from __future__ import annotations

import time
from pathlib import Path

from kruispunt.node import Node
from kruispunt.processors.traffic_counts import BUCKET_US, count_reads
from kruispunt.store.base import TrafficCount
from tests.conftest import make_camera, make_config
from tests.test_store_sqlite import DAY0, read


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_count_reads_is_per_camera_and_quarter_hour() -> None:
    reads = [
        read("1"),
        read("2", at_us=DAY0 + 60_000_000),
        read("3", at_us=DAY0 + BUCKET_US),
        read("4", camera="cam-b"),
    ]
    counts = count_reads(reads)
    assert counts == {
        ("cam-a", DAY0): (2, 0, 0),
        ("cam-a", DAY0 + BUCKET_US): (1, 0, 0),
        ("cam-b", DAY0): (1, 0, 0),
    }


def test_processor_resumes_after_restart_without_counting_twice(tmp_path: Path) -> None:
    config = make_config(tmp_path, retention={"reads_days": 3650})
    node = Node(config)
    node.start()
    node.upsert_cameras([make_camera("cam-a"), make_camera("cam-b")])
    node.writer.submit_reads([read(f"a{i}") for i in range(300)]).result()
    wait_for(lambda: node.store.cursor("traffic_counts") == 300)
    node.stop()

    node = Node(config)
    node.start()
    assert node.runners[0].cursor == 300
    node.writer.submit_reads([read(f"b{i}") for i in range(200)]).result()
    wait_for(lambda: node.store.cursor("traffic_counts") == 500)
    counts = node.store.traffic_counts(0)
    node.stop()
    assert counts == [TrafficCount("cam-a", DAY0, 500, 0, 0)]


def test_a_backlog_is_processed_once_after_restart(tmp_path: Path) -> None:
    # Reads stored while the processor was off (or behind the in-memory tail) are read back
    # from the store. (Atomicity of counts + cursor: tests/test_store_sqlite.py.)
    config = make_config(tmp_path, processors={"enabled": []}, retention={"reads_days": 3650})
    node = Node(config)
    node.start()
    node.upsert_cameras([make_camera("cam-a"), make_camera("cam-b")])
    node.writer.submit_reads([read(f"a{i}") for i in range(50)]).result()
    node.stop()

    config = make_config(tmp_path, retention={"reads_days": 3650})
    node = Node(config)
    node.start()
    wait_for(lambda: node.store.cursor("traffic_counts") == 50)
    total = sum(c.reads for c in node.store.traffic_counts(0))
    node.stop()
    assert total == 50
