"""The simulated camera network: size, placement, rings, section control, determinism."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from kruispunt.domain.cameras import Camera, Mounting, Purpose, validate_camera
from kruispunt.domain.zones import municipalities, network_zones
from kruispunt.sim.layout import build_province_cameras

SEED_ZONES = ("pz5364", "pz5369", "pz5355", "pz5352")
TO_L72 = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True)
NODUS = (
    Path(__file__).resolve().parents[3]
    / "shared/data/geo/antwerp_province_main_roads_nodus.geojson"
)


def _data(name: str) -> Any:
    return json.loads(resources.files("kruispunt.data").joinpath(name).read_text("utf-8"))


def _l72(lon: float, lat: float) -> shapely.Point:
    x, y = TO_L72.transform(lon, lat)
    return shapely.Point(x, y)


def _l72_geom(geometry: dict[str, Any]) -> Any:
    def fn(coords: Any) -> Any:
        x, y = TO_L72.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(shape(geometry), fn)


@pytest.fixture(scope="module")
def cameras() -> list[Camera]:
    return build_province_cameras()


@pytest.fixture(scope="module")
def polygons() -> dict[str, Any]:
    """Municipality polygons in lon/lat straight from the packaged file (NIS -> geometry)."""
    return {
        str(f["properties"]["nis"]): shape(f["geometry"])
        for f in _data("municipalities.geojson")["features"]
    }


def test_network_has_about_150_cameras(cameras: list[Camera]) -> None:
    assert 140 <= len(cameras) <= 170


def test_ids_unique_and_named_after_their_zone(cameras: list[Camera]) -> None:
    ids = [c.id for c in cameras]
    assert len(set(ids)) == len(ids)
    for c in cameras:
        assert re.fullmatch(rf"{c.zone_id}-c\d{{3}}", c.id)


def test_every_camera_passes_validation(cameras: list[Camera]) -> None:
    zone_ids = {z.id for z in network_zones()}
    problems = {c.id: validate_camera(c, zone_ids=zone_ids) for c in cameras}
    assert {k: v for k, v in problems.items() if v} == {}


def test_every_seed_zone_has_cameras_and_turnhout_most(cameras: list[Camera]) -> None:
    per_zone = Counter(c.zone_id for c in cameras)
    assert all(per_zone[z] >= 8 for z in SEED_ZONES)
    assert per_zone["pz5364"] == max(per_zone[z] for z in SEED_ZONES)
    assert per_zone["fedpol"] >= 6
    assert per_zone["pz5345"] >= 20


def test_cameras_lie_inside_their_zone_municipalities(
    cameras: list[Camera], polygons: dict[str, Any]
) -> None:
    zone_of = {m.nis: m.zone_id for m in municipalities()}
    for c in cameras:
        point = shapely.Point(c.lon, c.lat)
        containing = [nis for nis, poly in polygons.items() if poly.contains(point)]
        assert containing == [c.municipality_nis], c.id  # inside the province, nis correct
        if c.zone_id != "fedpol":
            assert zone_of[containing[0]] == c.zone_id, c.id


def test_all_17_seed_municipalities_have_cameras(cameras: list[Camera]) -> None:
    seed = {m.nis for m in municipalities() if m.zone_id in SEED_ZONES}
    assert len(seed) == 17
    assert seed <= {c.municipality_nis for c in cameras}


def test_baarle_hertog_cameras_are_in_its_enclaves(
    cameras: list[Camera], polygons: dict[str, Any]
) -> None:
    baarle = polygons["13002"]
    assert baarle.geom_type == "MultiPolygon"
    here = [c for c in cameras if c.municipality_nis == "13002"]
    assert here and all(baarle.contains(shapely.Point(c.lon, c.lat)) for c in here)


def test_federal_police_watch_the_three_motorways(cameras: list[Camera]) -> None:
    fed = [c for c in cameras if c.zone_id == "fedpol"]
    assert {c.road for c in fed} == {"E19", "E34", "E313"}
    assert all(c.owner == "Federale Politie" for c in fed)


@pytest.mark.skipif(not NODUS.exists(), reason="shared road file not present")
def test_motorway_and_ring_cameras_lie_on_those_roads(cameras: list[Camera]) -> None:
    lines: dict[str, list[Any]] = {}
    for f in json.loads(NODUS.read_text("utf-8"))["features"]:
        lines.setdefault(f["properties"]["ref"], []).append(_l72_geom(f["geometry"]))
    refs = {"E19": "A1", "E34": "A21", "E313": "A13", "R1": "R1"}
    checked = 0
    for c in cameras:
        if c.road in refs:
            p = _l72(c.lon, c.lat)
            assert min(g.distance(p) for g in lines[refs[c.road]]) < 400.0, c.id
            checked += 1
    assert checked >= 15


def test_lez_perimeter_cameras_lie_on_the_lez_boundary(cameras: list[Camera]) -> None:
    lez = _l72_geom(_data("lez_antwerpen_approx.geojson")["features"][0]["geometry"])
    lez_cams = [c for c in cameras if Purpose.LEZ in c.purposes]
    assert len(lez_cams) >= 12
    for c in lez_cams:
        assert c.zone_id == "pz5345" and c.owner == "Stad Antwerpen"
        assert Purpose.POLICE in c.purposes
        assert lez.boundary.distance(_l72(c.lon, c.lat)) <= 50.0, c.id


def test_antwerp_rings(cameras: list[Camera]) -> None:
    city = [c for c in cameras if c.zone_id == "pz5345"]
    centraal = _l72(4.4211, 51.2172)
    diamond = [c for c in city if _l72(c.lon, c.lat).distance(centraal) <= 500.0]
    assert len(diamond) >= 4
    left_bank = [c for c in city if c.lon < 4.375 and Purpose.LEZ not in c.purposes]
    assert len(left_bank) >= 3  # border with Zwijndrecht, Kennedy tunnel
    assert sum(c.road == "R1" for c in city) >= 5


def test_section_control_pairs(cameras: list[Camera]) -> None:
    section = [c for c in cameras if Purpose.SECTION_CONTROL in c.purposes]
    by_road: dict[str, list[Camera]] = {}
    for c in section:
        by_road.setdefault(c.road or "", []).append(c)
    assert len(by_road) >= 3 and all(len(v) == 2 for v in by_road.values())
    for a, b in by_road.values():
        km = _l72(a.lon, a.lat).distance(_l72(b.lon, b.lat)) / 1000.0
        assert 1.5 <= km <= 5.0, (a.id, b.id, km)
    assert any(a.zone_id != b.zone_id for a, b in by_road.values())


def test_vendor_mix_mobile_and_statistics(cameras: list[Camera]) -> None:
    vendors = Counter(c.vendor for c in cameras)
    assert set(vendors) == {
        "Hikvision",
        "Axis",
        "Vigilant",
        "Genetec AutoVu",
        "Neavia",
        "ARH",
        "Tattile",
    }
    assert 1 <= sum(c.mounting is Mounting.MOBILE for c in cameras) <= 10
    stats = sum(Purpose.STATISTICS in c.purposes for c in cameras)
    assert 0.15 * len(cameras) < stats < 0.6 * len(cameras)
    assert all(c.bearing_deg is None or 0 <= c.bearing_deg < 360 for c in cameras)
    assert sum(c.bearing_deg is not None for c in cameras) == len(cameras)


def test_deterministic_per_seed(cameras: list[Camera]) -> None:
    assert build_province_cameras(7) == cameras
    other = build_province_cameras(8)
    assert other != cameras
    assert len(other) == len(cameras)


def test_names_say_road_and_municipality(cameras: list[Camera]) -> None:
    names = {m.nis: m.name for m in municipalities()}
    for c in cameras:
        assert c.municipality_nis is not None
        assert c.name.endswith(f", {names[c.municipality_nis]}"), c.name
        assert c.road and c.road in c.name
    assert math.isclose(len({c.name for c in cameras}) / len(cameras), 1.0, abs_tol=0.25)
