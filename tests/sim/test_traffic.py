"""The traffic model: order, daily curve, trips across zones, plate mix, misreads."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import re
from collections import Counter, defaultdict

import pytest
from pyproj import Transformer

from kruispunt.domain.cameras import Camera
from kruispunt.sim.daily import brussels_offset, local_time
from kruispunt.sim.layout import build_province_cameras
from kruispunt.sim.misread import misread
from kruispunt.sim.plates_gen import plate_for
from kruispunt.sim.traffic import SimRead, TrafficModel

UTC = dt.UTC
TO_L72 = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True)
TUESDAY = dt.datetime(2025, 3, 4, tzinfo=UTC)  # winter time: local = UTC + 1
SCALE = 0.01  # ~30,000 reads a day over the network


def _norm(plate: str) -> str:
    return "".join(ch for ch in plate if ch.isalnum()).upper()


@pytest.fixture(scope="module")
def cameras() -> list[Camera]:
    return build_province_cameras()


@pytest.fixture(scope="module")
def model(cameras: list[Camera]) -> TrafficModel:
    return TrafficModel(cameras, vehicles=5000, rate_scale=SCALE)


@pytest.fixture(scope="module")
def day(model: TrafficModel) -> list[SimRead]:
    return list(model.events_between(TUESDAY, TUESDAY + dt.timedelta(days=1)))


def test_day_volume_matches_the_configured_rate(model: TrafficModel, day: list[SimRead]) -> None:
    assert model.reads_per_day == pytest.approx(20_000 * len(model.cameras) * SCALE)
    assert 0.8 * model.reads_per_day < len(day) < 1.2 * model.reads_per_day


def test_reads_in_capture_time_order_within_the_window(day: list[SimRead]) -> None:
    times = [e.read.captured_at for e in day]
    assert times == sorted(times)
    assert all(t.utcoffset() == dt.timedelta(0) for t in times)
    assert times[0] >= TUESDAY
    assert times[-1] < TUESDAY + dt.timedelta(days=1)


def test_read_ids_unique_per_camera(day: list[SimRead]) -> None:
    keys = [(e.camera_id, e.read.read_id) for e in day]
    assert len(set(keys)) == len(keys)
    assert all(e.read.camera_id == e.camera_id for e in day)


def test_deterministic_and_windows_compose(cameras: list[Camera], model: TrafficModel) -> None:
    a, b, c = (TUESDAY + dt.timedelta(hours=h) for h in (7, 8, 9))
    whole = list(model.reads_between(a, c))
    assert whole == [*model.reads_between(a, b), *model.reads_between(b, c)]
    again = TrafficModel(cameras, vehicles=5000, rate_scale=SCALE)
    assert list(again.reads_between(a, b)) == list(model.reads_between(a, b))
    other = TrafficModel(cameras, seed=8, vehicles=5000, rate_scale=SCALE)
    assert list(other.reads_between(a, b)) != list(model.reads_between(a, b))


def test_daily_curve_peaks_in_the_morning(day: list[SimRead]) -> None:
    per_local_hour = Counter(local_time(e.read.captured_at).hour for e in day)
    assert per_local_hour[8] > 5 * per_local_hour[3]
    assert per_local_hour[17] > 5 * per_local_hour[3]


def test_weekend_is_flatter(model: TrafficModel, day: list[SimRead]) -> None:
    saturday = TUESDAY + dt.timedelta(days=4)
    weekend = Counter(
        local_time(r.captured_at).hour
        for _, r in model.reads_between(saturday, saturday + dt.timedelta(days=1))
    )
    weekday = Counter(local_time(e.read.captured_at).hour for e in day)
    assert weekend[8] < 0.7 * weekday[8]
    assert weekend[13] > 0.8 * weekday[13]


def test_local_time_follows_eu_summer_time() -> None:
    assert brussels_offset(dt.datetime(2025, 3, 30, 0, 59, tzinfo=UTC)) == dt.timedelta(hours=1)
    assert brussels_offset(dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC)) == dt.timedelta(hours=2)
    assert brussels_offset(dt.datetime(2025, 10, 26, 0, 59, tzinfo=UTC)) == dt.timedelta(hours=2)
    assert brussels_offset(dt.datetime(2025, 10, 26, 1, 0, tzinfo=UTC)) == dt.timedelta(hours=1)


def _km(a: Camera, b: Camera) -> float:
    (ax, bx), (ay, by) = TO_L72.transform([a.lon, b.lon], [a.lat, b.lat])
    return math.hypot(ax - bx, ay - by) / 1000.0


def test_vehicles_travel_across_zones_at_plausible_speeds(
    cameras: list[Camera], day: list[SimRead]
) -> None:
    by_id = {c.id: c for c in cameras}
    trips: dict[str, list[SimRead]] = defaultdict(list)
    for e in day:
        trips[e.trip_id].append(e)
    cross_zone = 0
    speeds = []
    for reads in trips.values():
        assert len({e.vehicle for e in reads}) == 1
        zones = {by_id[e.camera_id].zone_id for e in reads}
        if len(reads) >= 3 and len(zones) >= 2:
            cross_zone += 1
        for prev, cur in itertools.pairwise(reads):
            seconds = (cur.read.captured_at - prev.read.captured_at).total_seconds()
            assert seconds > 0
            speeds.append(_km(by_id[prev.camera_id], by_id[cur.camera_id]) / (seconds / 3600))
    assert cross_zone >= 100
    assert min(speeds) > 5.0
    assert max(speeds) < 200.0
    assert 20.0 < sorted(speeds)[len(speeds) // 2] < 110.0


def test_dutch_plates_more_common_near_the_border(
    cameras: list[Camera], model: TrafficModel, day: list[SimRead]
) -> None:
    by_id = {c.id: c for c in cameras}
    border = {"13002", "11009"}  # Baarle-Hertog, Brecht
    counts: dict[str, Counter[str]] = {"border": Counter(), "neteland": Counter()}
    for e in day:
        cam = by_id[e.camera_id]
        area = "border" if cam.municipality_nis in border else None
        area = "neteland" if cam.zone_id == "pz5369" else area
        if area:
            counts[area][model.fleet[e.vehicle].country] += 1
    share = {k: v["NL"] / sum(v.values()) for k, v in counts.items()}
    assert share["border"] > 2 * share["neteland"]
    antwerp = Counter(
        model.fleet[e.vehicle].country for e in day if by_id[e.camera_id].zone_id == "pz5345"
    )
    assert antwerp["FR"] / sum(antwerp.values()) > 0.015


def test_misread_rate_roughly_as_configured(cameras: list[Camera]) -> None:
    model = TrafficModel(cameras, vehicles=3000, rate_scale=SCALE, misread_rate=0.1)
    reads = list(model.events_between(TUESDAY, TUESDAY + dt.timedelta(hours=10)))
    wrong = [e for e in reads if _norm(e.read.plate) != _norm(e.true_plate)]
    assert [e.read.read_id for e in wrong] == [e.read.read_id for e in reads if e.misread]
    assert 0.08 < len(wrong) / len(reads) < 0.12
    mean = sum(e.read.confidence for e in wrong) / len(wrong)
    right = [e.read.confidence for e in reads if not e.misread]
    assert mean < sum(right) / len(right) - 0.1
    assert all(0.0 <= e.read.confidence <= 1.0 for e in reads)


def test_no_misreads_when_rate_is_zero(cameras: list[Camera]) -> None:
    model = TrafficModel(cameras, vehicles=1000, rate_scale=SCALE, misread_rate=0.0)
    reads = list(model.events_between(TUESDAY, TUESDAY + dt.timedelta(hours=3)))
    assert reads and all(_norm(e.read.plate) == _norm(e.true_plate) for e in reads)


def test_misread_uses_confusable_characters() -> None:
    rng = random.Random(1)
    for _ in range(500):
        plate = "1-OBS-826"
        bad = misread(plate, rng)
        assert _norm(bad) != _norm(plate)
        if len(bad) == len(plate):
            diff = [(a, b) for a, b in zip(plate, bad, strict=True) if a != b]
            assert len(diff) == 1 and diff[0][1] in "0OQDIL18B5S2Z6G"


PLATE_FORMATS = {
    "BE": r"[12]-[A-Z]{3}-\d{3}|[A-Z]{3}-\d{3}",
    # sidecodes 4-11: three groups, 8 characters, no vowels, C or Q
    "NL": r"(?=.{8}$)[^-]{1,3}-[^-]{2,3}-[^-]{1,2}(?<=[BDFGHJKLNPRSTVXZ0-9-]{8})",
    "FR": r"[A-HJ-NP-TV-Z]{2}-\d{3}-[A-HJ-NP-TV-Z]{2}",
    "DE": r"[A-Z]{1,3}-[A-Z]{1,2} [1-9]\d{0,3}",
    "LU": r"[A-Z]{2} \d{4}",
}


@pytest.mark.parametrize("country", sorted(PLATE_FORMATS))
def test_generated_plates_follow_country_formats(country: str) -> None:
    rng = random.Random(country)
    for _ in range(300):
        assert re.fullmatch(PLATE_FORMATS[country], plate_for(country, rng))


def test_fleet_plates_unique_and_mostly_belgian(model: TrafficModel) -> None:
    plates = [v.plate for v in model.fleet]
    assert len(set(plates)) == len(plates)
    countries = Counter(v.country for v in model.fleet)
    assert 0.8 < countries["BE"] / len(plates) < 0.97
    assert {"NL", "FR", "DE"} <= set(countries)


def test_rejects_naive_datetimes(model: TrafficModel) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next(model.reads_between(dt.datetime(2025, 3, 4), dt.datetime(2025, 3, 5)))
