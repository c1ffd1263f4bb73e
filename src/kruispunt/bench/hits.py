"""``kruispunt bench hits``: how long from a camera's POST to the hit on another zone's screen.

A real node in its own process holds a hotlist of ``entries`` entries (owned by Regio Turnhout,
shared with the whole network). An operator of Neteland listens on the WebSocket. Background
cameras send ``background`` reads/s that match nothing; probe reads of hotlisted plates are
posted one at a time, and each probe's latency runs from just before its POST to the arrival
of its hit on the WebSocket. The matching cost at two index sizes is measured in-process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import websockets

from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.users import UserService
from kruispunt.bench.ingest import _free_port, _rss_mb, _start_node, _wait_ready
from kruispunt.config import load_config
from kruispunt.domain.zones import network_zones
from kruispunt.hotlists.index import HotlistIndex, IndexedEntry
from kruispunt.hotlists.models import HotlistList, Scope, ScopeKind
from kruispunt.hotlists.service import HotlistService
from kruispunt.sim.layout import build_province_cameras
from kruispunt.store.sqlite import SqliteStore
from kruispunt.writer import Writer

ADMIN = "bench-admin-token"
LETTERS = "ABCDEFGHJKLMNPRSTVXYZ"
CSV_HEADER = (
    "plate,country,category,action,warnings,source,legal_basis,scope,scope_zones,"
    "valid_from,expires_at,note\n"
)


def hotlist_plates(n: int, seed: int = 3) -> list[str]:
    """n distinct Belgian plates (current format)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    while len(seen) < n:
        seen.add(
            f"{rng.randint(1, 2)}-{''.join(rng.choices(LETTERS, k=3))}-{rng.randint(0, 999):03d}"
        )
    return sorted(seen)


def _csv_lines(plates: list[str]) -> Iterator[str]:
    now = dt.datetime.now(dt.UTC)
    start = (now - dt.timedelta(days=1)).isoformat()
    end = (now + dt.timedelta(days=30)).isoformat()
    yield CSV_HEADER
    for p in plates:
        yield (f"{p},BE,stolen_vehicle,intercept,,PV bench,WPA art. 44/1,network,,{start},{end},\n")


def prepare_store(workdir: Path, entries: int) -> tuple[str, list[str]]:
    """Create the operator and the hotlist offline; returns (operator token, plates)."""
    cfg = load_config(
        None, env={}, overrides={"store": {"url": f"sqlite:///{workdir}/node.sqlite"}}
    )
    store = SqliteStore(workdir / "node.sqlite")
    store.open()
    writer = Writer(store, max_pending_reads=10**6, group_max_reads=20_000)
    writer.start()
    try:
        zones = {z.id for z in network_zones()}
        admin = Principal(user_id="bench", zone_id="network", role=Role.ADMIN)
        token = UserService(store, writer, zone_ids=zones).create(
            User(id="pz5369-bench-operator", name="bench", zone_id="pz5369", role=Role.OPERATOR),
            actor=admin,
        )
        hotlists = HotlistService(
            store, writer, HotlistIndex(), zones, max_expiry_days=cfg.hotlists.max_expiry_days
        )
        hotlists.load_lists()
        hotlists.create_list(
            HotlistList(
                id="bench",
                name="bench",
                owner_zone_id="pz5364",
                default_scope=Scope(kind=ScopeKind.NETWORK),
            ),
            actor=admin,
        )
        plates = hotlist_plates(entries)
        report = hotlists.import_csv("bench", _csv_lines(plates), actor=admin)
        if report.imported != entries:
            raise RuntimeError(f"hotlist import: {report.imported} of {entries}")
    finally:
        writer.stop()
        store.close()
    return token, plates


def _batch(camera_id: str, reads: list[dict[str, Any]]) -> bytes:
    return msgspec.json.encode({"version": 1, "camera_id": camera_id, "reads": reads})


