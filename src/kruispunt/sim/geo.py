"""Packaged geometry for the simulation, in Belgian Lambert 72 (EPSG:31370) metres.

Every GeoJSON in ``kruispunt.data`` is WGS84 lon/lat; distances and areas are measured in
Lambert 72, never in degrees. Geometries are shapely objects (untyped, hence ``Any``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from kruispunt.domain.zones import load_data_json, municipalities

_TO_L72 = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True)
_TO_WGS = Transformer.from_crs("EPSG:31370", "EPSG:4326", always_xy=True)

Geom = Any  # a shapely geometry


def to_lambert(lon: float, lat: float) -> tuple[float, float]:
    x, y = _TO_L72.transform(lon, lat)
    return float(x), float(y)


def to_wgs84(x: float, y: float) -> tuple[float, float]:
    lon, lat = _TO_WGS.transform(x, y)
    return float(lon), float(lat)


def _coords_to_lambert(coords: Any) -> Any:
    x, y = _TO_L72.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def project(geojson_geometry: dict[str, Any]) -> Geom:
    """A GeoJSON geometry (lon/lat) as a shapely geometry in Lambert 72."""
    return shapely.transform(shape(geojson_geometry), _coords_to_lambert)


def grid_bearing(dx: float, dy: float) -> float:
    """Bearing in degrees [0, 360) of a Lambert 72 vector (grid north ≈ true north here)."""
    deg = round(math.degrees(math.atan2(dx, dy)) % 360.0, 1)
    return 0.0 if deg >= 360.0 else deg


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


@dataclass(frozen=True, slots=True)
class MunicipalityShape:
    nis: str
    name: str
    zone_id: str | None
    population: int
    geom: Geom


@dataclass(frozen=True, slots=True)
class RoadLine:
    highway: str
    ref: str | None
    name: str | None
    geom: Geom

    @property
    def label(self) -> str | None:
        """``N12 Antwerpseweg``, ``N12``, ``Antwerpseweg`` or None."""
        parts = [p for p in (self.ref, self.name) if p]
        return " ".join(parts) if parts else None


@cache
def municipality_shapes() -> tuple[MunicipalityShape, ...]:
    by_nis = {m.nis: m for m in municipalities()}
    out = []
    for feature in load_data_json("municipalities.geojson")["features"]:
        nis = str(feature["properties"]["nis"])
        m = by_nis[nis]
        geom = project(feature["geometry"])
        shapely.prepare(geom)
        out.append(MunicipalityShape(nis, m.name, m.zone_id, m.population_2020 or 0, geom))
    return tuple(out)


def municipality_by_name(name: str) -> MunicipalityShape:
    for m in municipality_shapes():
        if m.name == name:
            return m
    raise KeyError(name)


def municipality_at(x: float, y: float) -> MunicipalityShape | None:
    """The municipality whose polygon contains the point (Lambert 72), if any."""
    point = shapely.Point(x, y)
    for m in municipality_shapes():
        if m.geom.contains(point):
            return m
    return None


@cache
def osm_roads() -> tuple[RoadLine, ...]:
    """OSM road lines of three sub-areas (© OpenStreetMap contributors, ODbL)."""
    out = []
    for feature in load_data_json("osm_roads_partial.geojson")["features"]:
        p = feature["properties"]
        out.append(
            RoadLine(p["highway"], p.get("ref"), p.get("name"), project(feature["geometry"]))
        )
    return tuple(out)


@cache
def enforcement_sites() -> tuple[tuple[float, float], ...]:
    """OSM speed-camera nodes (2018): realistic roadside enforcement sites, in Lambert 72."""
    out = []
    for feature in load_data_json("osm_enforcement_sites_2018.geojson")["features"]:
        lon, lat = feature["geometry"]["coordinates"][:2]
        out.append(to_lambert(lon, lat))
    return tuple(out)


@cache
def lez_area() -> Geom:
    """The approximate Antwerp LEZ (not the official perimeter), Lambert 72."""
    feature = load_data_json("lez_antwerpen_approx.geojson")["features"][0]
    geom = project(feature["geometry"])
    shapely.prepare(geom)
    return geom


def nearest_road(
    x: float, y: float, *, within_m: float, highways: frozenset[str] | None = None
) -> RoadLine | None:
    """The nearest labelled OSM road within ``within_m`` metres of the point."""
    point = shapely.Point(x, y)
    best: tuple[float, RoadLine] | None = None
    for road in osm_roads():
        if road.label is None or (highways is not None and road.highway not in highways):
            continue
        d = float(road.geom.distance(point))
        if d <= within_m and (best is None or d < best[0]):
            best = (d, road)
    return None if best is None else best[1]


def line_bearing_at(line: Geom, x: float, y: float) -> float:
    """Bearing of a line at (near) a point, in the line's drawing direction."""
    s = float(line.project(shapely.Point(x, y)))
    length = float(line.length)
    a = line.interpolate(max(0.0, s - 20.0))
    b = line.interpolate(min(length, s + 20.0))
    if a.equals(b):
        return 0.0
    return grid_bearing(float(b.x - a.x), float(b.y - a.y))


def points_of(geom: Geom) -> Iterable[Geom]:
    """The points of a (multi-part or collection) geometry, e.g. a line intersection."""
    if geom.is_empty:
        return
    if geom.geom_type == "Point":
        yield geom
    elif hasattr(geom, "geoms"):
        for g in geom.geoms:
            yield from points_of(g)
