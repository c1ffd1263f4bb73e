"""Routes as chains of cameras, and travel times between them (Lambert 72 metres).

A route from camera ``o`` to camera ``d`` passes the cameras that lie in a corridor along the
straight line between them, in the order they project onto it. Travel time comes from the
distance and a speed by road class; numbers here are plausible averages, not legal limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from kruispunt.domain.cameras import Camera
from kruispunt.sim.geo import distance_m, grid_bearing, to_lambert

LOCAL_RADIUS_M = 10_000.0  # a local trip stays within this distance of its origin
REACH_RADIUS_M = 45_000.0  # longest trip considered
CORRIDOR_BASE_M = 700.0
CORRIDOR_PER_M = 0.04  # the corridor widens with the length of the trip
MAX_INTERMEDIATE = 12
# A camera is on the way when passing it adds little to the distance still to go.
MAX_DETOUR = 0.2  # of the hop to it
MIN_DETOUR_M = 300.0
DETOUR = 1.25  # road distance / straight distance between cameras on different roads
NETWORK_KMH = 85.0  # average over long hops through the road network


def limit_kmh(camera: Camera) -> float:
    """A plausible limit by road class: motorways, the ring, numbered roads, local streets."""
    road = camera.road or ""
    if road[:1] in ("E", "A") and road[1:2].isdigit():
        return 120.0
    if road == "R1":
        return 90.0
    if road[:1] in ("N", "R") and road[1:2].isdigit():
        return 70.0
    return 50.0


def _numbered(road: str | None) -> bool:
    return road is not None and len(road) > 1 and road[0] in "ANRE" and road[1].isdigit()


def section_road_lengths() -> dict[tuple[str, str], float]:
    """Road lengths (metres, measured along the road) between the section-control camera
    pairs of the simulated province, from the sections data the node enforces: a driver at
    the limit must come out at the limit, not faster because the road bends."""
    from kruispunt.enforcement.section_control import load_plan

    return {(s.entry_camera, s.exit_camera): float(s.length_m) for s in load_plan().sections}


class RouteNetwork:
    def __init__(
        self, cameras: Sequence[Camera], road_m: Mapping[tuple[str, str], float] | None = None
    ) -> None:
        self.cameras = tuple(cameras)
        self.road_m = dict(road_m or {})
        """Known road lengths between two cameras (by id), used instead of a guess."""
        self.xy = [to_lambert(c.lon, c.lat) for c in self.cameras]
        self._curve = self._road_curves()
        n = len(self.cameras)
        self.near: list[tuple[int, ...]] = []
        self.reach: list[tuple[int, ...]] = []
        for i in range(n):
            dist = [(distance_m(self.xy[i], self.xy[j]), j) for j in range(n) if j != i]
            self.near.append(tuple(j for d, j in dist if d <= LOCAL_RADIUS_M))
            self.reach.append(tuple(j for d, j in dist if d <= REACH_RADIUS_M))
        self._routes: dict[tuple[int, int], tuple[int, ...]] = {}

    def route(self, o: int, d: int) -> tuple[int, ...]:
        """Camera indices from ``o`` to ``d`` (both included), in travel order."""
        key = (o, d)
        cached = self._routes.get(key)
        if cached is None:
            cached = self._routes[key] = self._corridor(o, d)
        return cached

    def _corridor(self, o: int, d: int) -> tuple[int, ...]:
        if o == d:
            return (o,)
        (ox, oy), (dx, dy) = self.xy[o], self.xy[d]
        length = math.hypot(dx - ox, dy - oy)
        ux, uy = (dx - ox) / length, (dy - oy) / length
        width = CORRIDOR_BASE_M + CORRIDOR_PER_M * length
        inside = []
        for c, (x, y) in enumerate(self.xy):
            if c in (o, d):
                continue
            along = (x - ox) * ux + (y - oy) * uy
            across = abs((x - ox) * uy - (y - oy) * ux)
            if 0.0 < along < length and across <= width:
                inside.append((across, along, c))
        inside.sort()
        route = [o]
        for _, _, c in sorted(inside[:MAX_INTERMEDIATE], key=lambda t: t[1]):
            # only cameras on the way: no zigzag across the corridor
            hop = distance_m(self.xy[route[-1]], self.xy[c])
            extra = (
                hop + distance_m(self.xy[c], (dx, dy)) - distance_m(self.xy[route[-1]], (dx, dy))
            )
            if extra <= max(MIN_DETOUR_M, MAX_DETOUR * hop):
                route.append(c)
        return (*route, d)

    def _road_curves(self) -> dict[str, float]:
        """Road length / straight distance of each numbered road with a known length between
        two of its cameras: hops between other cameras on that road bend as much (a section's
        entry and exit may have other cameras between them)."""
        index = {c.id: i for i, c in enumerate(self.cameras)}
        ratios: dict[str, list[float]] = {}
        for (a, b), metres in self.road_m.items():
            if a not in index or b not in index:
                continue
            ca, cb = self.cameras[index[a]], self.cameras[index[b]]
            straight = distance_m(self.xy[index[a]], self.xy[index[b]])
            if ca.road == cb.road and ca.road and straight > 0:
                ratios.setdefault(ca.road, []).append(max(1.0, metres / straight))
        return {road: sum(r) / len(r) for road, r in ratios.items()}

    def hop_seconds(self, a: int, b: int, speed_factor: float) -> float:
        """Travel time from camera ``a`` to camera ``b`` for a driver's speed factor."""
        ca, cb = self.cameras[a], self.cameras[b]
        dist = distance_m(self.xy[a], self.xy[b])
        known = self.road_m.get((ca.id, cb.id)) or self.road_m.get((cb.id, ca.id))
        if known is not None:
            return known / (limit_kmh(ca) * 0.95 * speed_factor / 3.6)
        if ca.road == cb.road and _numbered(ca.road):
            dist *= self._curve.get(ca.road or "", 1.0)
            kmh = limit_kmh(ca) * 0.95  # the same numbered road: close to its limit
        elif dist > 5_000.0:
            dist *= DETOUR
            kmh = NETWORK_KMH
        else:
            dist *= DETOUR
            kmh = min(limit_kmh(ca), limit_kmh(cb)) * 0.75
        return dist / (kmh * speed_factor / 3.6)

    def heading(self, route: Sequence[int], k: int) -> float | None:
        """Travel bearing at the ``k``-th camera of a route."""
        if len(route) < 2:
            return None
        a, b = (route[k - 1], route[k]) if k > 0 else (route[0], route[1])
        (ax, ay), (bx, by) = self.xy[a], self.xy[b]
        if (ax, ay) == (bx, by):
            return None
        return grid_bearing(bx - ax, by - ay)
