"""A traffic model: a fleet drives trips along chains of cameras and produces reads.

Reads are a pure function of (cameras, parameters, seed, capture hour): the trips that start
in a UTC hour are drawn from a random generator seeded with that hour, so any time window
yields exactly the reads that a longer run would yield for it, with the same read ids.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from kruispunt.domain.cameras import Camera
from kruispunt.domain.zones import municipalities
from kruispunt.ingest.wire import ReadIn
from kruispunt.sim.daily import hour_share
from kruispunt.sim.fleet import Home, Vehicle, build_fleet
from kruispunt.sim.misread import confidence, misread
from kruispunt.sim.routes import RouteNetwork, section_road_lengths

HOUR_US = 3_600_000_000
MAX_TRIP_US = 3 * HOUR_US  # a trip is cut after 3 hours; windows look back that far
READS_PER_CAMERA_PER_DAY = 20_000  # ~3 million reads a day for ~150 cameras
LOCAL_TRIP_SHARE = 0.55
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
Direction = Literal["approaching", "receding", "unknown"]

# What each vendor's reader reports besides the plate (vendor diversity on the wire).
COMPACT_PLATE_VENDORS = frozenset({"Vigilant", "Genetec AutoVu", "ARH"})
NO_COUNTRY_VENDORS = frozenset({"Neavia", "Axis"})
MMR_VENDORS = frozenset({"Genetec AutoVu", "Vigilant", "Hikvision"})  # make/model/colour


@dataclass(frozen=True, slots=True)
class SimRead:
    """A read together with the truth behind it (for tests and benchmarks)."""

    camera_id: str
    read: ReadIn
    vehicle: int  # index into ``TrafficModel.fleet``
    true_plate: str
    misread: bool
    trip_id: str


PAUSE_US = 10 * 60 * 1_000_000  # between two trips of one vehicle


def _to_us(at: dt.datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0.0:
        return 0
    if lam > 30.0:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, rng.random()
    while p > threshold:
        k += 1
        p *= rng.random()
    return k


class TrafficModel:
    """Simulated traffic over a camera network; deterministic for a seed."""

    def __init__(
        self,
        cameras: Sequence[Camera],
        *,
        seed: int = 7,
        vehicles: int = 20_000,
        misread_rate: float = 0.02,
        reads_per_day: float | None = None,
        rate_scale: float = 1.0,
        detection_rate: float = 0.96,
    ) -> None:
        if not cameras:
            raise ValueError("at least one camera")
        if vehicles < 1:
            raise ValueError("vehicles must be >= 1")
        if not 0.0 <= misread_rate <= 1.0 or not 0.0 < detection_rate <= 1.0:
            raise ValueError("misread_rate in [0, 1], detection_rate in (0, 1]")
        if rate_scale < 0.0 or (reads_per_day is not None and reads_per_day < 0.0):
            raise ValueError("rates must not be negative")
        self.cameras = tuple(cameras)
        self.seed = seed
        self.misread_rate = misread_rate
        self.detection_rate = detection_rate
        self.network = RouteNetwork(self.cameras, section_road_lengths())
        homes = self._homes()
        self.fleet: tuple[Vehicle, ...] = build_fleet(homes, vehicles, random.Random(seed))
        self._cum_activity = list(itertools.accumulate(v.activity for v in self.fleet))
        self._home_cameras = {
            h.nis: tuple(i for i, c in enumerate(self.cameras) if c.municipality_nis == h.nis)
            for h in homes
        }
        per_day = READS_PER_CAMERA_PER_DAY * len(self.cameras)
        self.reads_per_day = (per_day if reads_per_day is None else reads_per_day) * rate_scale
        self.mean_reads_per_trip = self._estimate_reads_per_trip()
        self.trips_per_day = self.reads_per_day / self.mean_reads_per_trip

    def _homes(self) -> list[Home]:
        """Municipalities that hold cameras; vehicles start their trips there."""
        nis = {c.municipality_nis for c in self.cameras if c.municipality_nis}
        homes = [Home(m.nis, m.name, m.zone_id, m.population_2020 or 1) for m in municipalities()]
        homes = [h for h in homes if h.nis in nis]
        if not homes:
            raise ValueError("no camera lies in a known municipality")
        return homes

    def _estimate_reads_per_trip(self) -> float:
        rng = random.Random(f"{self.seed}:estimate")
        total = sum(len(self.network.route(*self._trip_ends(rng)[1:])) for _ in range(2000))
        return max(1e-9, total / 2000 * self.detection_rate)

    def _trip_ends(self, rng: random.Random) -> tuple[int, int, int]:
        """(vehicle, origin camera, destination camera) of a new trip."""
        pick = rng.random() * self._cum_activity[-1]
        v = min(bisect.bisect_right(self._cum_activity, pick), len(self.fleet) - 1)
        o = rng.choice(self._home_cameras[self.fleet[v].home_nis])
        near, reach = self.network.near[o], self.network.reach[o]
        if near and rng.random() < LOCAL_TRIP_SHARE:
            return v, o, rng.choice(near)
        return v, o, (rng.choice(reach) if reach else o)

    def sample_passes(self, trips: int, rng: random.Random) -> Iterator[tuple[int, Vehicle, float]]:
        """(camera index, vehicle, seconds since the trip's start) of every camera pass of
        ``trips`` trips drawn as the hours draw theirs (before the detection rate): where
        and how long after a trip starts the traffic meets each camera."""
        for _ in range(trips):
            v, o, d = self._trip_ends(rng)
            vehicle = self.fleet[v]
            route = self.network.route(o, d)
            t_s = 0.0
            for k, cam in enumerate(route):
                if k:
                    t_s += self.network.hop_seconds(route[k - 1], cam, vehicle.speed_factor)
                if t_s * 1e6 >= MAX_TRIP_US:
                    break
                yield cam, vehicle, t_s

    # --- reads --------------------------------------------------------------------------

    def reads_between(
        self, start: dt.datetime, end: dt.datetime | None
    ) -> Iterator[tuple[str, ReadIn]]:
        """(camera id, read) captured in [start, end), in capture-time order; ``end=None``
        runs on without end."""
        for sim in self.events_between(start, end):
            yield sim.camera_id, sim.read

    def events_between(self, start: dt.datetime, end: dt.datetime | None) -> Iterator[SimRead]:
        """Reads with their ground truth, captured in [start, end), in capture-time order."""
        start_us = _to_us(start)
        end_us = None if end is None else _to_us(end)
        heap: list[tuple[int, str, SimRead]] = []
        first_hour = (start_us - MAX_TRIP_US) // HOUR_US
        hours = (
            itertools.count(first_hour)
            if end_us is None
            else range(first_hour, (end_us - 1) // HOUR_US + 1)
        )
        for hour in hours:
            for item in self._hour(hour):
                heapq.heappush(heap, item)
            horizon = (hour + 1) * HOUR_US
            while heap and heap[0][0] < horizon:
                us, _, sim = heapq.heappop(heap)
                if us >= start_us and (end_us is None or us < end_us):
                    yield sim

    def _hour(self, hour: int) -> list[tuple[int, str, SimRead]]:
        """Every read of the trips that start in this UTC hour."""
        rng = random.Random(f"{self.seed}:{hour}")
        hour_us = hour * HOUR_US
        expected = self.trips_per_day * hour_share(_from_us(hour_us))
        out: list[tuple[int, str, SimRead]] = []
        # A vehicle drives one trip at a time: a trip drawn while its vehicle is still on an
        # earlier one of this hour starts after it (section control would otherwise pair the
        # entry of one trip with the exit of another).
        busy_until: dict[int, int] = {}
        for trip in range(_poisson(rng, expected)):
            v, o, d = self._trip_ends(rng)
            route = self.network.route(o, d)
            vehicle = self.fleet[v]
            factor = vehicle.speed_factor * rng.uniform(0.92, 1.08)
            t_us = hour_us + rng.randrange(HOUR_US)
            if t_us < busy_until.get(v, 0):
                t_us = busy_until[v] + PAUSE_US
            trip_id = f"{self.seed:x}.{hour:x}.{trip:x}"
            for k, cam in enumerate(route):
                if k:
                    t_us += round(self.network.hop_seconds(route[k - 1], cam, factor) * 1e6)
                if t_us - hour_us >= MAX_TRIP_US:
                    break
                if rng.random() >= self.detection_rate:
                    continue
                sim = self._read(rng, vehicle, route, k, t_us, f"{trip_id}.{k:x}")
                out.append((t_us, sim.read.read_id, sim))
            busy_until[v] = t_us
        return out

    def _read(
        self,
        rng: random.Random,
        vehicle: Vehicle,
        route: tuple[int, ...],
        k: int,
        t_us: int,
        read_id: str,
    ) -> SimRead:
        camera = self.cameras[route[k]]
        vendor = camera.vendor or ""
        wrong = rng.random() < self.misread_rate
        plate = misread(vehicle.plate, rng) if wrong else vehicle.plate
        if vendor in COMPACT_PLATE_VENDORS:
            plate = "".join(ch for ch in plate if ch.isalnum())
        mmr = vendor in MMR_VENDORS
        read = ReadIn(
            read_id=read_id,
            captured_at=_from_us(t_us),
            plate=plate,
            confidence=confidence(rng, misread=wrong),
            camera_id=camera.id,
            country=None if vendor in NO_COUNTRY_VENDORS else vehicle.country,
            direction=self._direction(camera, route, k),
            lane=rng.randint(1, camera.lanes),
            vehicle_class=None if vendor == "ARH" else vehicle.vehicle_class,
            make=vehicle.make if mmr else None,
            colour=vehicle.colour if mmr else None,
            image_ref=f"sim://{camera.id}/{read_id}.jpg",
        )
        trip_id = read_id.rsplit(".", 1)[0]
        return SimRead(camera.id, read, vehicle.index, vehicle.plate, wrong, trip_id)

    def _direction(self, camera: Camera, route: tuple[int, ...], k: int) -> Direction:
        heading = self.network.heading(route, k)
        if heading is None or camera.bearing_deg is None:
            return "unknown"
        diff = abs(heading - camera.bearing_deg) % 360.0
        return "receding" if min(diff, 360.0 - diff) < 90.0 else "approaching"
