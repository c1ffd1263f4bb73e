"""``kruispunt bench ingest``: end-to-end ingest vs the store's own ceiling, in one run.

Ceiling: the same SQLite store, same fsync policy, fed pre-validated reads in transactions of
the node's group-commit size: nothing but the durable insert. End to end: a real node in its
own process (uvicorn, validation, the writer, the processors running), fed over HTTP by
concurrent clients in this process with pre-encoded camera batches. Medians over runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from kruispunt.config import IngestConfig
from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.ingest import adapters
from kruispunt.ingest.validate import Limits, validate_read
from kruispunt.ingest.wire import ReadBatchIn, ReadIn, decode_batch
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.plates_gen import plate_for
from kruispunt.store.sqlite import SqliteStore


def synthetic_reads(
    cameras: list[Camera], total: int, batch: int, seed: int = 1
) -> list[ReadBatchIn]:
    """Camera batches of realistic reads: Belgian plates, a share of Dutch/French, a fleet
    small enough that plates repeat (as real traffic does)."""
    rng = random.Random(seed)
    fleet = []
    for _ in range(max(1000, total // 20)):
        kind = rng.random()
        country = None if kind < 0.85 else "NL" if kind < 0.95 else "FR"
        plate = plate_for(country or "BE", rng)
        fleet.append((plate, country))
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    batches = []
    n = 0
    while n < total:
        cam = cameras[(n // batch) % len(cameras)]
        reads = []
        for i in range(min(batch, total - n)):
            plate, country = fleet[rng.randrange(len(fleet))]
            reads.append(
                ReadIn(
                    read_id=f"b{seed}-{n + i}",
                    captured_at=base + dt.timedelta(microseconds=(n + i) * 10),
                    plate=plate,
                    country=country,
                    confidence=round(rng.uniform(0.6, 0.99), 3),
                    direction="approaching",
                    lane=1,
                    vehicle_class="car",
                )
            )
        batches.append(ReadBatchIn(version=1, camera_id=cam.id, reads=reads))
        n += len(reads)
    return batches


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_ceiling(
    cameras: list[Camera], batches: list[ReadBatchIn], group: int, workdir: Path
) -> float:
    store = SqliteStore(workdir / "ceiling.sqlite", synchronous="FULL")
    store.open()
    for cam in cameras:
        store.upsert_camera(cam, None)
    limits = Limits(max_future_skew_us=300_000_000, max_age_us=86_400_000_000, min_confidence=0)
    by_id = {c.id: c for c in cameras}
    now_us = time.time_ns() // 1000
    reads: list[Read] = []
    for b in batches:
        for r in b.reads:
            v = validate_read(r, camera=by_id[b.camera_id], now_us=now_us, limits=limits)
            assert isinstance(v, Read)
            reads.append(v)
    start = time.perf_counter()
    for i in range(0, len(reads), group):
        store.append(reads[i : i + group])
    elapsed = time.perf_counter() - start
    store.close()
    return len(reads) / elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_node(workdir: Path, port: int, admin: str) -> subprocess.Popen[bytes]:
    cfg = workdir / "node.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{workdir}/node.sqlite"\nsynchronous = "FULL"\n'
        f'[server]\nport = {port}\nadmin_token = "{admin}"\n'
    )
    return subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "serve", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("node did not become ready")


async def _send_all(
    url: str,
    bodies: Iterable[tuple[str, bytes | Callable[[], bytes]]],
    tokens: dict[str, str],
    clients: int,
) -> tuple[int, int]:
    """Post (camera, body) in order from ``clients`` connections, as the camera, resending
    after a 429/503; (reads stored, refusals). A body may be made at each attempt (a callable:
    fresh capture times)."""
    queue = iter(bodies)
    stored = backpressure = 0
    decoder = msgspec.json.Decoder()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal stored, backpressure
        for cam, body in queue:  # one shared iterator: the bodies go out in order
            headers = {"Authorization": f"Bearer {tokens[cam]}",
                       "Content-Type": "application/json"}  # fmt: skip
            while True:
                content = body() if callable(body) else body
                resp = await client.post(f"{url}/api/v1/reads", content=content, headers=headers)
                if resp.status_code in (429, 503):
                    backpressure += 1
                    await asyncio.sleep(float(resp.headers.get("Retry-After", "1")) / 10)
                    continue
                resp.raise_for_status()
                stored += decoder.decode(resp.content)["stored"]
                break

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return stored, backpressure


def measure_end_to_end(
    cameras: list[Camera], batches: list[ReadBatchIn], clients: int, workdir: Path
) -> dict[str, Any]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    admin = "bench-admin-token"
    proc = _start_node(workdir, port, admin)
    try:
        _wait_ready(url, proc)
        auth = {"Authorization": f"Bearer {admin}"}
        tokens: dict[str, str] = {}
        with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
            for cam in cameras:
                http.put(
                    f"/api/v1/cameras/{cam.id}", content=msgspec.json.encode(cam)
                ).raise_for_status()
                tokens[cam.id] = http.post(f"/api/v1/cameras/{cam.id}/token").json()["token"]
        bodies = [(b.camera_id, msgspec.json.encode(b)) for b in batches]
        total = sum(len(b.reads) for b in batches)
        rss_samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                rss_samples.append(_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        rss_start = _rss_mb(proc.pid)
        sampler.start()
        start = time.perf_counter()
        stored, backpressure = asyncio.run(_send_all(url, bodies, tokens, clients))
        elapsed = time.perf_counter() - start
        # The processors run during the load; measure how long they need to catch up.
        while True:
            status = httpx.get(f"{url}/api/v1/status", timeout=30).json()
            if all(p["lag"] == 0 for p in status["processors"]):
                break
            time.sleep(0.05)
        caught_up = time.perf_counter() - start
        done.set()
        sampler.join()
        peak = _rss_mb(proc.pid, "VmHWM")
        if stored != total:
            raise RuntimeError(f"stored {stored} of {total} reads")
        return {
            "reads_per_s": total / elapsed,
            "processed_per_s": total / caught_up,
            "peak_rss_mb": peak,
            "rss_start_mb": rss_start,
            "rss_mb_by_tenth": _tenths(rss_samples) if rss_samples else [rss_start],
            "backpressure_events": backpressure,
            "store_mb": sum(p.stat().st_size for p in workdir.glob("node.sqlite*")) / 1e6,
        }
    finally:
        proc.terminate()
        proc.wait(30)


def _tenths(samples: list[float]) -> list[float]:
    """The median RSS in each tenth of the run (samples are evenly spaced in time)."""
    n = len(samples)
    return [
        round(statistics.median(samples[i * n // 10 : max(i * n // 10 + 1, (i + 1) * n // 10)]), 1)
        for i in range(10)
    ]


def decode_rate(batches: list[ReadBatchIn]) -> float:
    bodies = [msgspec.json.encode(b) for b in batches[:50]]
    n = sum(len(b.reads) for b in batches[:50])
    start = time.perf_counter()
    for body in bodies:
        decode_batch(body)
    return n / (time.perf_counter() - start)


def adapter_rates(seconds: float = 0.5) -> dict[str, float]:
    """Reads per second each vendor adapter decodes from its documented payload."""
    rates: dict[str, float] = {}
    for key in sorted(adapters.REGISTRY):
        payload, content_type = adapters.sample(key)
        decoder = adapters.build(key)
        rates[key] = round(adapters.decode_rate(decoder, payload, seconds, content_type))
    return rates


def _runs(count: int) -> Iterator[Path]:
    for _ in range(count):
        with tempfile.TemporaryDirectory(prefix="kruispunt-bench-") as tmp:
            yield Path(tmp)


def soak(cameras: list[Camera], reads: int, batch: int, clients: int) -> dict[str, Any]:
    """One long run: is the node's memory flat once its bounded caches are warm?"""
    with tempfile.TemporaryDirectory(prefix="kruispunt-soak-") as tmp:
        run = measure_end_to_end(
            cameras, synthetic_reads(cameras, reads, batch, 99), clients, Path(tmp)
        )
    tenths = run["rss_mb_by_tenth"]
    return {
        "reads": reads,
        "reads_per_s": round(run["reads_per_s"]),
        "rss_mb_by_tenth": tenths,
        "growth_second_half_mb": round(tenths[-1] - tenths[len(tenths) // 2 - 1], 1),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
    }


def run_ingest_bench(
    *, reads: int, batch: int, clients: int, runs: int, soak_reads: int = 0
) -> dict[str, Any]:
    cameras = build_province_cameras()
    group = IngestConfig().group_commit_max_reads
    ceilings: list[float] = []
    e2e: list[dict[str, Any]] = []
    for run, workdir in enumerate(_runs(runs)):
        batches = synthetic_reads(cameras, reads, batch, seed=run + 1)
        # Alternate the order so neither side always gets the warmer machine.
        if run % 2 == 0:
            ceilings.append(measure_ceiling(cameras, batches, group, workdir))
            e2e.append(measure_end_to_end(cameras, batches, clients, workdir))
        else:
            e2e.append(measure_end_to_end(cameras, batches, clients, workdir))
            ceilings.append(measure_ceiling(cameras, batches, group, workdir))
    rate = statistics.median(r["reads_per_s"] for r in e2e)
    ceiling = statistics.median(ceilings)
    return {
        "reads_per_s": round(rate),
        "store_ceiling_reads_per_s": round(ceiling),
        "ratio": round(rate / ceiling, 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in e2e), 1),
        "processed_per_s": round(statistics.median(r["processed_per_s"] for r in e2e)),
        "backpressure_events": sum(r["backpressure_events"] for r in e2e),
        "decode_reads_per_s": round(decode_rate(synthetic_reads(cameras, 50 * batch, batch))),
        "adapters": adapter_rates(),
        "reads_per_run": reads,
        "batch": batch,
        "clients": clients,
        "runs": runs,
        "store": "sqlite (WAL, synchronous=FULL, a table per day)",
        "machine": f"{os.cpu_count()} cpu, {sys.platform}, python {sys.version.split()[0]}",
        "memory": soak(cameras, soak_reads, batch, clients) if soak_reads else None,
        "per_run": {
            "ceiling": [round(c) for c in ceilings],
            "end_to_end": [round(r["reads_per_s"]) for r in e2e],
        },
    }
