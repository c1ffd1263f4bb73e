"""The operator console (``/console``) and the camera neighbourhood it shows for a pursuit.

The page is server-rendered like the overview (same templates, same inline SVG map, same
CSP); the token, the live stream and the hit actions live in ``static/console.js``.
``GET /api/v1/cameras/{id}/next`` answers "which cameras can the vehicle reach next": the
nearest working cameras, measured in Belgian Lambert 72 (EPSG:31370) metres, never degrees.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

import msgspec
from fastapi import APIRouter, Request
from markupsafe import Markup
from pyproj import Transformer
from starlette.responses import HTMLResponse, Response

from kruispunt import __version__
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response
from kruispunt.api.guard import public
from kruispunt.api.web import CSP, templates
from kruispunt.domain.cameras import Camera
from kruispunt.hits.models import Outcome
from kruispunt.ingest.wire import ErrorOut
from kruispunt.web import overview

router = APIRouter()

MAX_NEXT = 20
SAME_SITE_M = 50.0  # cameras closer than this watch the same place (e.g. both directions)
_TO_L72 = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True)


class NextCamera(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    name: str
    zone_id: str
    road: str | None
    direction: str | None
    lon: float
    lat: float
    distance_m: float  # straight line
    bearing_deg: float  # from the origin camera, clockwise from grid north


class NextCameras(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    cameras: list[NextCamera]  # nearest first


@lru_cache(maxsize=4096)
def lambert(lon: float, lat: float) -> tuple[float, float]:
    x, y = _TO_L72.transform(lon, lat)
    return float(x), float(y)


def nearest_cameras(origin: Camera, cameras: Iterable[Camera], limit: int) -> list[NextCamera]:
    """The ``limit`` active cameras nearest to ``origin``, nearest first; ``origin`` and the
    cameras on its own site are not "next"."""
    ox, oy = lambert(origin.lon, origin.lat)
    found: list[NextCamera] = []
    for cam in cameras:
        if cam.id == origin.id or not cam.active:
            continue
        x, y = lambert(cam.lon, cam.lat)
        dx, dy = x - ox, y - oy
        if math.hypot(dx, dy) < SAME_SITE_M:
            continue
        found.append(
            NextCamera(
                camera_id=cam.id,
                name=cam.name,
                zone_id=cam.zone_id,
                road=cam.road,
                direction=cam.direction,
                lon=cam.lon,
                lat=cam.lat,
                distance_m=round(math.hypot(dx, dy), 1),
                bearing_deg=round(math.degrees(math.atan2(dx, dy)) % 360.0, 1),
            )
        )
    found.sort(key=lambda c: (c.distance_m, c.camera_id))
    return found[:limit]


@router.get(
    "/api/v1/cameras/{camera_id}/next",
    tags=["cameras"],
    summary="The cameras nearest to a camera: where a vehicle seen there can be met next",
    responses=schema.responses(
        {
            200: (NextCameras, "Nearest first"),
            400: (ErrorOut, "Bad limit"),
            404: (ErrorOut, "Unknown camera"),
        }
    ),
)
@public("road network neighbours of a published camera: no read, no plate")
async def next_cameras(camera_id: str, request: Request) -> Response:
    registry = request.app.state.node.registry
    origin: Camera | None = registry.get(camera_id)
    if origin is None:
        return error_response(404, "unknown_camera", f"no camera {camera_id!r}")
    raw = request.query_params.get("limit", "5")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_NEXT:
        return error_response(400, "bad_query", f"limit must be between 1 and {MAX_NEXT}")
    found = nearest_cameras(origin, registry.all(), int(raw))
    return json_response(NextCameras(camera_id=camera_id, cameras=found))


# Plain ``def``: building the page reads the registry synchronously (thread pool).
@router.get("/console", include_in_schema=False)
@public("the console page shell: data comes only through guarded APIs")
def console_page(request: Request) -> HTMLResponse:
    node = request.app.state.node
    cameras: list[Camera] = node.registry.all()
    # Every dot drawn as working: the console is about hits, not camera health.
    svg = overview.overview_map(node.zones, cameras, {c.id: 1 for c in cameras})
    html = (
        templates()
        .get_template("console.html")
        .render(
            version=__version__,
            page="console",
            map_svg=Markup(svg),
            zone_names={z.id: z.name for z in node.zones},
            camera_names={c.id: c.name for c in cameras},
            outcomes=[o.value for o in Outcome],
        )
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP})
