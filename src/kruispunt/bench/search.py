"""``kruispunt bench search``: investigation queries at several store sizes, in one run.

The store (SQLite by default; PostgreSQL with ``KRUISPUNT_DATABASE_URL``) is filled through its
bulk append path with synthetic province traffic: ~3 million reads a day over the ~150 cameras
of the simulated province, oldest day first, so 1M reads are the first 8 hours, 10M a little
over 3 days, 90M (``--full``) the province's 30 days. Vehicles are drawn from a fleet with the
skew of real traffic: a few professional vehicles seen dozens of times a day, commuters seen
daily, most vehicles rarely; each keeps to the cameras around its home. One vehicle travels
with a planted companion, which the convoy query must find.

After each size is reached, the queries run through ``kruispunt.search`` (the module the API
uses, without the HTTP layer and the audit): exact plate history over the whole period,
partial plates (``1AB?12*``) over the last 14 days, place and time (five cameras, one hour,
the vehicle list), and a convoy over the last 7 days. Latencies are p50/p95 over many queries;
the page cache is warm from the fill, as it is on a node that ingests all day.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.plates.text import normalise
from kruispunt.search.patterns import parse_pattern, plan_for
from kruispunt.search.queries import Caps, Filters, SearchQueries
from kruispunt.search.vehicle import convoy
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.plates_gen import plate_for
from kruispunt.store.sql import SqlStore
from kruispunt.store.sqlite import SqliteStore

US_PER_S = 1_000_000
DAY_US = 86_400 * US_PER_S
READS_PER_DAY = 3_000_000
DEFAULT_SIZES = (1_000_000, 10_000_000)
FULL_SIZE = 90_000_000
CHUNK = 50_000
COMPANION_LAG_US = 20 * US_PER_S
CONVOY_GAP_US = 60 * US_PER_S
# Vehicle tiers: (share of the fleet, relative weight of a vehicle).
TIERS = ((0.0005, 150.0), (0.05, 20.0), (0.25, 3.0), (0.6995, 0.3))
COUNTRY_SHARES = (("BE", 0.88), ("NL", 0.08), ("FR", 0.03), ("DE", 0.01))
VEHICLE_CLASSES = ("car", "car", "car", "car", "van", "truck")
_err = Console(stderr=True)


@dataclass
class Fleet:
    plates: list[str]
    countries: list[str]
    cdf: Any  # numpy float array: cumulative weights, normalised
    home: Any  # numpy int array: home camera index per vehicle
    frequent: list[int]
    """The most-seen vehicles (convoy targets)."""


def build_fleet(size: int, cameras: int, rng: random.Random, np_rng: Any) -> Fleet:
    plates: list[str] = []
    countries: list[str] = []
    names = [c for c, _ in COUNTRY_SHARES]
    weights = [w for _, w in COUNTRY_SHARES]
    seen: set[str] = set()
    while len(plates) < size:
        country = rng.choices(names, weights)[0]
        plate = normalise(plate_for(country, rng))
        if plate not in seen:
            seen.add(plate)
            plates.append(plate)
            countries.append(country)
    w = np.empty(size)
    start = 0
    for share, weight in TIERS:
        n = max(1, round(share * size))
        w[start : start + n] = weight
        start += n
    w[start:] = TIERS[-1][1]
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    home = np_rng.integers(0, cameras, size)
    return Fleet(plates, countries, cdf, home, frequent=list(range(3)))


def _read(
    read_id: str, c: Camera, t: int, plate: str, country: str, conf: float, vclass: str
) -> Read:
    return Read(0, read_id, c.id, c.zone_id, t, t + 2 * US_PER_S, plate, plate, country, False,
                None, float(conf), "approaching", 1, vclass, None, None, None)  # fmt: skip


def reads_of_chunk(
    fleet: Fleet, cameras: list[Camera], first: int, n: int, start_us: int, np_rng: Any
) -> list[Read]:
    """Reads ``first`` .. ``first + n`` of the run: evenly spread in time (3M a day)."""
    step = DAY_US / READS_PER_DAY
    veh = np.searchsorted(fleet.cdf, np_rng.random(n))
    cam = (fleet.home[veh] + np_rng.integers(0, 6, n)) % len(cameras)
    at = (start_us + (first + np.arange(n)) * step).astype(np.int64)
    conf = np_rng.uniform(0.6, 0.99, n).round(3)
    vclass = np_rng.integers(0, len(VEHICLE_CLASSES), n)
    out: list[Read] = []
    target, companion = fleet.frequent[0], len(fleet.plates) - 1
    for i in range(n):
        v, c, t = int(veh[i]), cameras[int(cam[i])], int(at[i])
        vc = VEHICLE_CLASSES[int(vclass[i])]
        out.append(_read(f"b{first + i}", c, t, fleet.plates[v], fleet.countries[v], conf[i], vc))
        if v == target:  # the planted convoy: the same cameras, 20 s later
            lag = t + COMPANION_LAG_US
            pair = fleet.plates[companion], fleet.countries[companion]
            out.append(_read(f"b{first + i}c", c, lag, pair[0], pair[1], 0.9, "car"))
    return out


def _open_store(workdir: Path, db_url: str | None) -> SqlStore:
    if db_url:
        from kruispunt.store.postgres import PgStore

        store: SqlStore = PgStore(db_url, schema=f"kp_bench_search_{os.getpid()}", pool_size=4)
    else:
        store = SqliteStore(workdir / "search.sqlite", synchronous="NORMAL")
    store.open()
    return store


def _close_store(store: SqlStore) -> None:
    drop = getattr(store, "drop_schema", None)
    if drop is not None:
        drop()
    else:
        store.close()


def _disk_mb(store: SqlStore) -> float:
    if isinstance(store, SqliteStore):  # the WAL folded into the database: its real size
        conn = sqlite3.connect(store.path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    size = getattr(store, "size_bytes", None)
    return round(size() / 1e6, 1) if size is not None else 0.0


def _ms(samples: list[float]) -> tuple[float, float]:
    if len(samples) < 2:
        value = samples[0] * 1000 if samples else 0.0
        return round(value, 2), round(value, 2)
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return round(statistics.median(samples) * 1000, 2), round(q[94] * 1000, 2)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Bench:
    def __init__(self, store: SqlStore, cameras: list[Camera], fleet: Fleet, start_us: int):
        self.queries = SearchQueries(store, Caps(max_scan_rows=20_000_000, timeout_ms=120_000))
        self.cameras = cameras
        self.fleet = fleet
        self.start_us = start_us
        self.zones = frozenset(c.zone_id for c in cameras)

    def measure(
        self, reads: int, rng: random.Random, np_rng: Any, counts: dict[str, int]
    ) -> dict[str, Any]:
        end = self.start_us + int(reads * DAY_US / READS_PER_DAY)
        everything = [(self.start_us, end)]
        recent = [(max(self.start_us, end - 14 * DAY_US), end)]
        filters = Filters(zones=self.zones)
        sample = np.searchsorted(self.fleet.cdf, np_rng.random(counts["exact"]))
        plates = [self.fleet.plates[int(v)] for v in sample]
        plates[::5] = ["9ZZZ" + f"{i:03d}" for i in range(len(plates[::5]))]  # never seen
        exact, found = [], 0
        for plate in plates:
            plan = plan_for(parse_pattern(plate), confusable=False)
            t0 = time.perf_counter()
            rows, _more = self.queries.plate_reads(plan, everything, filters, limit=1000)
            exact.append(time.perf_counter() - t0)
            found += len(rows)
        partial, partial_rows = [], 0
        be = [p for p, c in zip(self.fleet.plates, self.fleet.countries, strict=True)
              if c == "BE" and len(p) == 7 and p[0] in "12"]  # fmt: skip
        for _ in range(counts["partial"]):
            p = rng.choice(be)
            plan = plan_for(parse_pattern(f"{p[:3]}?{p[4:6]}*"), confusable=False)
            t0 = time.perf_counter()
            rows, _more = self.queries.plate_reads(plan, recent, filters, limit=200)
            partial.append(time.perf_counter() - t0)
            partial_rows += len(rows)
        place, vehicles = [], 0
        for _ in range(counts["place"]):
            cams = [c.id for c in rng.sample(self.cameras, 5)]
            at = rng.randrange(self.start_us, max(self.start_us + 1, end - 3600 * US_PER_S))
            t0 = time.perf_counter()
            _per_cam, found_vehicles = self.queries.place_vehicles(
                cams, [(at, at + 3600 * US_PER_S)], filters
            )
            place.append(time.perf_counter() - t0)
            vehicles += len(found_vehicles)
        week = [(max(self.start_us, end - 7 * DAY_US), end)]
        convoys = []
        found_companion = False
        for target in self.fleet.frequent[: counts["convoy"]]:
            t0 = time.perf_counter()
            result = convoy(
                self.queries, self.fleet.plates[target], week, self.zones, gap_us=CONVOY_GAP_US,
                min_together=2, limit=20,
            )  # fmt: skip
            convoys.append((time.perf_counter() - t0, result.passages))
            if target == self.fleet.frequent[0] and result.companions:
                found_companion = result.companions[0].plate == self.fleet.plates[-1]
        e50, e95 = _ms(exact)
        p50, p95 = _ms(partial)
        t50, t95 = _ms(place)
        return {
            "exact_p50_ms": e50, "exact_p95_ms": e95,
            "exact_reads_mean": round(found / max(1, len(plates)), 1),
            "partial_p50_ms": p50, "partial_p95_ms": p95,
            "partial_reads_mean": round(partial_rows / max(1, len(partial)), 1),
            "place_time_p50_ms": t50, "place_time_p95_ms": t95,
            "place_time_vehicles_mean": round(vehicles / max(1, len(place)), 1),
            "convoy_s": round(statistics.median(s for s, _ in convoys), 3),
            "convoy_max_s": round(max(s for s, _ in convoys), 3),
            "convoy_passages": [n for _, n in convoys],
            "convoy_companion_found": found_companion,
        }  # fmt: skip


def _fill(
    store: SqlStore, bench: Bench, upto: int, done: int, np_rng: Any, progress: Progress | None
) -> int:
    task = None
    if progress is not None:
        task = progress.add_task(f"fill to {upto:,} reads", total=upto - done)
    while done < upto:
        n = min(CHUNK, upto - done)
        batch = reads_of_chunk(bench.fleet, bench.cameras, done, n, bench.start_us, np_rng)
        store.append(batch)
        done += n
        if progress is not None and task is not None:
            progress.advance(task, n)
    return done


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress("{task.description}", *columns, console=_err, transient=True) as progress:
        yield progress


def run_search_bench(
    *,
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    exact: int = 300,
    partial: int = 100,
    place: int = 50,
    convoys: int = 3,
    seed: int = 7,
    progress: bool = True,
) -> dict[str, Any]:
    sizes = tuple(sorted(set(sizes)))
    if not sizes or sizes[0] < 1000:
        raise ValueError("sizes: at least 1000 reads each")
    db_url = os.environ.get("KRUISPUNT_DATABASE_URL", "")
    db_url = db_url if db_url.startswith(("postgresql:", "postgres:")) else ""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    cameras = build_province_cameras()
    t0 = time.perf_counter()
    fleet = build_fleet(min(2_000_000, max(20_000, sizes[-1] // 5)), len(cameras), rng, np_rng)
    fleet_s = time.perf_counter() - t0
    now_us = time.time_ns() // 1000
    start_us = now_us - int(sizes[-1] * DAY_US / READS_PER_DAY) - DAY_US // 24
    counts = {"exact": exact, "partial": partial, "place": place, "convoy": convoys}
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kruispunt-bench-search-") as tmp:
        store = _open_store(Path(tmp), db_url)
        try:
            for cam in cameras:
                store.upsert_camera(cam, None)
            bench = Bench(store, cameras, fleet, start_us)
            done = 0
            for size in sizes:
                t0 = time.perf_counter()
                before = done
                with _progress(progress) as bar:
                    done = _fill(store, bench, size, done, np_rng, bar)
                fill_s = time.perf_counter() - t0
                entry: dict[str, Any] = {
                    "reads": size,
                    "stored": store.count_reads(),
                    "days": round(size / READS_PER_DAY, 2),
                    "fill_s": round(fill_s, 1),
                    "fill_reads_per_s": round((done - before) / fill_s) if fill_s else 0,
                    "disk_mb": _disk_mb(store),
                }
                entry.update(bench.measure(size, rng, np_rng, counts))
                entry["peak_rss_mb"] = _peak_rss_mb()
                out.append(entry)
        finally:
            _close_store(store)
    return {
        "sizes": out,
        "store": "postgresql (partitions per day)" if db_url
        else "sqlite (WAL, synchronous=NORMAL for the fill, a table per day)",
        "reads_per_day": READS_PER_DAY,
        "cameras": len(cameras),
        "fleet": len(fleet.plates),
        "fleet_s": round(fleet_s, 1),
        "queries": counts,
        "machine": f"{os.cpu_count()} cpu, {sys.platform}, python {sys.version.split()[0]}",
        "started": dt.datetime.fromtimestamp(now_us / 1e6, dt.UTC).isoformat(),
    }  # fmt: skip
