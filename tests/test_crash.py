"""Kill -9 the node in the middle of a load: every acknowledged read is there exactly once.

On SQLite and on the real PostgreSQL server (the embedded log: one node process)."""

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
from tests.backends import require_postgres, unique_name
from tests.conftest import ADMIN, batch_json, drop_pg_schema, make_camera, read_json

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Store:
    """Where the node under test keeps its log, and how the test reads it behind its back."""

    def __init__(self, engine: str, tmp: Path):
        self.engine = engine
        self.tmp = tmp
        if engine == "sqlite":
            self.section = f'url = "sqlite:///{tmp}/node.sqlite"\nsynchronous = "FULL"\n'
        else:
            self.url = require_postgres()
            self.schema = unique_name("kp_crash")
            self.section = f'url = "{self.url}"\npg_schema = "{self.schema}"\n'

    def reads(self) -> list[tuple[str, str, int]]:
        """(camera, read id, seq) of every stored read, duplicates included."""
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.tmp / "node.sqlite")
            cams = dict(conn.execute("SELECT num, id FROM cameras"))
            out = []
            for (table,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'reads_%'"
            ).fetchall():
                out += [
                    (cams[n], r, s)
                    for n, r, s in conn.execute(f"SELECT cam, read_id, seq FROM {table}")
                ]
            conn.close()
            return out
        return [
            tuple(r)
            for r in self._pg(
                "SELECT c.id, r.read_id, r.seq FROM reads r JOIN cameras c ON c.num = r.cam"
            )
        ]  # type: ignore[misc]

    def counted(self) -> int:
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.tmp / "node.sqlite")
            n = conn.execute("SELECT sum(reads) FROM traffic_counts").fetchone()[0]
            conn.close()
            return int(n)
        return int(self._pg("SELECT sum(reads) FROM traffic_counts")[0][0])

    def _pg(self, statement: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.url, options=f"-c search_path={self.schema}") as conn:
            return conn.execute(statement).fetchall()  # type: ignore[arg-type]

    def drop(self) -> None:
        if self.engine != "sqlite":
            drop_pg_schema(self.url, self.schema)


def start(store: Store, port: int) -> subprocess.Popen[bytes]:
    cfg = store.tmp / "node.toml"
    cfg.write_text(
        f"[store]\n{store.section}"
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


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_kill_9_mid_ingest_loses_no_acknowledged_read(tmp_path: Path, engine: str) -> None:
    store = Store(engine, tmp_path)
    try:
        run_kill_test(store)
    finally:
        store.drop()


def run_kill_test(store: Store) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(store, port)
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
    proc = start(store, port)
    try:
        stored: dict[tuple[str, str], int] = {}
        duplicates = 0
        for cam, read_id, seq in store.reads():
            key = (cam, read_id)
            duplicates += key in stored
            stored[key] = seq
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
        assert store.counted() == expected_total
    finally:
        proc.terminate()
        proc.wait(30)