async def _measure(
    url: str,
    cam_tokens: dict[str, str],
    operator: str,
    plates: list[str],
    background: int,
    probes: int,
    probe_every_s: float,
) -> dict[str, Any]:
    cams = sorted(cam_tokens)
    arrivals: dict[str, float] = {}
    ws_url = url.replace("http://", "ws://") + f"/api/v1/hits/ws?access_token={operator}"
    stop = asyncio.Event()
    sent_background = 0

    async with websockets.connect(ws_url, max_size=2**22) as ws:

        async def listen() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "hit":
                    arrivals.setdefault(msg["hit"]["plate_read"], time.perf_counter())

        async def background_load(client: httpx.AsyncClient) -> None:
            nonlocal sent_background
            tick = 0.02
            per_tick = max(1, round(background * tick))
            rng = random.Random(5)
            n = 0
            next_at = time.perf_counter()
            while not stop.is_set():
                cam = cams[n % len(cams)]
                now = dt.datetime.now(dt.UTC).isoformat()
                reads = [
                    {
                        "read_id": f"bg-{n}-{i}",
                        "captured_at": now,
                        "confidence": 0.9,
                        "plate": f"{''.join(rng.choices('BDFGHJKLNPRSTVXZ', k=2))}-"
                        f"{rng.randint(100, 999)}-{rng.choice('BDFGHJKLNPRSTVXZ')}",
                        "country": "NL",
                    }
                    for i in range(per_tick)
                ]
                n += 1
                resp = await client.post(
                    "/api/v1/reads",
                    content=_batch(cam, reads),
                    headers={"Authorization": f"Bearer {cam_tokens[cam]}"},
                )
                if resp.status_code == 200:
                    sent_background += resp.json()["stored"]
                next_at += tick
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        listener = asyncio.create_task(listen())
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            bg = asyncio.create_task(background_load(client))
            await asyncio.sleep(2.0)  # let the background load settle
            started: dict[str, float] = {}
            bg_start, bg_count0 = time.perf_counter(), sent_background
            for i in range(probes):
                plate = plates[i * 997 % len(plates)]
                cam = cams[(i * 31) % len(cams)]
                read = {
                    "read_id": f"probe-{i}",
                    "plate": plate,
                    "country": "BE",
                    "confidence": 0.95,
                    "captured_at": dt.datetime.now(dt.UTC).isoformat(),
                }
                started[plate] = time.perf_counter()
                await client.post(
                    "/api/v1/reads",
                    content=_batch(cam, [read]),
                    headers={"Authorization": f"Bearer {cam_tokens[cam]}"},
                )
                await asyncio.sleep(probe_every_s)
            deadline = time.perf_counter() + 10
            while len([p for p in started if p in arrivals]) < len(started):
                if time.perf_counter() > deadline:
                    break
                await asyncio.sleep(0.05)
            bg_rate = (sent_background - bg_count0) / (time.perf_counter() - bg_start)
            stop.set()
            await bg
        listener.cancel()
    latencies = sorted((arrivals[p] - t0) * 1000 for p, t0 in started.items() if p in arrivals)
    if not latencies:
        raise RuntimeError("no probe hit arrived")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(q[94], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(latencies[-1], 2),
        "probes": len(started),
        "probes_received": len(latencies),
        "background_reads_per_s": round(bg_rate),
    }


def matching_cost(
    sizes: tuple[int, ...] = (10_000, 1_000_000), reads: int = 200_000
) -> dict[str, float]:
    """µs per read of the match index look-up (reads that match nothing), per index size."""
    rng = random.Random(9)
    probe = [
        f"{rng.randint(3, 9)}{''.join(rng.choices(LETTERS, k=3))}{rng.randint(0, 999):03d}"
        for _ in range(reads)
    ]
    out = {}
    for size in sizes:
        index = HotlistIndex()
        for p in hotlist_plates(size, seed=size):
            plate = p.replace("-", "")
            index.put(IndexedEntry(plate, "l", plate, "BE", 0, 2**62))
        now = time.time_ns() // 1000
        start = time.perf_counter()
        for plate in probe:
            index.match(plate, "BE", at_us=now, now_us=now)
        out[f"match_us_per_read_{size}"] = round((time.perf_counter() - start) / reads * 1e6, 3)
        del index
    return out


def run_hits_bench(
    *,
    entries: int,
    background: int,
    probes: int,
    probe_every_s: float,
    match_sizes: tuple[int, ...] = (10_000, 1_000_000),
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kruispunt-bench-hits-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        operator, plates = prepare_store(workdir, entries)
        import_s = time.perf_counter() - t0
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start_node(workdir, port, ADMIN)
        try:
            t0 = time.perf_counter()
            _wait_ready(url, proc, timeout=600)
            ready_s = time.perf_counter() - t0
            cam_tokens: dict[str, str] = {}
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
            ) as http:
                for cam in build_province_cameras():
                    http.put(
                        f"/api/v1/cameras/{cam.id}", content=msgspec.json.encode(cam)
                    ).raise_for_status()
                    cam_tokens[cam.id] = http.post(f"/api/v1/cameras/{cam.id}/token").json()[
                        "token"
                    ]
            result = asyncio.run(
                _measure(url, cam_tokens, operator, plates, background, probes, probe_every_s)
            )
            result["peak_rss_mb"] = round(_rss_mb(proc.pid, "VmHWM"), 1)
        finally:
            proc.terminate()
            proc.wait(60)
    result.update(
        hotlist_entries=entries,
        hotlist_import_s=round(import_s, 1),
        node_ready_s=round(ready_s, 1),
        subscriber="operator of pz5369 on the WebSocket; entries owned by pz5364, scope network",
        **matching_cost(match_sizes),
    )
    return result
