"""``kruispunt bench enforcement``: what section control and the LEZ cost the ingest, in one run.

The simulated province's traffic (its section-control pairs and LEZ cameras included) goes
through a real node in its own process twice per run, over HTTP as in ``bench ingest``: once
with the node's default processors (the baseline) and once with ``section_control`` and
``lez`` added (the registries' fakes answer the LEZ). The same reads, the same machine,
alternating which goes first; medians over runs. ``cost_pct`` is what the two processors take
off the end-to-end rate.

Section control judges time: a camera's clock counts as checked only when its reads arrive
within a second of their capture, and a passage lasts as long as the vehicle takes between
the cameras. So the traffic is drawn at the density the node is pushed at (``density``
reads a second: trips start uniformly over the window, each drives its camera chain at the
simulation's speeds) and a read's capture time is set when its batch is sent: ``now`` less
its place in its tick of the simulated clock. Vehicles in transit are then as many as at that
density on the road, and a passage lasts as long as simulated when the node takes the reads
as fast as they are drawn: ``speed_scale`` (the rate reached over the density) says by how
much the measured speeds differ; set ``density`` near the node's rate to keep it close to 1.

``bytes_per_open_passage`` is section control's own tracemalloc measurement of what one
vehicle between an entry and an exit camera holds.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import itertools
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from kruispunt.bench.ingest import _free_port, _rss_mb, _send_all, _tenths, _wait_ready
from kruispunt.domain.cameras import Camera
from kruispunt.ingest.wire import ReadBatchIn, ReadIn
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.misread import confidence, misread
from kruispunt.sim.traffic import TrafficModel

BASELINE = ("traffic_counts", "hotlist_matcher")
ENFORCEMENT = ("section_control", "lez")
TARGET_COST_PCT = 20.0
US = 1_000_000
LEAD_S = 600.0  # trips start this long before the window too: the roads are not empty at first
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class SimRead:
    """A read of the bench's traffic at ``t_us`` into the window, its capture time unset."""

    t_us: int
    camera_id: str
    read_id: str
    plate: str
    country: str
    confidence: float
    lane: int
    vehicle_class: str


