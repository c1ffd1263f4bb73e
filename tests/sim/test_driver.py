"""The driver: batches per camera, tokens, back-pressure (429 + Retry-After), cancellation."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest

from kruispunt.domain.cameras import Camera
from kruispunt.ingest.wire import (
    ReadBatchIn,
    ReadBatchResult,
    ReadResult,
    ReadStatus,
    decode_batch,
)
from kruispunt.sim.driver import DriveStats, drive, load_tokens, retry_after_seconds
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.traffic import TrafficModel

START = dt.datetime(2025, 3, 4, 7, 0, tzinfo=dt.UTC)  # 08:00 local, morning peak
DURATION_S = 1200.0
BASE = "http://kruispunt.test"


class FakeServer:
    """Behaves like the ingest endpoint: per-camera tokens, idempotent read ids, and
    back-pressure on the first attempt of every batch."""

    def __init__(self, tokens: dict[str, str], *, refuse_first: bool = True) -> None:
        self.tokens = tokens
        self.refuse_first = refuse_first
        self.stored: dict[tuple[str, str], int] = {}
        self.seen_bodies: set[bytes] = set()
        self.throttled = 0
        self.unauthorised = 0
        self.batches: list[ReadBatchIn] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/api/v1/reads"
        batch = decode_batch(request.content)
        expected = f"Bearer {self.tokens.get(batch.camera_id)}"
        if request.headers.get("Authorization") != expected:
            self.unauthorised += 1
            return httpx.Response(401, json={"error": {"code": "unauthorised", "message": "no"}})
        if self.refuse_first and request.content not in self.seen_bodies:
            self.seen_bodies.add(request.content)
            self.throttled += 1
            return httpx.Response(429, headers={"Retry-After": "0"})
        self.batches.append(batch)
        results = []
        for read in batch.reads:
            assert read.camera_id in (None, batch.camera_id)
            key = (batch.camera_id, read.read_id)
            status: ReadStatus = "duplicate" if key in self.stored else "stored"
            self.stored[key] = self.stored.get(key, 0) + 1
            results.append(ReadResult(read_id=read.read_id, status=status))
        body = ReadBatchResult(
            version=1,
            camera_id=batch.camera_id,
            stored=sum(r.status == "stored" for r in results),
            duplicates=sum(r.status == "duplicate" for r in results),
            rejected=0,
            results=results,
        )
        return httpx.Response(200, content=msgspec.json.encode(body))


@pytest.fixture(scope="module")
def cameras() -> list[Camera]:
    return build_province_cameras()


@pytest.fixture(scope="module")
def model(cameras: list[Camera]) -> TrafficModel:
    return TrafficModel(cameras, vehicles=2000, rate_scale=0.02)


@pytest.fixture(scope="module")
def tokens(cameras: list[Camera]) -> dict[str, str]:
    return {c.id: f"token-{i:03d}-{c.id}" for i, c in enumerate(cameras)}


def _run(
    server: FakeServer,
    model: TrafficModel,
    tokens: dict[str, str],
    *,
    speed: float = DURATION_S / 0.1,  # the 20 simulated minutes in a tenth of a second
    on_progress: Callable[[DriveStats], None] | None = None,
) -> DriveStats:
    async def main() -> DriveStats:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            return await drive(
                BASE,
                tokens,
                model,
                start=START,
                speed=speed,
                duration_s=DURATION_S,
                batch_max=20,
                batch_interval_s=0.01,
                client=client,
                on_progress=on_progress,
            )

    return asyncio.run(main())


def test_every_read_delivered_exactly_once_despite_429(
    model: TrafficModel, tokens: dict[str, str]
) -> None:
    expected = {
        (cam, read.read_id)
        for cam, read in model.reads_between(START, START + dt.timedelta(seconds=DURATION_S))
    }
    assert len(expected) > 500
    server = FakeServer(tokens)
    progress: list[int] = []
    stats = _run(server, model, tokens, on_progress=lambda s: progress.append(s.reads_sent))
    assert set(server.stored) == expected
    assert all(n == 1 for n in server.stored.values())
    assert stats.stored == len(expected) == stats.reads_generated == stats.reads_sent
    assert stats.duplicates == stats.rejected == stats.failed_reads == 0
    assert stats.retries == server.throttled == stats.batches_sent > 0
    assert server.unauthorised == 0
    assert progress == sorted(progress) and progress[-1] == len(expected)
    assert stats.sim_time == START + dt.timedelta(seconds=DURATION_S)


def test_batches_hold_one_camera_and_at_most_batch_max(
    model: TrafficModel, tokens: dict[str, str]
) -> None:
    server = FakeServer(tokens, refuse_first=False)
    stats = _run(server, model, tokens, speed=1e12)  # everything is due at the first tick
    assert stats.retries == 0 and len(server.batches) == stats.batches_sent
    per_camera = Counter(b.camera_id for b in server.batches for _ in b.reads)
    assert max(per_camera.values()) > 20  # so the cap below is tested
    assert max(len(b.reads) for b in server.batches) == 20  # batch_max
    assert sum(len(b.reads) for b in server.batches) == stats.reads_generated
    for batch in server.batches:
        assert all(r.camera_id == batch.camera_id for r in batch.reads)
        times = [r.captured_at for r in batch.reads]
        assert times == sorted(times)


def test_wrong_token_is_counted_as_failed_not_retried(
    model: TrafficModel, tokens: dict[str, str]
) -> None:
    victim = sorted(tokens)[0]
    wrong = {**tokens, victim: "not-the-token"}
    server = FakeServer(tokens, refuse_first=False)
    stats = _run(server, model, wrong)
    assert server.unauthorised == stats.failed_batches
    assert not any(cam == victim for cam, _ in server.stored)
    assert stats.stored + stats.failed_reads == stats.reads_generated


def test_cameras_without_token_are_skipped(model: TrafficModel, tokens: dict[str, str]) -> None:
    some = dict(list(tokens.items())[:10])
    server = FakeServer(some, refuse_first=False)
    stats = _run(server, model, some)
    assert stats.skipped_no_token > 0
    assert stats.stored + stats.skipped_no_token == stats.reads_generated
    assert {cam for cam, _ in server.stored} <= set(some)


def test_cancellation_stops_cleanly(model: TrafficModel, tokens: dict[str, str]) -> None:
    server = FakeServer(tokens, refuse_first=False)
    seen: list[DriveStats] = []

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            task = asyncio.create_task(
                drive(
                    BASE,
                    tokens,
                    model,
                    start=START,
                    speed=600.0,
                    duration_s=None,
                    batch_interval_s=0.02,
                    client=client,
                    on_progress=seen.append,
                )
            )
            # Cancel mid-drive, once something was delivered (generation speed varies).
            for _ in range(400):
                if seen and seen[-1].stored > 0:
                    break
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not client.is_closed  # a client we passed in stays ours

    asyncio.run(main())
    assert seen and seen[-1].stored > 0
    assert seen[-1].stored == len(server.stored)


def test_retry_after_parsing() -> None:
    now = dt.datetime(2025, 3, 4, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("0") == 0.0
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("Tue, 04 Mar 2025 12:00:03 GMT", now=now) == 3.0
    assert retry_after_seconds(None) == 1.0
    assert retry_after_seconds("soon") == 1.0
    assert retry_after_seconds("86400") == 60.0


def test_load_tokens(tmp_path: Path) -> None:
    good = tmp_path / "tokens.json"
    good.write_text(json.dumps({"pz5364-c001": "abc"}), "utf-8")
    assert load_tokens(good) == {"pz5364-c001": "abc"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"pz5364-c001": 1}), "utf-8")
    with pytest.raises(ValueError, match="camera id -> token"):
        load_tokens(bad)
