"""``kruispunt bench ingest`` on the production backends (``KRUISPUNT_DATABASE_URL`` set to
PostgreSQL, and/or ``KRUISPUNT_BUS_URL`` to NATS JetStream).

Same keys as the embedded bench. The ceiling is PostgreSQL's own COPY rate into the same
partitioned, indexed ``reads`` table, measured in the same run. End to end:

- PostgreSQL only: one node process; a camera is acknowledged once its reads are committed
  in PostgreSQL, so ``reads_per_s`` is the rate into PostgreSQL.
- With JetStream: an API process (acknowledged once JetStream stored the reads) and worker
  processes (archive into PostgreSQL, run the processors). ``reads_per_s`` is the
  acknowledged rate; ``processed_per_s`` the rate until every read is in PostgreSQL and
  counted by the processors, i.e. end to end into the store.

Extra with JetStream: ``workers_scaling`` (a pre-filled stream drained by 1 and by 2 worker
processes) and ``sustained`` (a paced load, default 5,000 reads/s: how far the workers fall
behind, sampled every 0.5 s). Every run uses its own schema and stream, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

from kruispunt.bench.ingest import (
    _free_port,
    _rss_mb,
    _send_all,
    _wait_ready,
    decode_rate,
    synthetic_reads,
)
from kruispunt.config import IngestConfig
from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.ingest.validate import Limits, validate_read
from kruispunt.ingest.wire import ReadBatchIn
from kruispunt.sim.layout import build_province_cameras
from kruispunt.store.postgres import US_PER_DAY, PgStore

ADMIN = "bench-admin-token"


class Cluster:
    """Node processes on one schema and one stream, for one measurement."""

    def __init__(self, db_url: str, bus_url: str | None, workdir: Path, *, partitions: int):
        tag = uuid.uuid4().hex[:8]
        self.db_url = db_url
        self.bus_url = bus_url
        self.schema = f"kp_bench_{tag}"
        self.stream = f"KP_BENCH_{tag}".upper()
        self.workdir = workdir
        self.port = _free_port()
        doc: dict[str, Any] = {
            "store": {"url": db_url, "pg_schema": self.schema},
            "server": {"port": self.port, "admin_token": ADMIN},
            "retention": {"check_interval_s": 86_400},
        }
        if bus_url:
            doc["bus"] = {
                "url": bus_url, "stream": self.stream, "subject_prefix": f"kpbench{tag}",
                "partitions": partitions, "lease_ttl_s": 3.0,
            }  # fmt: skip
        self.config = workdir / f"{tag}.json"
        self.config.write_text(json.dumps(doc))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.api: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "kruispunt", *args, "--config", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def start_api(self) -> dict[str, str]:
        self.api = self._spawn("serve", "--role", "api" if self.bus_url else "all")
        _wait_ready(self.url, self.api, timeout=60)
        return self.register(build_province_cameras())

    def register(self, cameras: list[Camera]) -> dict[str, str]:
        tokens: dict[str, str] = {}
        auth = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=self.url, headers=auth, timeout=30) as http:
            for cam in cameras:
                http.put(
                    f"/api/v1/cameras/{cam.id}", content=msgspec.json.encode(cam)
                ).raise_for_status()
                tokens[cam.id] = http.post(f"/api/v1/cameras/{cam.id}/token").json()["token"]
        return tokens

    def start_workers(self, n: int) -> list[subprocess.Popen[bytes]]:
        return [self._spawn("worker") for _ in range(n)]

    def warm_up(self, tokens: dict[str, str], camera: Camera) -> int:
        """One read through the whole path, so that workers have taken their partitions
        before the clock starts. Returns how many reads it stored (1)."""
        read = synthetic_reads([camera], 1, 1, seed=999)[0]
        body = msgspec.json.encode(read)
        auth = {"Authorization": f"Bearer {tokens[camera.id]}"}
        httpx.post(f"{self.url}/api/v1/reads", content=body, headers=auth).raise_for_status()
        self.wait_processed(1, timeout=120)
        return 1

    def sql_int(self, statement: str) -> int:
        with psycopg.connect(self.db_url, options=f"-c search_path={self.schema}") as conn:
            row = conn.execute(statement).fetchone()
        return int(row[0] or 0) if row else 0

    def archived(self) -> int:
        return self.sql_int("SELECT coalesce(sum(rows), 0) FROM segments")

    def counted(self) -> int:
        return self.sql_int("SELECT coalesce(sum(reads), 0) FROM traffic_counts")

    def wait_processed(self, total: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.archived() < total or self.counted() < total:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"processed {self.archived()} / counted {self.counted()} of {total}"
                )
            for proc in self.procs:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                    raise RuntimeError(f"a node process exited: {err}")
            time.sleep(0.02)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        if self.bus_url:
            asyncio.run(_drop_streams(self.bus_url, self.stream))


async def _drop_streams(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name and stream in info.config.name:
                with contextlib.suppress(Exception):
                    await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@contextlib.contextmanager
def cluster(db_url: str, bus_url: str | None, *, partitions: int) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kruispunt-bench-") as tmp:
        c = Cluster(db_url, bus_url, Path(tmp), partitions=partitions)
        try:
            yield c
        finally:
            c.close()


def validated(cameras: list[Camera], batches: list[ReadBatchIn]) -> list[Read]:
    limits = Limits(max_future_skew_us=300_000_000, max_age_us=86_400_000_000, min_confidence=0)
    by_id = {c.id: c for c in cameras}
    now_us = time.time_ns() // 1000
    out = []
    for b in batches:
        for r in b.reads:
            v = validate_read(r, camera=by_id[b.camera_id], now_us=now_us, limits=limits)
            assert isinstance(v, Read)
            out.append(v)
    return out


def measure_copy_ceiling(
    db_url: str, cameras: list[Camera], batches: list[ReadBatchIn], group: int
) -> float:
    """PostgreSQL's own COPY into the same tables: nothing but the durable bulk insert."""
    schema = f"kp_ceiling_{uuid.uuid4().hex[:8]}"
    store = PgStore(db_url, schema=schema, pool_size=1)
    store.open()
    try:
        for cam in cameras:
            store.upsert_camera(cam, None)
        nums = {c.camera.id: i for i, c in enumerate(store.cameras(), start=1)}
        nums = {cid: store._cam_number(cid) for cid in nums}
        rows = [
            (r.captured_us // US_PER_DAY, seq, r.read_id, nums[r.camera_id], r.zone_id,
             r.captured_us, r.received_us, r.plate_raw, r.plate, r.country, r.country_inferred,
             r.plate_format, r.confidence, r.direction, r.lane, r.vehicle_class, r.make,
             r.colour, r.image_ref)
            for seq, r in enumerate(validated(cameras, batches), start=1)
        ]  # fmt: skip
        store.copy_rows_raw(rows[:1])  # the day partition exists before the clock starts
        start = time.perf_counter()
        for i in range(1, len(rows), group):
            store.copy_rows_raw(rows[i : i + group])
        return (len(rows) - 1) / (time.perf_counter() - start)
    finally:
        store.drop_schema()


