"""The simulated history of counts follows the traffic model it stands in for; the demo's
camera faults change exactly what they say, from when they say."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pytest

from kruispunt.ingest.wire import ReadIn
from kruispunt.processors.traffic_counts import BUCKET_US
from kruispunt.sim.faults import Fault, Faults
from kruispunt.sim.history import camera_traffic, expected_reads, simulated_counts
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.traffic import TrafficModel

UTC = dt.UTC
TUESDAY_MORNING = dt.datetime(2025, 3, 4, 8, tzinfo=UTC)  # 09:00 local


@pytest.fixture(scope="module")
def model() -> TrafficModel:
    return TrafficModel(build_province_cameras(7), seed=7, reads_per_day=150_000)


def us(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def test_the_expected_counts_follow_the_models_own_reads(model: TrafficModel) -> None:
    start, end = TUESDAY_MORNING, TUESDAY_MORNING + dt.timedelta(hours=2)
    expected = expected_reads(model, camera_traffic(model), start_us=us(start), end_us=us(end))
    seen: Counter[str] = Counter(camera for camera, _ in model.reads_between(start, end))
    total = sum(float(e.sum()) for e in expected.values())
    assert 0.85 < sum(seen.values()) / total < 1.15
    busy = [c for c, e in expected.items() if e.sum() > 100]
    ratios = [seen[c] / float(expected[c].sum()) for c in busy]
    assert len(busy) > 50 and 0.85 < float(np.median(ratios)) < 1.15
    # The morning peak: 8-9 local is busier than 9-10 (the daily curve, shifted by travel).
    per_bucket = np.sum(list(expected.values()), axis=0)
    assert per_bucket[:4].sum() > per_bucket[4:].sum()


def test_simulated_counts_are_batched_and_skip_quarter_hours_already_counted(
    model: TrafficModel,
) -> None:
    start = us(TUESDAY_MORNING)
    end = start + 2 * 86_400_000_000
    first = [dict(b) for b in simulated_counts(model, start_us=start, end_us=end, seed=1,
                                               batch=1000)]  # fmt: skip
    assert all(len(b) <= 1000 for b in first) and len(first) > 3
    rows = {k: v for b in first for k, v in b.items()}
    assert all(b % BUCKET_US == 0 and start <= b < end for _, b in rows)
    assert all(0 <= low <= n and 0 <= foreign <= n and n > 0 for n, low, foreign in rows.values())
    skip = set(list(rows)[:500])
    again = {k: v for b in simulated_counts(model, start_us=start, end_us=end, seed=1,
                                            skip=skip) for k, v in b.items()}  # fmt: skip
    assert set(again) == set(rows) - skip and all(again[k] == rows[k] for k in again)
    with pytest.raises(ValueError, match="quarter-hour"):
        next(simulated_counts(model, start_us=start + 1, end_us=end, seed=1))


def read(at: dt.datetime, read_id: str = "r-1") -> ReadIn:
    return ReadIn(read_id=read_id, captured_at=at, plate="1-ABC-123", confidence=0.93)


def test_faults_start_when_they_say_and_change_what_they_say() -> None:
    t0 = TUESDAY_MORNING
    faults = Faults(
        [
            Fault("silent", "silent", after_s=600),
            Fault("offline", "offline", after_s=300),
            Fault("ahead", "clock_ahead", after_s=0, clock_offset_s=45),
            Fault("dirty", "low_confidence", after_s=-3600, low_share=0.6),
        ],
        live_start=t0,
    )
    before, after = t0 + dt.timedelta(seconds=599), t0 + dt.timedelta(seconds=601)
    assert faults.read("silent", read(before)) == read(before)
    assert faults.read("silent", read(after)) is None
    assert faults.heartbeat("silent", after) == after  # alive, only its reads stop
    assert faults.heartbeat("offline", t0 + dt.timedelta(seconds=299)) is not None
    assert faults.heartbeat("offline", t0 + dt.timedelta(seconds=300)) is None
    shifted = faults.read("ahead", read(after))
    assert shifted is not None and shifted.captured_at == after + dt.timedelta(seconds=45)
    assert faults.heartbeat("ahead", after) == after + dt.timedelta(seconds=45)
    assert faults.read("healthy", read(after)) == read(after)
    during_backfill = t0 - dt.timedelta(minutes=30)
    confidences = []
    for i in range(2000):
        sent = faults.read("dirty", read(during_backfill, f"r-{i}"))
        assert sent is not None and sent.plate == "1-ABC-123"
        confidences.append(sent.confidence)
    low = sum(c < 0.7 for c in confidences) / len(confidences)
    assert 0.55 < low < 0.65
    assert faults.read("dirty", read(during_backfill, "r-7")) == faults.read(
        "dirty", read(during_backfill, "r-7")
    )  # the same read is sent the same way again (a resend stays a duplicate)
