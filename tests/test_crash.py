"""Kill -9 the node in the middle of a load: every acknowledged read is there exactly once."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from kruispunt.domain.cameras import Camera
from tests.conftest import ADMIN, batch_json, make_camera, read_json

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    cfg = tmp / "node.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp}/node.sqlite"\nsynchronous = "FULL"\n'
        f'[server]\nport = {port}\nadmin_token = "{ADMIN}"\n'
        "[processors]\nidle_sleep_s = 0.05\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "serve", "--config", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("node did not start")


def provision(url: str, cameras: list[Camera]) -> dict[str, str]:
    import msgspec

    tokens = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}) as http:
        for cam in cameras:
            http.put(
                f"/api/v1/cameras/{cam.id}", content=msgspec.json.encode(cam)
            ).raise_for_status()
            tokens[cam.id] = http.post(f"/api/v1/cameras/{cam.id}/token").json()["token"]
    return tokens


def test_kill_9_mid_ingest_loses_no_acknowledged_read(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(tmp_path, port)
    cameras = [make_camera(f"pz5364-k{i}") for i in range(4)]
    tokens = provision(url, cameras)

    acked: dict[tuple[str, str], int] = {}
    sent: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def camera_loop(cam: str) -> None:
        n = 0
        with httpx.Client(base_url=url, timeout=10) as http:
            while not stop.is_set():
                reads = [
                    read_json(f"{cam}-{n + i}", plate=f"1-KIL-{(n + i) % 1000:03d}")
                    for i in range(200)
                ]
                body = batch_json(cam, reads)
                n += 200
                with lock:
                    sent.append((cam, body))
                try:
                    resp = http.post(
                        "/api/v1/reads",
                        content=body,
                        headers={"Authorization": f"Bearer {tokens[cam]}"},
                    )
                except httpx.HTTPError:
                    return  # the node died under us: this batch was never acknowledged
                if resp.status_code != 200:
                    continue
                with lock:
                    for r in resp.json()["results"]:
                        acked[(cam, r["read_id"])] = r["seq"]

    threads = [threading.Thread(target=camera_loop, args=(c.id,)) for c in cameras]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 20_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 2_000, "the load did not get going"

    # Restart on the same files: every acknowledged read is there, once, with its seq.
    proc = start(tmp_path, port)
    try:
        conn = sqlite3.connect(tmp_path / "node.sqlite")
        cams = dict(conn.execute("SELECT num, id FROM cameras"))
        stored: dict[tuple[str, str], int] = {}
        duplicates = 0
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'reads_%'"
        ).fetchall():
            for num, read_id, seq in conn.execute(f"SELECT cam, read_id, seq FROM {table}"):
                key = (cams[num], read_id)
                duplicates += key in stored
                stored[key] = seq
        conn.close()
        assert duplicates == 0
        missing = [k for k in acked if k not in stored]
        assert missing == []
        assert all(stored[k] == seq for k, seq in acked.items())

        # Cameras resend whatever they were not sure of; nothing is doubled.
        with httpx.Client(base_url=url, timeout=30) as http:
            for cam, body in sent:
                resp = http.post(
                    "/api/v1/reads",
                    content=body,
                    headers={"Authorization": f"Bearer {tokens[cam]}"},
                )
                assert resp.status_code == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = http.get("/api/v1/status").json()
                if status["processors"][0]["lag"] == 0:
                    break
                time.sleep(0.1)
            assert status["processors"][0]["lag"] == 0, status["processors"]
        expected_total = len(sent) * 200
        assert status["reads_total"] == expected_total
        # The processor's counts survived the kill without double counting.
        conn = sqlite3.connect(tmp_path / "node.sqlite")
        counted = conn.execute("SELECT sum(reads) FROM traffic_counts").fetchone()[0]
        conn.close()
        assert counted == expected_total
    finally:
        proc.terminate()
        proc.wait(30)
