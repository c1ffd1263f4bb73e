"""The main command: `kruispunt demo` starts a node and feeds it the simulated province, with
weeks of simulated traffic counts so camera health judges at once, and a few faulty cameras."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kruispunt.demo import DEMO_FAULTS, demo_config, province_model, seed_count_history
from kruispunt.domain.reads import Read
from kruispunt.ingest.validate import Limits, validate_read
from kruispunt.node import Node
from kruispunt.sim.faults import Faults
from kruispunt.sim.layout import build_province_cameras
from tests.test_crash import free_port

pytestmark = pytest.mark.slow


def test_demo_serves_the_page_and_stores_simulated_reads(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "demo", "--port", str(port),
         "--data-dir", str(tmp_path)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        status: dict[str, object] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                status = httpx.get(f"{url}/api/v1/status", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            active = {c["zone_id"] for c in status["cameras"] if c["reads_last_hour"]}  # type: ignore[attr-defined]
            if int(status["reads_total"]) >= 500 and len(active) == 6:  # type: ignore[call-overload]
                break
            time.sleep(0.5)
        assert int(status.get("reads_total", 0)) >= 500, status  # type: ignore[call-overload]
        cameras = status["cameras"]
        assert isinstance(cameras, list) and len(cameras) >= 140
        zones = {c["zone_id"] for c in cameras if c["reads_last_hour"] > 0}
        assert {"pz5364", "pz5369", "pz5355", "pz5352", "pz5345", "fedpol"} <= zones
        page = httpx.get(url, timeout=5)
        assert page.status_code == 200 and "<svg" in page.text
        # After the back-fill every camera is judged against a profile learned from the
        # simulated history: none is "unknown (learning)".
        users = json.loads((tmp_path / "user-tokens.json").read_text())
        operator = {"Authorization": f"Bearer {users['pz5364-operator']}"}
        health: list[dict[str, object]] = []
        while time.monotonic() < deadline + 60:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            answer = httpx.get(f"{url}/api/v1/health/cameras", headers=operator, timeout=10)
            assert answer.status_code == 200, answer.text
            health = answer.json()["cameras"]
            if health and all(c["status"] != "not_judged" for c in health):
                break
            time.sleep(1)
        assert len(health) >= 40, health
        assert {c["state"] for c in health} <= {"ok", "warning", "alarm"}, health
        assert min(int(c["history_days"]) for c in health) >= 14  # type: ignore[call-overload]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log.close()
    assert code == 0, (tmp_path / "demo.log").read_text()
    assert "demo stopped" in (tmp_path / "demo.log").read_text()
    tokens = tmp_path / "camera-tokens.json"
    assert tokens.stat().st_mode & 0o077 == 0
    assert len(json.loads(tokens.read_text())) >= 140


SECOND = 1_000_000
MINUTE = 60 * SECOND
SCALE = 0.1  # of the province's traffic: enough reads in 25 minutes to judge a clock
SILENT = next(f.camera_id for f in DEMO_FAULTS if f.kind == "silent")
SKEWED = next(f.camera_id for f in DEMO_FAULTS if f.kind == "clock_ahead")
NOT_READING = {f.camera_id for f in DEMO_FAULTS if f.kind in ("silent", "offline")}


def last_tuesday_morning() -> dt.datetime:
    """09:00 UTC on the last Tuesday before today: a working day's morning traffic."""
    today = dt.datetime.now(dt.UTC).date()
    day = today - dt.timedelta(days=(today.weekday() - 1) % 7 or 7)
    return dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)


def feed_live(node: Node, faults: Faults, start: dt.datetime, end: dt.datetime) -> None:
    """The province's reads of [start, end) as the (faulty) cameras send them, each taken by
    the node a second after its true capture (the tracker's arrival time)."""
    model = province_model(SCALE, 0.02, seed=7)
    limits = Limits(max_future_skew_us=300 * SECOND, max_age_us=10 * 86_400 * SECOND,
                    min_confidence=0.0)  # fmt: skip
    batch: list[Read] = []
    for camera_id, sent in model.reads_between(start, end):
        camera = node.registry.get(camera_id)
        read = faults.read(camera_id, sent)
        if camera is None or read is None:
            continue
        true_us = int(sent.captured_at.timestamp() * SECOND)
        valid = validate_read(read, camera=camera, now_us=true_us + SECOND, limits=limits)
        assert isinstance(valid, Read), valid
        batch.append(valid)
        if len(batch) >= 2000:
            node.writer.submit_reads(batch).result()
            batch = []
    node.writer.submit_reads(batch).result()


def test_the_simulated_history_teaches_profiles_and_the_silent_camera_alarms(
    tmp_path: Path,
) -> None:
    node = Node(demo_config(tmp_path, free_port()))
    node.start()
    node.health.stop()  # as the demo holds it; this test ticks it by hand, on its own clock
    try:
        node.upsert_cameras(build_province_cameras())
        t0 = last_tuesday_morning()
        t0_us = int(t0.timestamp() * SECOND)
        started = time.monotonic()
        rows = seed_count_history(node, province_model(SCALE, 0.02, seed=7), until_us=t0_us)
        assert rows > 200_000 and time.monotonic() - started < 15
        # Seeding again (a restarted demo) keeps the counts there are.
        before = node.store.traffic_counts(t0_us - 86_400 * SECOND)
        assert seed_count_history(node, province_model(SCALE, 0.02, seed=7), until_us=t0_us) == 0
        assert node.store.traffic_counts(t0_us - 86_400 * SECOND) == before

        node.health.relearn(t0_us)
        assert node.health.tick(t0_us) == []
        judged = node.health.health()
        assert len(judged) == len(node.registry.all())
        assert {h.state for h in judged.values()} == {"ok"}  # learned: none "unknown"
        assert min(h.history_days for h in judged.values()) >= 14

        # 25 minutes of live traffic with the demo's faults, judged at its end.
        faults = Faults(DEMO_FAULTS, live_start=t0)
        feed_live(node, faults, t0, t0 + dt.timedelta(minutes=25))
        deadline = time.monotonic() + 20
        while any(r.lag() for r in node.runners) and time.monotonic() < deadline:
            time.sleep(0.1)  # the traffic counts of the live reads
        events = node.health.tick(t0_us + 25 * MINUTE)
        found = {(e.alarm.camera_id, e.alarm.kind): e for e in events if e.event == "raised"}
        silence = found[(SILENT, "silence")]
        assert silence.alarm.severity == "critical" and silence.manager_zone_id == "pz5345"
        assert 899 < silence.alarm.values["gap_s"] < 20 * 60  # silent since 10 min in
        assert {cam for cam, kind in found if kind == "silence"} <= NOT_READING
        skew = found[(SKEWED, "clock_skew")]
        assert skew.alarm.explanation.startswith("clock about 4")  # 45 s ahead, minus latency
    finally:
        node.stop()