def bench_traffic(
    cameras: Sequence[Camera], *, reads: int, density: float, seed: int = 1
) -> list[SimRead]:
    """``reads`` reads over ``reads / density`` seconds, oldest first: trips of the
    simulation's fleet over its camera chains at its speeds, with its misreads. Trips start
    uniformly from ``LEAD_S`` before the window to its end until the window holds enough
    reads (only the reads inside it are drawn)."""
    model = TrafficModel(cameras, seed=seed, vehicles=max(5000, reads // 20))
    net, fleet, cams = model.network, model.fleet, model.cameras
    rng = random.Random(f"bench-enforcement:{seed}")
    cumulative = list(itertools.accumulate(v.activity for v in fleet))
    homes: dict[str, list[int]] = {}
    for i, c in enumerate(cams):
        homes.setdefault(c.municipality_nis or "", []).append(i)
    every = range(len(cams))
    window_us = reads / density * US
    lead_us = LEAD_S * US
    # Per route: the cameras and the travel time to each at speed factor 1 (microseconds).
    routes: dict[tuple[int, int], tuple[tuple[int, ...], list[float]]] = {}
    out: list[SimRead] = []
    for trip in itertools.count():
        if len(out) >= reads:
            break
        pick = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
        vehicle = fleet[min(pick, len(fleet) - 1)]
        o = rng.choice(homes.get(vehicle.home_nis) or every)
        near, reach = net.near[o], net.reach[o]
        d = rng.choice(near) if near and rng.random() < 0.55 else rng.choice(reach or (o,))
        factor = vehicle.speed_factor * rng.uniform(0.92, 1.08)
        start = rng.random() * (window_us + lead_us) - lead_us
        known = routes.get((o, d))
        if known is None:
            route = net.route(o, d)
            times = [
                0.0,
                *itertools.accumulate(
                    net.hop_seconds(a, b, 1.0) * US for a, b in itertools.pairwise(route)
                ),
            ]
            known = routes[(o, d)] = (route, times)  # fmt: skip
        route, times = known
        # The hops inside the window: start + times[k] / factor in [0, window).
        first = bisect.bisect_left(times, -start * factor)
        last = bisect.bisect_left(times, (window_us - start) * factor)
        for k in range(first, last):
            if rng.random() >= model.detection_rate:
                continue
            wrong = rng.random() < model.misread_rate
            camera = cams[route[k]]
            out.append(
                SimRead(
                    t_us=int(start + times[k] / factor),
                    camera_id=camera.id,
                    read_id=f"e{seed}.{trip:x}.{k:x}",
                    plate=misread(vehicle.plate, rng) if wrong else vehicle.plate,
                    country=vehicle.country,
                    confidence=confidence(rng, misread=wrong),
                    lane=rng.randint(1, camera.lanes),
                    vehicle_class=vehicle.vehicle_class,
                )
            )
    out.sort(key=lambda r: r.t_us)
    return out


@dataclass(frozen=True, slots=True)
class Batch:
    camera_id: str
    end_us: int
    """The end of its tick of the simulated clock: its reads are captured that long before
    the batch is sent, less their own time."""
    reads: tuple[SimRead, ...]


def batches(traffic: Sequence[SimRead], tick_s: float, batch: int) -> list[Batch]:
    """Per tick of the simulated clock, one batch per camera (at most ``batch`` reads each),
    the ticks in order."""
    tick_us = max(1, int(tick_s * US))
    out: list[Batch] = []
    for tick, group in itertools.groupby(traffic, key=lambda r: r.t_us // tick_us):
        per_camera: dict[str, list[SimRead]] = {}
        for r in group:
            per_camera.setdefault(r.camera_id, []).append(r)
        for cam, rs in per_camera.items():
            for i in range(0, len(rs), batch):
                out.append(Batch(cam, (tick + 1) * tick_us, tuple(rs[i : i + batch])))
    return out


def encode(b: Batch, now: dt.datetime) -> bytes:
    """The batch as the camera sends it now: each read captured ``end - t`` ago."""
    reads = [
        ReadIn(
            read_id=r.read_id,
            captured_at=now - dt.timedelta(microseconds=b.end_us - r.t_us),
            plate=r.plate,
            confidence=r.confidence,
            country=r.country,
            direction="approaching",
            lane=r.lane,
            vehicle_class=r.vehicle_class,  # type: ignore[arg-type]
        )
        for r in b.reads
    ]
    return _encoder.encode(ReadBatchIn(version=1, camera_id=b.camera_id, reads=reads))


async def send(
    url: str, work: Sequence[Batch], tokens: dict[str, str], clients: int
) -> tuple[int, int]:
    """Post the batches in order from ``clients`` connections; (reads stored, 429/503s)."""

    def body(b: Batch) -> Callable[[], bytes]:
        return lambda: encode(b, dt.datetime.now(dt.UTC))

    return await _send_all(url, ((b.camera_id, body(b)) for b in work), tokens, clients)


def _start_node(workdir: Path, port: int, admin: str, processors: Sequence[str]) -> Any:
    cfg = workdir / "node.toml"
    enabled = ", ".join(f'"{p}"' for p in processors)
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{workdir}/node.sqlite"\nsynchronous = "FULL"\n'
        f'[server]\nport = {port}\nadmin_token = "{admin}"\n'
        f"[processors]\nenabled = [{enabled}]\n"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "serve", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_caught_up(url: str, deadline_s: float = 300.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/api/v1/status", timeout=30).json()
        if all(p["lag"] == 0 for p in status["processors"]):
            return
        time.sleep(0.05)
    raise RuntimeError("the processors did not catch up")


def _findings(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        offences = dict(conn.execute("SELECT module, COUNT(*) FROM offences GROUP BY module"))
        passages = conn.execute("SELECT COALESCE(SUM(passages), 0) FROM section_speeds")
        return {"offences": offences, "passages": int(passages.fetchone()[0])}


def measure(
    cameras: Sequence[Camera],
    work: Sequence[Batch],
    processors: Sequence[str],
    clients: int,
    workdir: Path,
) -> dict[str, Any]:
    """One end-to-end run on a fresh node with ``processors`` enabled."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    admin = "bench-admin-token"
    proc = _start_node(workdir, port, admin, processors)
    try:
        _wait_ready(url, proc)
        tokens: dict[str, str] = {}
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"},
                          timeout=30) as http:  # fmt: skip
            for cam in cameras:
                http.put(
                    f"/api/v1/cameras/{cam.id}", content=msgspec.json.encode(cam)
                ).raise_for_status()
                tokens[cam.id] = http.post(f"/api/v1/cameras/{cam.id}/token").json()["token"]
        total = sum(len(b.reads) for b in work)
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                samples.append(_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        stored, backpressure = asyncio.run(send(url, work, tokens, clients))
        elapsed = time.perf_counter() - start
        _wait_caught_up(url)
        caught_up = time.perf_counter() - start
        done.set()
        sampler.join()
        if stored != total:
            raise RuntimeError(f"stored {stored} of {total} reads")
        return {
            "reads_per_s": total / elapsed,
            "processed_per_s": total / caught_up,
            "peak_rss_mb": _rss_mb(proc.pid, "VmHWM"),
            "rss_mb_by_tenth": _tenths(samples) if samples else [],
            "backpressure_events": backpressure,
            **_findings(workdir / "node.sqlite"),
        }
    finally:
        proc.terminate()
        proc.wait(30)


def _runs(count: int) -> Iterator[Path]:
    for _ in range(count):
        with tempfile.TemporaryDirectory(prefix="kruispunt-bench-enf-") as tmp:
            yield Path(tmp)


def open_passage_bytes() -> float | None:
    """Section control's own measurement, if it offers one."""
    try:
        from kruispunt.enforcement import section_control
    except ImportError:
        return None
    measure_bytes = getattr(section_control, "open_passage_bytes", None)
    return None if measure_bytes is None else float(measure_bytes())


def run_enforcement_bench(
    *, reads: int, density: float, batch: int, clients: int, runs: int, tick_s: float = 1.0
) -> dict[str, Any]:
    cameras = build_province_cameras()
    with_enforcement = (*BASELINE, *ENFORCEMENT)
    on: list[dict[str, Any]] = []
    off: list[dict[str, Any]] = []
    for run, workdir in enumerate(_runs(runs)):
        work = batches(bench_traffic(cameras, reads=reads, density=density, seed=run + 1),
                       tick_s, batch)  # fmt: skip
        # Alternate the order so neither side always gets the warmer machine.
        for enforcing in (run % 2 == 0, run % 2 != 0):
            side = workdir / ("on" if enforcing else "off")
            side.mkdir()
            chosen = with_enforcement if enforcing else BASELINE
            (on if enforcing else off).append(measure(cameras, work, chosen, clients, side))
    rate = statistics.median(r["reads_per_s"] for r in on)
    baseline = statistics.median(r["reads_per_s"] for r in off)
    ratio = rate / baseline
    per_passage = open_passage_bytes()
    last = on[-1]
    return {
        "reads_per_s": round(rate),
        "baseline_reads_per_s": round(baseline),
        "ratio": round(ratio, 3),
        "cost_pct": round((1 - ratio) * 100, 1),
        "target_cost_pct": TARGET_COST_PCT,
        "meets_target": (1 - ratio) * 100 < TARGET_COST_PCT,
        "bytes_per_open_passage": None if per_passage is None else round(per_passage),
        "processed_per_s": round(statistics.median(r["processed_per_s"] for r in on)),
        "baseline_processed_per_s": round(statistics.median(r["processed_per_s"] for r in off)),
        "offences": sum(last["offences"].values()),
        "offences_by_module": last["offences"],
        "section_passages": last["passages"],
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in on), 1),
        "baseline_peak_rss_mb": round(max(r["peak_rss_mb"] for r in off), 1),
        "backpressure_events": sum(r["backpressure_events"] for r in on + off),
        "processors": list(with_enforcement),
        "baseline_processors": list(BASELINE),
        "reads_per_run": reads,
        "density_reads_per_s": density,
        # Measured speeds are the simulated ones times this (the traffic is drawn at the
        # density and sent as fast as the node takes it): near 1 when they match.
        "speed_scale": round(rate / density, 2),
        "tick_s": tick_s,
        "batch": batch,
        "clients": clients,
        "runs": runs,
        "store": "sqlite (WAL, synchronous=FULL, a table per day)",
        "machine": f"{os.cpu_count()} cpu, {sys.platform}, python {sys.version.split()[0]}",
        "per_run": {
            "reads_per_s": [round(r["reads_per_s"]) for r in on],
            "baseline_reads_per_s": [round(r["reads_per_s"]) for r in off],
        },
    }
