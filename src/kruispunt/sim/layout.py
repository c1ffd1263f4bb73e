"""A simulated, realistic network of ~150 ANPR cameras in the province of Antwerp.

Cameras are placed, in order of preference, at OSM enforcement sites, on OSM road lines where
a road enters a municipality, and else on plausible points along the main roads out of a town
centre (``layout_data``). Every camera of a zone lies inside one of its municipalities
(point-in-polygon on the packaged boundaries). Deterministic for a seed.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import shapely

from kruispunt.domain.cameras import Camera, Mounting, Purpose, validate_camera
from kruispunt.domain.zones import network_zones, zone_index
from kruispunt.sim import layout_data as data
from kruispunt.sim.antwerp import antwerp_sites
from kruispunt.sim.geo import (
    Geom,
    MunicipalityShape,
    distance_m,
    enforcement_sites,
    grid_bearing,
    line_bearing_at,
    municipality_at,
    municipality_by_name,
    nearest_road,
    osm_roads,
    points_of,
    to_lambert,
    to_wgs84,
)
from kruispunt.sim.sites import Site

GATEWAY_HIGHWAYS = {"primary": 0, "secondary": 1, "tertiary": 2}
MIN_SPACING_M = (600.0, 300.0, 0.0)  # relaxed step by step when a municipality runs short
_ROAD_REF = re.compile(r"^[ANRE]\d+[a-z]?\b")


def road_of(label: str) -> str:
    """``N12`` for ``N12 Antwerpseweg``; the label itself when it has no road number."""
    match = _ROAD_REF.match(label)
    return match.group(0) if match else label


def build_province_cameras(seed: int = 7) -> list[Camera]:
    """The simulated camera network (~150 cameras), identical for the same seed."""
    rng = random.Random(seed)
    sites = _section_pair_sites()
    for zone_id, plans in data.SEED_PLANS.items():
        for plan in plans:
            sites.extend(_municipal_sites(plan, zone_id, sites, rng))
    sites.extend(_fedpol_sites())
    sites.extend(antwerp_sites(rng))
    _make_some_mobile(sites, rng)
    cameras = _to_cameras(sites, rng)
    zone_ids = set(zone_index())
    for camera in cameras:
        problems = validate_camera(camera, zone_ids=zone_ids)
        if problems:  # a bug in this module, not an input problem
            raise AssertionError(f"{camera.id}: {problems}")
    return cameras


# --- seed zones -----------------------------------------------------------------------------


def _municipal_sites(
    plan: data.MunicipalPlan, zone_id: str, placed: list[Site], rng: random.Random
) -> list[Site]:
    m = municipality_by_name(plan.name)
    if m.zone_id != zone_id:
        raise AssertionError(f"{plan.name} is not in {zone_id}")
    here = [s for s in placed if s.municipality == m.name]
    candidates = [
        *_enforcement_candidates(m, plan, zone_id, rng),
        *_osm_gateway_candidates(m, zone_id, rng),
        *_table_gateway_candidates(m, plan, zone_id, rng),
    ]
    chosen: list[Site] = []
    for spacing in MIN_SPACING_M:
        for cand in candidates:
            if len(here) + len(chosen) >= plan.cameras:
                return chosen
            if cand in chosen:
                continue
            if all(distance_m(cand.xy, s.xy) >= spacing for s in [*here, *chosen]):
                chosen.append(cand)
    if len(here) + len(chosen) < plan.cameras:
        raise AssertionError(f"not enough camera sites in {plan.name}")
    return chosen


def _enforcement_candidates(
    m: MunicipalityShape, plan: data.MunicipalPlan, zone_id: str, rng: random.Random
) -> list[Site]:
    out = []
    for x, y in enforcement_sites():
        if not m.geom.contains(shapely.Point(x, y)):
            continue
        road = nearest_road(x, y, within_m=60.0)
        if road is not None and road.label is not None:
            label, bearing = road.label, line_bearing_at(road.geom, x, y)
        else:
            cx, cy = to_lambert(*plan.centre)
            bearing = grid_bearing(x - cx, y - cy)
            label = _closest_gateway(plan, bearing).road
        out.append(Site(zone_id, x, y, label, m.name, bearing, "both", kind="enforcement"))
    rng.shuffle(out)
    return out


def _closest_gateway(plan: data.MunicipalPlan, bearing: float) -> data.Gateway:
    def gap(g: data.Gateway) -> float:
        d = abs(g.bearing - bearing) % 360.0
        return min(d, 360.0 - d)

    return min(plan.gateways, key=gap)


def _osm_gateway_candidates(m: MunicipalityShape, zone_id: str, rng: random.Random) -> list[Site]:
    """Points 200 m inside the municipality where an OSM road crosses into it."""
    ranked: list[tuple[int, Site]] = []
    boundary = m.geom.boundary
    for road in osm_roads():
        rank = GATEWAY_HIGHWAYS.get(road.highway)
        if rank is None or road.label is None or not road.geom.intersects(m.geom):
            continue
        for piece in _lines(road.geom.intersection(m.geom)):
            if piece.length < 500.0:
                continue
            for end_s, inward in ((0.0, 200.0), (piece.length, piece.length - 200.0)):
                end = piece.interpolate(end_s)
                if boundary.distance(end) > 5.0:
                    continue
                p = piece.interpolate(inward)
                bearing = grid_bearing(end.x - p.x, end.y - p.y)  # looks out at incoming cars
                site = Site(zone_id, p.x, p.y, road.label, m.name, bearing, "in", kind="gateway")
                ranked.append((rank, site))
    rng.shuffle(ranked)
    ranked.sort(key=lambda r: r[0])
    return [s for _, s in ranked]


def _lines(geom: Geom) -> Iterable[Geom]:
    if geom.geom_type == "LineString":
        yield geom
    elif hasattr(geom, "geoms"):
        for g in geom.geoms:
            yield from _lines(g)


def _table_gateway_candidates(
    m: MunicipalityShape, plan: data.MunicipalPlan, zone_id: str, rng: random.Random
) -> list[Site]:
    """Points along a main road out of a (village) centre, well inside the municipality."""
    out = []
    for gateway in plan.gateways:
        origin = _inside_origin(m, gateway.anchor or plan.centre)
        rad = math.radians(gateway.bearing)
        ray = shapely.LineString(
            [origin, (origin[0] + 20000 * math.sin(rad), origin[1] + 20000 * math.cos(rad))]
        )
        exits = ray.intersection(m.geom.boundary)
        reach = min((_origin_dist(origin, p) for p in points_of(exits)), default=1000.0)
        fraction = rng.uniform(0.6, 0.85)
        for _ in range(5):
            dist = min(reach * fraction, max(reach - 150.0, reach * 0.5))
            x = origin[0] + dist * math.sin(rad)
            y = origin[1] + dist * math.cos(rad)
            if m.geom.contains(shapely.Point(x, y)):
                out.append(
                    Site(zone_id, x, y, gateway.road, m.name, gateway.bearing, "in", kind="table")
                )
                break
            fraction *= 0.6
    return out


def _origin_dist(origin: tuple[float, float], p: Geom) -> float:
    return distance_m(origin, (float(p.x), float(p.y)))


def _inside_origin(m: MunicipalityShape, lonlat: tuple[float, float]) -> tuple[float, float]:
    x, y = to_lambert(*lonlat)
    if m.geom.contains(shapely.Point(x, y)):
        return x, y
    parts = list(getattr(m.geom, "geoms", [m.geom]))
    p = max(parts, key=lambda g: g.area).representative_point()
    return float(p.x), float(p.y)


# --- section control ------------------------------------------------------------------------


def _section_pair_sites() -> list[Site]:
    sites: list[Site] = []
    for ref, from_name, to_name in data.SECTION_PAIRS:
        pair = _section_pair(ref, municipality_by_name(from_name), municipality_by_name(to_name))
        if pair is None:
            raise AssertionError(f"no section-control pair on {ref} {from_name}-{to_name}")
        sites.extend(pair)
    return sites


def _section_pair(
    ref: str, a: MunicipalityShape, b: MunicipalityShape, *, target_m: float = 3200.0
) -> tuple[Site, Site] | None:
    lines = [r.geom for r in osm_roads() if r.ref == ref]
    merged = shapely.line_merge(shapely.MultiLineString(lines))
    best: tuple[float, Site, Site] | None = None
    for line in _lines(merged):
        samples = [line.interpolate(s) for s in range(0, int(line.length), 100)]
        in_a = [i for i, p in enumerate(samples) if _well_inside(a, p)]
        in_b = [j for j, p in enumerate(samples) if _well_inside(b, p)]
        for i in in_a:
            for j in in_b:
                length = (j - i) * 100.0
                if 2000.0 <= length <= 5000.0:
                    score = abs(length - target_m)
                    if best is None or score < best[0]:
                        best = (score, *_pair_sites(ref, line, samples[i], samples[j], a, b))
    return None if best is None else (best[1], best[2])


def _well_inside(m: MunicipalityShape, p: Geom) -> bool:
    return bool(m.geom.contains(p)) and float(m.geom.boundary.distance(p)) > 150.0


def _pair_sites(
    ref: str, line: Geom, pa: Geom, pb: Geom, a: MunicipalityShape, b: MunicipalityShape
) -> tuple[Site, Site]:
    towards = f"richting {b.name}" if a is not b else _compass(line_bearing_at(line, pb.x, pb.y))
    out = []
    for p, m in ((pa, a), (pb, b)):
        label = _named_ref(ref, p)
        bearing = line_bearing_at(line, p.x, p.y)
        zone = m.zone_id or ""
        site = Site(zone, p.x, p.y, label, m.name, bearing, towards, kind="section", lanes=2)
        out.append(replace(site, purposes=(Purpose.POLICE, Purpose.SECTION_CONTROL)))
    return out[0], out[1]


def _named_ref(ref: str, p: Geom) -> str:
    """``N12 Antwerpseweg``: the ref with the name of the nearest named piece of that road."""
    named = [r for r in osm_roads() if r.ref == ref and r.name]
    best = min(named, key=lambda r: r.geom.distance(p), default=None)
    if best is None or best.geom.distance(p) > 1500.0:
        return ref
    return f"{ref} {best.name}"


def _compass(bearing: float) -> str:
    words = ("noordwaarts", "oostwaarts", "zuidwaarts", "westwaarts")
    return words[int(((bearing + 45.0) % 360.0) // 90.0)]


# --- federal police on the motorways --------------------------------------------------------


def _fedpol_sites() -> list[Site]:
    sites = []
    for ref, anchors in data.MOTORWAY_ANCHORS.items():
        pts = [to_lambert(*a) for a in anchors]
        for i, (x, y) in enumerate(pts):
            nx, ny = pts[min(i + 1, len(pts) - 1)]
            px, py = pts[max(i - 1, 0)]
            bearing = grid_bearing(nx - px, ny - py)
            sites.append(_motorway_site(ref, x, y, bearing, "both"))
    e34 = max(_lines(shapely.line_merge(_e34_lines())), key=lambda g: g.length)
    if e34.coords[0][0] > e34.coords[-1][0]:
        e34 = e34.reverse()  # west to east: away from Antwerp
    for i, s in enumerate(data.E34_POSITIONS_M):
        p = e34.interpolate(s)
        site = _motorway_site("E34", p.x, p.y, line_bearing_at(e34, p.x, p.y), "richting Turnhout")
        if i in (1, 2):
            site = replace(site, purposes=(Purpose.POLICE, Purpose.SECTION_CONTROL), kind="section")
        sites.append(site)
    return sites


def _e34_lines() -> Geom:
    return shapely.MultiLineString([r.geom for r in osm_roads() if r.ref == "E34"])


def _motorway_site(ref: str, x: float, y: float, bearing: float, direction: str) -> Site:
    m = municipality_at(x, y)
    return Site(
        "fedpol",
        x,
        y,
        data.MOTORWAY_NAMES[ref],
        m.name if m else "",
        bearing,
        direction,
        kind="motorway",
        lanes=3,
        owner="Federale Politie",
        manager="Wegpolitie Antwerpen (WPR)",
    )


# --- finishing ------------------------------------------------------------------------------


def _make_some_mobile(sites: list[Site], rng: random.Random) -> None:
    seed_zones = {z.id for z in network_zones() if z.seed}
    eligible = [i for i, s in enumerate(sites) if s.zone_id in seed_zones and s.kind == "table"]
    for i in rng.sample(eligible, data.MOBILE_CAMERAS):
        sites[i] = replace(sites[i], mounting=Mounting.MOBILE, direction="both")


def _to_cameras(sites: list[Site], rng: random.Random) -> list[Camera]:
    zones = zone_index()
    counters: dict[str, int] = {}
    cameras = []
    for site in sites:
        lon, lat = (round(v, 6) for v in to_wgs84(site.x, site.y))
        m = municipality_at(*to_lambert(lon, lat))  # of the point as published
        counters[site.zone_id] = counters.get(site.zone_id, 0) + 1
        purposes = site.purposes
        if rng.random() < data.STATISTICS_SHARE and Purpose.STATISTICS not in purposes:
            purposes = (*purposes, Purpose.STATISTICS)
        zone_name = zones[site.zone_id].name
        owner = site.owner or zone_name
        if site.owner is None and m is not None and rng.random() < 0.2:
            owner = f"Gemeente {m.name}"
        prefix = "Mobiele ANPR, " if site.mounting is Mounting.MOBILE else ""
        place = m.name if m else site.municipality
        cameras.append(
            Camera(
                id=f"{site.zone_id}-c{counters[site.zone_id]:03d}",
                name=f"{prefix}{site.label}, {place}",
                owner=owner,
                manager=site.manager or zone_name,
                zone_id=site.zone_id,
                municipality_nis=m.nis if m else None,
                lon=lon,
                lat=lat,
                bearing_deg=site.bearing,
                road=road_of(site.label),
                direction=site.direction,
                lanes=site.lanes,
                purposes=purposes,
                vendor=rng.choice(data.VENDORS_BY_ZONE[site.zone_id]),
                mounting=site.mounting,
            )
        )
    return cameras


@dataclass(frozen=True, slots=True)
class LayoutSummary:
    """Counts used by the CLI/demo to describe a layout."""

    per_zone: dict[str, int]
    total: int


def summarise(cameras: Iterable[Camera]) -> LayoutSummary:
    per_zone: dict[str, int] = {}
    for c in cameras:
        per_zone[c.zone_id] = per_zone.get(c.zone_id, 0) + 1
    return LayoutSummary(per_zone, sum(per_zone.values()))