def measure_end_to_end(
    db_url: str, bus_url: str | None, batches: list[ReadBatchIn], clients: int, workers: int,
    partitions: int,
) -> dict[str, Any]:  # fmt: skip
    total = sum(len(b.reads) for b in batches)
    with cluster(db_url, bus_url, partitions=partitions) as c:
        tokens = c.start_api()
        procs = c.start_workers(workers) if bus_url else []
        bodies = [(b.camera_id, msgspec.json.encode(b)) for b in batches]
        warm = c.warm_up(tokens, build_province_cameras()[0])
        start = time.perf_counter()
        stored, backpressure = asyncio.run(_send_all(c.url, bodies, tokens, clients))
        acked = time.perf_counter() - start
        c.wait_processed(total + warm)
        processed = time.perf_counter() - start
        assert c.api is not None
        peak = max([_rss_mb(c.api.pid, "VmHWM")] + [_rss_mb(p.pid, "VmHWM") for p in procs])
        if stored != total:
            raise RuntimeError(f"stored {stored} of {total} reads")
        return {
            "reads_per_s": total / acked,
            "processed_per_s": total / processed,
            "peak_rss_mb": peak,
            "backpressure_events": backpressure,
        }


def measure_workers(
    db_url: str, bus_url: str, batches: list[ReadBatchIn], clients: int, workers: int,
    partitions: int,
) -> float:  # fmt: skip
    """Fill the stream with no worker running, then time ``workers`` processes draining it,
    from the first read they store (process start-up is not the workers' throughput)."""
    total = sum(len(b.reads) for b in batches)
    with cluster(db_url, bus_url, partitions=partitions) as c:
        tokens = c.start_api()
        bodies = [(b.camera_id, msgspec.json.encode(b)) for b in batches]
        asyncio.run(_send_all(c.url, bodies, tokens, clients))
        c.start_workers(workers)
        deadline = time.monotonic() + 120
        while (first := c.archived()) == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("no worker stored anything")
            time.sleep(0.01)
        start = time.perf_counter()
        c.wait_processed(total)
        return (total - first) / (time.perf_counter() - start)


