"""A drawn area (GeoJSON, WGS84 lon/lat) as the cameras inside it (pure).

Who passed here? is asked of cameras, not of polygons: the area is turned into the cameras it
covers, and the store reads those cameras' reads. An area is refused (``SearchInvalid``) when
it is not a polygon, is broken (self-intersecting, out of range, too many vertices) or is of an
absurd size for a scene (``max_km2``; the whole province is ~2,900 km²).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import shapely
from pyproj import Geod
from shapely.geometry import shape

from kruispunt.domain.cameras import Camera
from kruispunt.search.errors import SearchInvalid

MAX_VERTICES = 2000
DEFAULT_MAX_KM2 = 50.0
_GEOD = Geod(ellps="WGS84")
_POLYGONS = ("Polygon", "MultiPolygon")


@dataclass(frozen=True, slots=True)
class Area:
    geometry: Any  # a shapely (Multi)Polygon in lon/lat
    km2: float

    def contains(self, lon: float, lat: float) -> bool:
        return bool(self.geometry.covers(shapely.Point(lon, lat)))


def _geometry_of(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise SearchInvalid("area: a GeoJSON Polygon or MultiPolygon", "invalid_area")
    if doc.get("type") == "Feature":
        doc = doc.get("geometry")
        if not isinstance(doc, dict):
            raise SearchInvalid("area: the Feature has no geometry", "invalid_area")
    if doc.get("type") not in _POLYGONS:
        raise SearchInvalid(
            f"area: a GeoJSON Polygon or MultiPolygon, not {str(doc.get('type'))[:40]!r}",
            "invalid_area",
        )
    return doc


def parse_area(doc: Any, *, max_km2: float = DEFAULT_MAX_KM2) -> Area:
    """The area of a GeoJSON geometry (or Feature), or ``SearchInvalid``."""
    geometry_doc = _geometry_of(doc)
    try:
        geom = shape(geometry_doc)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise SearchInvalid(f"area: not a valid GeoJSON polygon ({exc})", "invalid_area") from None
    if geom.is_empty:
        raise SearchInvalid("area: empty", "invalid_area")
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        raise SearchInvalid(f"area: at most {MAX_VERTICES} vertices", "invalid_area")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise SearchInvalid(
            "area: coordinates are [longitude, latitude] in degrees", "invalid_area"
        )
    if not geom.is_valid:
        raise SearchInvalid(
            f"area: not a valid polygon ({shapely.is_valid_reason(geom)})", "invalid_area"
        )
    area_m2, _perimeter = _GEOD.geometry_area_perimeter(geom)
    km2 = abs(float(area_m2)) / 1e6
    if km2 <= 0:
        raise SearchInvalid("area: it encloses nothing", "invalid_area")
    if km2 > max_km2:
        raise SearchInvalid(
            f"area: {km2:,.1f} km² is larger than the {max_km2:g} km² a scene may cover; "
            "draw the area around the scene, or name the cameras",
            "area_too_large",
            {"km2": round(km2, 1), "max_km2": max_km2},
        )
    return Area(geom, km2)


def cameras_in(area: Area, cameras: Iterable[Camera]) -> list[str]:
    """Ids of the cameras inside (or on the edge of) ``area``, sorted."""
    return sorted(c.id for c in cameras if area.contains(c.lon, c.lat))
