"""The overview map as inline SVG, drawn on the server from the packaged boundaries.

No tile server and no map library: the page must work on a closed police network. Lon/lat go
through an equirectangular projection scaled by cos(latitude) (good enough at a province's
scale), boundaries are simplified in screen units and rounded to 0.1 so the SVG stays small.
The base layer (municipalities, zones, LEZ) never changes while a node runs, so callers build it
once; only the camera dots are drawn per request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import escape
from shapely.geometry import shape

Ring = Sequence[tuple[float, float]]

# Simplification tolerance in viewBox units (1/1000 of the map's width): invisible on screen.
SIMPLIFY = 0.6


@dataclass(frozen=True, slots=True)
class Projection:
    """lon/lat → viewBox x/y (y grows southwards)."""

    west: float
    north: float
    scale: float  # viewBox units per degree of latitude
    cos_lat: float
    width: float
    height: float

    @classmethod
    def fit(
        cls, bounds: tuple[float, float, float, float], *, width: float = 1000, margin: float = 10
    ) -> Projection:
        west, south, east, north = bounds
        cos_lat = math.cos(math.radians((south + north) / 2))
        scale = (width - 2 * margin) / ((east - west) * cos_lat)
        height = (north - south) * scale + 2 * margin
        pad = margin / scale
        return cls(west - pad / cos_lat, north + pad, scale, cos_lat, width, round(height))

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.west) * self.cos_lat * self.scale, (self.north - lat) * self.scale

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width:g} {self.height:g}"


@dataclass(frozen=True, slots=True)
class Area:
    """A polygon layer's member: a municipality, a zone, the LEZ."""

    key: str
    label: str
    geometry: Mapping[str, Any]  # GeoJSON Polygon or MultiPolygon, lon/lat
    colour: str | None = None  # fill and stroke; None: the layer's CSS decides


@dataclass(frozen=True, slots=True)
class CameraDot:
    camera_id: str
    zone_id: str
    lon: float
    lat: float
    colour: str
    tooltip: str
    active: bool


def bounds_of(geometries: Iterable[Mapping[str, Any]]) -> tuple[float, float, float, float]:
    boxes = [shape(g).bounds for g in geometries]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _num(v: float) -> str:
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _rings(geometry: Mapping[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    raise ValueError(f"not a polygon: {geometry['type']}")


def path_data(geometry: Mapping[str, Any], projection: Projection) -> str:
    """SVG path data of a (Multi)Polygon, projected, simplified and rounded."""
    parts: list[str] = []
    for ring in _rings(geometry):
        projected = [projection(lon, lat) for lon, lat, *_ in ring]
        simple = shape({"type": "LineString", "coordinates": projected}).simplify(SIMPLIFY)
        points: list[str] = []
        for x, y in simple.coords:
            point = f"{_num(x)} {_num(y)}"
            if not points or points[-1] != point:
                points.append(point)
        if len(points) >= 3:
            parts.append("M" + "L".join(points) + "Z")
    return "".join(parts)


def _attr(value: str) -> str:
    return str(escape(value))


def _layer(css_class: str, areas: Iterable[Area], projection: Projection) -> str:
    out = [f'<g class="{css_class}">']
    for area in areas:
        d = path_data(area.geometry, projection)
        if not d:
            continue
        paint = f' fill="{_attr(area.colour)}" stroke="{_attr(area.colour)}"' if area.colour else ""
        out.append(
            f'<path data-key="{_attr(area.key)}"{paint} d="{d}"><title>{escape(area.label)}</title>'
            "</path>"
        )
    out.append("</g>")
    return "".join(out)


def base_layer(
    *,
    projection: Projection,
    municipalities: Sequence[Area],
    zones: Sequence[Area],
    lez: Sequence[Area],
) -> str:
    """The static part of the map: drawn once per node, reused for every page."""
    return (
        _layer("map-municipalities", municipalities, projection)
        + _layer("map-zones", zones, projection)
        + _layer("map-lez", lez, projection)
    )


def camera_layer(cameras: Iterable[CameraDot], projection: Projection, *, radius: float = 4) -> str:
    out = ['<g class="map-cameras">']
    for cam in cameras:
        x, y = projection(cam.lon, cam.lat)
        state = "cam-active" if cam.active else "cam-silent"
        out.append(
            f'<circle class="cam {state}" data-camera="{_attr(cam.camera_id)}" '
            f'data-zone="{_attr(cam.zone_id)}" cx="{_num(x)}" cy="{_num(y)}" r="{radius:g}" '
            f'fill="{_attr(cam.colour)}"><title>{escape(cam.tooltip)}</title></circle>'
        )
    out.append("</g>")
    return "".join(out)


def render_map(
    *, projection: Projection, base: str, cameras: Iterable[CameraDot], title: str
) -> str:
    """The whole ``<svg>`` element, ready to inline in a page."""
    return (
        f'<svg class="map" viewBox="{projection.view_box}" '
        f'role="img" aria-label="{_attr(title)}"><title>{escape(title)}</title>'
        f"{base}{camera_layer(cameras, projection)}</svg>"
    )
