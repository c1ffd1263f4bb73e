"""Horizontal scale on one machine, as across machines: two API processes and two worker
processes on the real PostgreSQL and NATS JetStream servers.

- Cameras post to either API process; a worker and then an API process are SIGKILLed in
  the middle of the load (the worker's partitions move to the other worker, the cameras to
  the other API process): every acknowledged read is stored exactly once, the traffic
  counts add up to the reads, and every read of a wanted plate is exactly one hit.
- A hit raised from reads sent to one API process reaches a live subscriber connected to
  the other one.
- A hotlist entry added through one API process is matched by the workers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest

from kruispunt.access.principals import Role, User
from kruispunt.config import load_config
from kruispunt.hotlists.models import HotlistList
from kruispunt.node import Node
from tests.backends import require_nats, require_postgres, unique_name
from tests.conftest import batch_json, drop_pg_schema, make_camera, read_json

pytestmark = pytest.mark.slow

CAMERAS = [("pz5364-c001", "pz5364"), ("pz5364-c002", "pz5364"), ("pz5352-c001", "pz5352")]
WANTED = "1-WNT-001"
ADDED_LATER = "1-LAT-002"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, tmp_path: Path, pg_url: str, nats_url: str):
        self.schema = unique_name("kp_scale")
        self.stream = unique_name("KP").upper()
        self.pg_url = pg_url
        doc = {
            "store": {"url": pg_url, "pg_schema": self.schema, "pool_size": 4},
            "bus": {
                "url": nats_url, "stream": self.stream,
                "subject_prefix": unique_name("kp").lower(), "partitions": 4,
                "lease_ttl_s": 2.0, "fetch_batch": 500,
            },
            "server": {"admin_token": "scale-admin"},
            "hits": {"cursor_flush_s": 0.2},
            "retention": {"check_interval_s": 3600},
        }  # fmt: skip
        self.config_path = tmp_path / "kruispunt.json"
        self.config_path.write_text(json.dumps(doc))
        self.config = load_config(self.config_path, env={})
        self.logs = tmp_path
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def run(self, name: str, *args: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "kruispunt", *args, "--config", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    def api(self, name: str) -> None:
        port = free_port()
        self.ports[name] = port
        self.run(name, "serve", "--role", "api", "--port", str(port))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.procs[name].poll() is None, self.log(name)
            time.sleep(0.2)
        raise AssertionError(f"{name} not ready:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                print(f"{name} did not stop in time:\n{self.log(name)}")

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg_url, options=f"-c search_path={self.schema}") as conn:
            return conn.execute(statement).fetchall()  # type: ignore[arg-type]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    pg_url, nats_url = require_postgres(), require_nats()
    c = Cluster(tmp_path, pg_url, nats_url)
    yield c
    c.stop_all()
    drop_pg_schema(pg_url, c.schema)
    import asyncio

    import nats

    async def clean() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for name in (c.stream, f"KV_{c.stream}"):
            with contextlib.suppress(Exception):
                await js.delete_stream(name)
        for info in await js.streams_info():
            if info.config.name.startswith("KV_") and c.stream in info.config.name:
                await js.delete_stream(info.config.name)
        await nc.close()

    asyncio.run(clean())


def setup_network(cluster: Cluster) -> tuple[dict[str, str], dict[str, str]]:
    """Cameras, users and a hotlist, through a node process of its own (then stopped)."""
    node = Node(cluster.config, role="api")
    node.start()
    try:
        node.upsert_cameras([make_camera(cam, zone=zone) for cam, zone in CAMERAS])
        cam_tokens = {cam: node.issue_token(cam) for cam, _zone in CAMERAS}
        user_tokens = {
            uid: node.users.create(User(id=uid, name=uid, zone_id=zone, role=role), actor=None)
            for uid, zone, role in (("chief", "pz5364", Role.ZONE_CHIEF),
                                    ("op-t", "pz5364", Role.OPERATOR))
        }  # fmt: skip
        chief = node.users.principal_for_token(user_tokens["chief"])
        assert chief is not None
        node.hotlists.create_list(
            HotlistList(id="stolen", name="Stolen", owner_zone_id="pz5364"), actor=chief
        )
        from tests.test_hotlists_service import draft

        node.hotlists.create_entry("stolen", draft(WANTED, country="BE"), actor=chief)
    finally:
        node.stop()
    return cam_tokens, user_tokens


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def test_api_and_worker_processes_share_the_load_and_survive_a_killed_worker(
    cluster: Cluster,
) -> None:
    cam_tokens, user_tokens = setup_network(cluster)
    metrics_port = free_port()
    cluster.run("worker-1", "worker")
    cluster.run("worker-2", "worker", "--metrics-port", str(metrics_port))
    cluster.api("api-1")
    cluster.api("api-2")

    # A live subscriber on api-1: an operator of the zone that owns the list.
    received: list[dict[str, Any]] = []
    stop_listening = threading.Event()

    def listen() -> None:
        url = f"{cluster.url('api-1')}/api/v1/hits/stream?access_token={user_tokens['op-t']}"
        with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=None)) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("type") == "hit":
                        received.append(message["hit"])
                if stop_listening.is_set():
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()

    # The load: batches to both API processes; one read in 50 is the wanted plate.
    acked: dict[tuple[str, str], int] = {}
    wanted_sent: set[tuple[str, str]] = set()
    lock = threading.Lock()
    errors: list[str] = []
    base = dt.datetime.now(dt.UTC)  # after the entry became valid

    def camera_loop(index: int, cam: str) -> None:
        client = httpx.Client(timeout=10)
        for batch in range(40):
            reads = []
            for i in range(50):
                n = batch * 50 + i
                plate = WANTED if n % 50 == 7 else f"1-{cam[-3:]}-{n:04d}"[:9]
                at = base + dt.timedelta(milliseconds=n)
                reads.append(read_json(f"{cam}-{n}", plate=plate, captured_at=at))
            name = "api-1" if (batch + index) % 2 else "api-2"
            body = batch_json(cam, reads)
            for _attempt in range(20):
                if cluster.procs[name].poll() is not None:  # that API process is gone
                    name = "api-1"
                target = cluster.url(name)
                try:
                    auth = {"Authorization": f"Bearer {cam_tokens[cam]}"}
                    r = client.post(f"{target}/api/v1/reads", content=body, headers=auth)
                except httpx.HTTPError:  # the process died under us: not acknowledged, resend
                    time.sleep(0.2)
                    continue
                if r.status_code in (429, 503):
                    time.sleep(0.2)
                    continue
                assert r.status_code == 200, r.text
                with lock:
                    for result, read in zip(r.json()["results"], reads, strict=True):
                        assert result["status"] in ("stored", "duplicate")
                        acked[(cam, result["read_id"])] = result["seq"]
                        if read["plate"] == WANTED:
                            wanted_sent.add((cam, read["read_id"]))
                break
            else:
                errors.append(f"{cam}: batch {batch} never accepted")
        client.close()

    threads = [threading.Thread(target=camera_loop, args=(i, cam)) for i, (cam, _z) in
               enumerate(CAMERAS)]  # fmt: skip
    for t in threads:
        t.start()
    # Kill a worker once reads are flowing: its partitions must move, nothing lost or doubled.
    wait_for(lambda: len(acked) > 1500, 60, "reads to flow")
    cluster.kill("worker-1")
    # And an API process: what it acknowledged is JetStream's; cameras go to the other one.
    wait_for(lambda: len(acked) > 3000, 60, "more reads to flow")
    cluster.kill("api-2")
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    total = len(CAMERAS) * 40 * 50
    assert len(acked) == total

    def archived() -> bool:
        return cluster.sql("SELECT count(*) FROM reads")[0][0] == total

    wait_for(archived, 90, f"all {total} reads in PostgreSQL\n{cluster.log('worker-2')}")
    stored = cluster.sql(
        "SELECT c.id, r.read_id, r.seq FROM reads r JOIN cameras c ON c.num = r.cam"
    )
    assert {(cam, rid): seq for cam, rid, seq in stored} == acked  # each once, with its ack's seq
    wait_for(
        lambda: cluster.sql("SELECT coalesce(sum(reads), 0) FROM traffic_counts")[0][0] == total,
        60, "traffic counts to add up",
    )  # fmt: skip
    time.sleep(1.0)  # a doubled count would show now
    assert cluster.sql("SELECT sum(reads) FROM traffic_counts")[0][0] == total
    hits = cluster.sql("SELECT doc FROM hits")
    hit_reads = sorted((msgspec.json.decode(d)["camera_id"], msgspec.json.decode(d)["read_id"])
                       for (d,) in hits)  # fmt: skip
    assert hit_reads == sorted(wanted_sent)  # one hit per wanted read, none twice

    # Prometheus: the surviving worker holds every partition and says what it archived.
    def worker_metrics() -> dict[str, float]:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        return {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line.startswith("kruispunt_") and " " in line
        }

    wait_for(lambda: worker_metrics().get("kruispunt_partitions_owned") == 4, 15, "metrics")
    assert worker_metrics()["kruispunt_reads_archived_total"] > 0
    api_metrics = httpx.get(f"{cluster.url('api-1')}/metrics").text
    assert "kruispunt_reads_stored_total" in api_metrics

    # Live: hits raised by the workers from reads sent to both APIs reached api-1's subscriber.
    wait_for(lambda: len(received) >= 1, 20, "a live hit on api-1")

    # A hotlist entry added through a restarted api-2 is matched by the workers.
    cluster.api("api-2")
    chief = {"Authorization": f"Bearer {user_tokens['chief']}"}
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).isoformat()
    entry = {"plate": ADDED_LATER, "country": "BE", "category": "stolen_vehicle",
             "action": "intercept", "source": "PV 1", "legal_basis": "WPA art. 44/1",
             "expires_at": expires}  # fmt: skip
    r = httpx.post(f"{cluster.url('api-2')}/api/v1/hotlists/stolen/entries", json=entry,
                   headers=chief)  # fmt: skip
    assert r.status_code == 201, r.text
    time.sleep(1.0)  # the event reaches the worker's index
    late = [read_json("late-1", plate=ADDED_LATER, captured_at=dt.datetime.now(dt.UTC))]
    r = httpx.post(f"{cluster.url('api-1')}/api/v1/reads",
                   content=batch_json("pz5352-c001", late),
                   headers={"Authorization": f"Bearer {cam_tokens['pz5352-c001']}"})  # fmt: skip
    assert r.status_code == 200, r.text

    def late_hit() -> bool:
        return any(h["plate"] == "1LAT002" for h in received)

    wait_for(late_hit, 30, f"the hit of the entry added later\n{cluster.log('worker-2')}")
    stop_listening.set()
