"""What the overview and camera pages show, built from the node's zones, cameras and activity.

Pure functions over plain values (no request, no store) so the pages' content is testable
without a server. ``activity`` maps a camera id to its reads in the last hour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from kruispunt.domain.cameras import Camera
from kruispunt.domain.zones import Zone, load_data_json, municipalities
from kruispunt.web.svgmap import Area, CameraDot, Projection, base_layer, bounds_of, render_map

# Distinguishable on a projector and for the common colour-vision deficiencies (Okabe–Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#8c564b", "#444444")
UNKNOWN_ZONE_COLOUR = "#999999"


@dataclass(frozen=True, slots=True)
class ZoneSummary:
    id: str
    name: str
    colour: str
    cameras: int
    reads_last_hour: int
    on_map: bool  # has a boundary in the packaged data (the federal police has none)


@dataclass(frozen=True, slots=True)
class CameraRow:
    id: str
    name: str
    zone_id: str
    zone_name: str
    colour: str
    municipality: str
    road: str
    purposes: str
    vendor: str
    mounting: str
    has_token: bool
    reads_last_hour: int
    enabled: bool


def zone_colours(zones: Sequence[Zone]) -> dict[str, str]:
    return {z.id: PALETTE[i % len(PALETTE)] for i, z in enumerate(zones)}


@cache
def municipality_names() -> dict[str, str]:
    return {m.nis: m.name for m in municipalities()}


def camera_tooltip(camera: Camera, zone_name: str) -> str:
    road = camera.road or "?"
    if camera.direction:
        road = f"{road} ({camera.direction})"
    return "\n".join(
        (
            f"{camera.id} · {camera.name}",
            f"Zone: {zone_name}",
            f"Owner: {camera.owner}",
            f"Manager: {camera.manager}",
            f"Road: {road}",
            f"Purposes: {', '.join(camera.purposes)}",
            f"Vendor: {camera.vendor or '?'}",
        )
    )


def zone_summaries(
    zones: Sequence[Zone], cameras: Iterable[Camera], activity: Mapping[str, int]
) -> list[ZoneSummary]:
    counts: dict[str, list[int]] = {z.id: [0, 0] for z in zones}
    for camera in cameras:
        slot = counts.setdefault(camera.zone_id, [0, 0])
        slot[0] += 1
        slot[1] += activity.get(camera.id, 0)
    colours = zone_colours(zones)
    return [
        ZoneSummary(
            id=z.id,
            name=z.name,
            colour=colours[z.id],
            cameras=counts[z.id][0],
            reads_last_hour=counts[z.id][1],
            on_map=z.pic_zone_id is not None,
        )
        for z in zones
    ]


def camera_rows(
    zones: Sequence[Zone],
    cameras: Iterable[Camera],
    activity: Mapping[str, int],
    has_token: Callable[[str], bool],
) -> list[CameraRow]:
    names = {z.id: z.name for z in zones}
    colours = zone_colours(zones)
    places = municipality_names()
    return [
        CameraRow(
            id=c.id,
            name=c.name,
            zone_id=c.zone_id,
            zone_name=names.get(c.zone_id, c.zone_id),
            colour=colours.get(c.zone_id, UNKNOWN_ZONE_COLOUR),
            municipality=places.get(c.municipality_nis or "", ""),
            road=c.road or "",
            purposes=", ".join(c.purposes),
            vendor=c.vendor or "",
            mounting=str(c.mounting),
            has_token=has_token(c.id),
            reads_last_hour=activity.get(c.id, 0),
            enabled=c.active,
        )
        for c in sorted(cameras, key=lambda c: c.id)
    ]


def silent_cameras(cameras: Iterable[Camera], activity: Mapping[str, int]) -> list[Camera]:
    return sorted((c for c in cameras if activity.get(c.id, 0) == 0), key=lambda c: c.id)


@cache
def map_base(zones: tuple[Zone, ...]) -> tuple[Projection, str]:
    """Projection and static layers; built once per set of zones (the boundaries are packaged)."""
    places = load_data_json("municipalities.geojson")["features"]
    zone_shapes = {
        f["properties"]["pic_zone_id"]: f["geometry"]
        for f in load_data_json("police_zones.geojson")["features"]
    }
    lez = load_data_json("lez_antwerpen_approx.geojson")["features"]
    projection = Projection.fit(bounds_of(f["geometry"] for f in places))
    colours = zone_colours(zones)
    base = base_layer(
        projection=projection,
        municipalities=[
            Area(
                key=str(f["properties"]["nis"]),
                label=f["properties"]["name_nl"],
                geometry=f["geometry"],
            )
            for f in places
        ],
        zones=[
            Area(key=z.id, label=z.name, geometry=zone_shapes[z.pic_zone_id], colour=colours[z.id])
            for z in zones
            if z.pic_zone_id in zone_shapes
        ],
        lez=[
            Area(key="lez", label="Low-emission zone (approximate)", geometry=f["geometry"])
            for f in lez
        ],
    )
    return projection, base


def overview_map(
    zones: Sequence[Zone], cameras: Iterable[Camera], activity: Mapping[str, int]
) -> str:
    projection, base = map_base(tuple(zones))
    names = {z.id: z.name for z in zones}
    colours = zone_colours(zones)
    dots = [
        CameraDot(
            camera_id=c.id,
            zone_id=c.zone_id,
            lon=c.lon,
            lat=c.lat,
            colour=colours.get(c.zone_id, UNKNOWN_ZONE_COLOUR),
            tooltip=camera_tooltip(c, names.get(c.zone_id, c.zone_id)),
            active=activity.get(c.id, 0) > 0,
        )
        for c in cameras
    ]
    return render_map(
        projection=projection, base=base, cameras=dots, title="ANPR cameras of the network"
    )
