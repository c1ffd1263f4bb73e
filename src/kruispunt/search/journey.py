"""A vehicle's journey: its reads in time order as trips of legs between cameras (pure).

The network has no road graph yet (the simulator routes along straight corridors), so a leg's
distance is the great-circle distance between the two cameras: a lower bound of the road
distance, hence the average speed is a lower bound too. A leg faster than ``max_kmh`` even so
is flagged: the same plate in two places too far apart for the time between them is a cloned
plate or a misread, worth a look at both images.

Repeated reads at one camera a few seconds apart (two lanes, two cameras of one site) are one
passage. A gap longer than ``trip_gap_us`` between two passages starts a new trip.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import msgspec

EARTH_RADIUS_M = 6_371_008.8
DEFAULT_TRIP_GAP_US = 30 * 60 * 1_000_000
DEFAULT_SAME_SITE_US = 10 * 1_000_000
DEFAULT_MAX_KMH = 250.0


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    camera_id: str
    captured_us: int


class Leg(msgspec.Struct, frozen=True, kw_only=True):
    from_camera: str
    to_camera: str
    depart_us: int
    arrive_us: int
    seconds: float
    distance_m: float | None
    """Straight line between the cameras (None: a camera without a known position)."""
    avg_kmh: float | None
    """Average speed over the straight line (a lower bound); None when it cannot be told."""
    implausible: bool
    """Faster than any car on the straight line: a cloned plate or a misread."""


class Trip(msgspec.Struct, frozen=True, kw_only=True):
    start_us: int
    end_us: int
    cameras: list[str]
    """Cameras passed, in order (a camera passed twice appears twice)."""
    legs: list[Leg]
    distance_m: float
    """Sum of the legs' straight-line distances."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def collapse(passages: Sequence[Passage], *, same_site_us: int) -> list[Passage]:
    """Passages in time order, reads at one camera within ``same_site_us`` of the previous
    one kept as the first of them."""
    out: list[Passage] = []
    for p in sorted(passages, key=lambda p: (p.captured_us, p.seq)):
        last = out[-1] if out else None
        if (
            last is not None
            and last.camera_id == p.camera_id
            and p.captured_us - last.captured_us <= same_site_us
        ):
            continue
        out.append(p)
    return out


def leg(
    a: Passage,
    b: Passage,
    positions: Mapping[str, tuple[float, float]],
    *,
    max_kmh: float = DEFAULT_MAX_KMH,
) -> Leg:
    """The leg from passage ``a`` to ``b``; ``positions``: camera id -> (lat, lon)."""
    seconds = (b.captured_us - a.captured_us) / 1e6
    pa, pb = positions.get(a.camera_id), positions.get(b.camera_id)
    distance = None if pa is None or pb is None else haversine_m(pa[0], pa[1], pb[0], pb[1])
    kmh = None
    implausible = False
    if distance is not None:
        if seconds > 0:
            kmh = distance / seconds * 3.6
            implausible = kmh > max_kmh
        else:
            implausible = distance > 100.0  # two places at once
    return Leg(
        from_camera=a.camera_id,
        to_camera=b.camera_id,
        depart_us=a.captured_us,
        arrive_us=b.captured_us,
        seconds=seconds,
        distance_m=None if distance is None else round(distance, 1),
        avg_kmh=None if kmh is None else round(kmh, 1),
        implausible=implausible,
    )


def journey(
    passages: Sequence[Passage],
    positions: Mapping[str, tuple[float, float]],
    *,
    trip_gap_us: int = DEFAULT_TRIP_GAP_US,
    same_site_us: int = DEFAULT_SAME_SITE_US,
    max_kmh: float = DEFAULT_MAX_KMH,
) -> list[Trip]:
    """The trips of a vehicle (see the module docstring), oldest first."""
    trips: list[list[Passage]] = []
    for p in collapse(passages, same_site_us=same_site_us):
        if trips and p.captured_us - trips[-1][-1].captured_us <= trip_gap_us:
            trips[-1].append(p)
        else:
            trips.append([p])
    out = []
    for chain in trips:
        legs = [leg(a, b, positions, max_kmh=max_kmh) for a, b in itertools.pairwise(chain)]
        out.append(
            Trip(
                start_us=chain[0].captured_us,
                end_us=chain[-1].captured_us,
                cameras=[p.camera_id for p in chain],
                legs=legs,
                distance_m=round(sum(g.distance_m or 0.0 for g in legs), 1),
            )
        )
    return out
