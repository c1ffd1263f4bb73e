"""The city of Antwerp's camera rings: LEZ perimeter, diamond quarter, Linkeroever, R1."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import replace

import shapely

from kruispunt.domain.cameras import Purpose
from kruispunt.sim import layout_data as data
from kruispunt.sim.geo import (
    Geom,
    distance_m,
    grid_bearing,
    lez_area,
    line_bearing_at,
    municipality_by_name,
    osm_roads,
    points_of,
    to_lambert,
)
from kruispunt.sim.sites import Site

ZONE = "pz5345"
CITY = "Antwerpen"
CROSSING_HIGHWAYS = {"motorway": 0, "trunk": 0, "primary": 1, "secondary": 2, "tertiary": 3}
SPACING_M = 350.0
MIN_DEPTH_M = 3.0  # nudged points stay clear of the boundary (projection, rounding)


def antwerp_sites(rng: random.Random) -> list[Site]:
    sites: list[Site] = []
    sites.extend(_linkeroever_sites(rng))
    sites.extend(_lez_sites(sites, rng))
    sites.extend(_diamond_sites())
    sites.extend(_r1_sites())
    return sites


def _city() -> Geom:
    return municipality_by_name(CITY).geom


def _crossings(boundary: Geom, keep: Callable[[float, float], bool]) -> list[tuple[int, Site]]:
    """Where OSM roads cross a boundary: (class rank, site on the boundary)."""
    out = []
    for road in osm_roads():
        rank = CROSSING_HIGHWAYS.get(road.highway)
        if rank is None or not road.geom.intersects(boundary):
            continue
        for p in points_of(road.geom.intersection(boundary)):
            if keep(p.x, p.y):
                label = road.label or "Autosnelweg Linkeroever"
                bearing = line_bearing_at(road.geom, p.x, p.y)
                out.append((rank, Site(ZONE, p.x, p.y, label, CITY, bearing, "in", kind="x")))
    return out


def _nudge_inside(x: float, y: float, areas: list[Geom]) -> tuple[float, float] | None:
    """The point itself, or the most interior point up to 40 m away inside every area."""
    for r in (0.0, 8.0, 16.0, 24.0, 32.0, 40.0):
        inside = []
        for k in range(16 if r else 1):
            a = 2 * math.pi * k / 16
            p = shapely.Point(x + r * math.sin(a), y + r * math.cos(a))
            if all(area.contains(p) for area in areas):
                depth = min(float(area.boundary.distance(p)) for area in areas)
                if depth >= MIN_DEPTH_M:
                    inside.append((depth, float(p.x), float(p.y)))
        if inside:
            _, px, py = max(inside)
            return px, py
    return None


def _spaced(cands: Iterable[Site], placed: list[Site], limit: int) -> list[Site]:
    chosen: list[Site] = []
    for c in cands:
        if len(chosen) >= limit:
            break
        if all(distance_m(c.xy, s.xy) >= SPACING_M for s in [*placed, *chosen]):
            chosen.append(c)
    return chosen


def _linkeroever_sites(rng: random.Random) -> list[Site]:
    """The city's border with Zwijndrecht on the left bank, plus the Kennedy tunnel mouth."""
    west, south, east, north = data.LINKEROEVER_WINDOW
    x0, y0 = to_lambert(west, south)
    x1, y1 = to_lambert(east, north)

    def in_window(x: float, y: float) -> bool:
        return x0 <= x <= x1 and y0 <= y <= y1

    ranked = _crossings(_city().boundary, in_window)
    kennedy = [
        (-1, s)
        for rank, s in _crossings(lez_area().boundary, in_window)
        if s.label == "Kennedytunnel"
    ]
    rng.shuffle(ranked)
    ranked.sort(key=lambda r: r[0])
    cands = [s for _, s in sorted(kennedy, key=lambda r: r[1].x)[-1:] + ranked]
    out = []
    for s in _spaced(cands, [], data.LINKEROEVER_TARGET):
        xy = _nudge_inside(s.x, s.y, [_city()])
        if xy is None:
            continue
        label = s.label if s.label == "Kennedytunnel" else f"{s.label} (grens Zwijndrecht)"
        out.append(replace(s, x=xy[0], y=xy[1], label=label, kind="linkeroever", lanes=2))
    return out


def _lez_sites(placed: list[Site], rng: random.Random) -> list[Site]:
    lez = lez_area()
    boundary = lez.boundary
    east = []
    for label, lonlat in data.LEZ_EAST_ENTRIES:
        p = boundary.interpolate(boundary.project(shapely.Point(*to_lambert(*lonlat))))
        east.append(Site(ZONE, p.x, p.y, label, CITY, None, "in", kind="x"))
    osm = _crossings(boundary, lambda x, y: True)
    osm = [r for r in osm if r[1].label != "Autosnelweg Linkeroever"]
    rng.shuffle(osm)
    osm.sort(key=lambda r: r[0])
    cands = _spaced([*east, *(s for _, s in osm)], placed, data.LEZ_TARGET + 4)
    out: list[Site] = []
    for s in cands:
        if len(out) >= data.LEZ_TARGET:
            break
        xy = _nudge_inside(s.x, s.y, [lez, _city()])
        if xy is None:
            continue
        if xy == s.xy:
            c = lez.centroid
            bearing = grid_bearing(s.x - c.x, s.y - c.y)
        else:
            bearing = grid_bearing(s.x - xy[0], s.y - xy[1])  # looks out at entering cars
        out.append(
            replace(
                s,
                x=xy[0],
                y=xy[1],
                label=f"LEZ {s.label}",
                kind="lez",
                bearing=bearing,
                purposes=(Purpose.LEZ, Purpose.POLICE),
                owner="Stad Antwerpen",
                manager="Stad Antwerpen (LEZ-handhaving)",
            )
        )
    return out


def _diamond_sites() -> list[Site]:
    cx, cy = to_lambert(*data.DIAMOND_CENTRE)
    out = []
    for street, bearing in data.DIAMOND_STREETS:
        rad = math.radians(bearing)
        x = cx + data.DIAMOND_RADIUS_M * math.sin(rad)
        y = cy + data.DIAMOND_RADIUS_M * math.cos(rad)
        label = f"{street} (diamantwijk)"
        out.append(Site(ZONE, x, y, label, CITY, float(bearing), "in", kind="diamond"))
    return out


def _r1_sites() -> list[Site]:
    motorways = [r.geom for r in osm_roads() if r.highway == "motorway"]
    anchors = [to_lambert(*lonlat) for _, lonlat in data.R1_ANCHORS]
    out = []
    for i, (label, _) in enumerate(data.R1_ANCHORS):
        x, y = anchors[i]
        nx, ny = anchors[min(i + 1, len(anchors) - 1)]
        px, py = anchors[max(i - 1, 0)]
        bearing = grid_bearing(nx - px, ny - py)  # along the ring, clockwise
        point = shapely.Point(x, y)
        line = min(motorways, key=lambda g: g.distance(point))
        if line.distance(point) <= 150.0:
            p = line.interpolate(line.project(point))
            x, y = float(p.x), float(p.y)
        out.append(Site(ZONE, x, y, label, CITY, bearing, "both", kind="r1", lanes=3))
    return out