def measure_sustained(
    db_url: str, bus_url: str, cameras: list[Camera], rate: int, seconds: float, workers: int,
    partitions: int,
) -> dict[str, Any]:  # fmt: skip
    """A paced load at ``rate`` reads/s: the workers' lag (acknowledged but not yet in the
    store), sampled every 0.5 s, and how long they need to drain after the load stops."""
    batch = 250
    per_s = max(1, rate // batch)
    total = int(rate * seconds) // batch * batch
    batches = synthetic_reads(cameras, total, batch, seed=77)
    with cluster(db_url, bus_url, partitions=partitions) as c:
        tokens = c.start_api()
        c.start_workers(workers)
        warm = c.warm_up(tokens, cameras[0])
        acked = warm
        lags: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                lags.append(max(0, acked - c.archived()))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        with httpx.Client(timeout=30) as http:
            for i, b in enumerate(batches):
                due = start + i / per_s
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                auth = {"Authorization": f"Bearer {tokens[b.camera_id]}"}
                r = http.post(f"{c.url}/api/v1/reads", content=msgspec.json.encode(b), headers=auth)
                r.raise_for_status()
                acked += len(b.reads)
        sent_for = time.perf_counter() - start
        stop_load = time.perf_counter()
        c.wait_processed(total + warm)
        drain = time.perf_counter() - stop_load
        stop.set()
        sampler.join()
    return {
        "target_reads_per_s": rate,
        "achieved_reads_per_s": round(total / sent_for),
        "seconds": round(sent_for, 1),
        "lag_reads_p50": int(statistics.median(lags)) if lags else 0,
        "lag_reads_max": max(lags, default=0),
        "lag_reads_last_second_of_load": lags[-2] if len(lags) >= 2 else 0,
        "drain_s_after_load": round(drain, 2),
        "workers": workers,
    }


def run_cluster_bench(
    *, db_url: str, bus_url: str | None, reads: int, batch: int, clients: int, runs: int,
    workers: int = 2, partitions: int = 8, sustained_rate: int = 5000,
    sustained_s: float = 20.0,
) -> dict[str, Any]:  # fmt: skip
    cameras = build_province_cameras()
    group = IngestConfig().group_commit_max_reads
    ceilings: list[float] = []
    e2e: list[dict[str, Any]] = []
    for run in range(runs):
        batches = synthetic_reads(cameras, reads, batch, seed=run + 1)
        order = [0, 1] if run % 2 == 0 else [1, 0]  # neither side always on a warmer machine
        for side in order:
            if side == 0:
                ceilings.append(measure_copy_ceiling(db_url, cameras, batches, group))
            else:
                e2e.append(measure_end_to_end(db_url, bus_url, batches, clients, workers,
                                              partitions))  # fmt: skip
    rate = statistics.median(r["reads_per_s"] for r in e2e)
    ceiling = statistics.median(ceilings)
    processed = statistics.median(r["processed_per_s"] for r in e2e)
    result: dict[str, Any] = {
        "reads_per_s": round(rate),
        "store_ceiling_reads_per_s": round(ceiling),
        "ratio": round(rate / ceiling, 3),
        "processed_ratio": round(processed / ceiling, 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in e2e), 1),
        "processed_per_s": round(processed),
        "backpressure_events": sum(r["backpressure_events"] for r in e2e),
        "decode_reads_per_s": round(decode_rate(synthetic_reads(cameras, 50 * batch, batch))),
        "reads_per_run": reads,
        "batch": batch,
        "clients": clients,
        "runs": runs,
        "store": "postgresql (COPY, reads partitioned by day)",
        "log": "nats jetstream" if bus_url else "embedded (the store numbers the log)",
        "ceiling": "PostgreSQL COPY into the same partitioned, indexed reads table",
        "machine": f"{os.cpu_count()} cpu, {sys.platform}, python {sys.version.split()[0]}",
        "memory": None,
        "per_run": {
            "ceiling": [round(x) for x in ceilings],
            "end_to_end": [round(r["reads_per_s"]) for r in e2e],
            "processed": [round(r["processed_per_s"]) for r in e2e],
        },
    }
    if bus_url:
        batches = synthetic_reads(cameras, reads, batch, seed=42)
        result["workers"] = workers
        result["partitions"] = partitions
        result["workers_scaling"] = {
            str(n): round(measure_workers(db_url, bus_url, batches, clients, n, partitions))
            for n in (1, 2)
        }
        result["sustained"] = None
        if sustained_s > 0:
            result["sustained"] = measure_sustained(
                db_url, bus_url, cameras, sustained_rate, sustained_s, workers, partitions
            )
    return result
