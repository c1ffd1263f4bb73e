"""Camera health: a camera's heartbeat, every camera's state, the alarm history, the page.

Thin handlers over ``kruispunt.health``: who sees which camera is ``health.routing``; what
they see is ``health.views`` (counts, times, explanations; never a plate). The page
(``/camera-health-list``) takes the token as ``access_token`` from the form at
``/camera-health`` (``/health`` is the liveness probe), like
the reports, and is sent with ``Cache-Control: no-store`` and no referrer.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from kruispunt import __version__
from kruispunt.access.auth import principal_from_request
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response, refuses
from kruispunt.api.guard import camera, people, public
from kruispunt.api.records import node_of
from kruispunt.api.web import CSP, templates
from kruispunt.health.routing import READERS
from kruispunt.health.views import (
    STATES,
    AlarmEventList,
    CameraHealthList,
    HealthRefused,
    alarm_history,
    camera_health,
    parse_time,
)
from kruispunt.ingest.service import IngestError
from kruispunt.ingest.wire import ErrorOut
from kruispunt.web.sparkline import sparkline

router = APIRouter(tags=["health"])

HEALTH_READERS = sorted(READERS)
MAX_HEARTBEAT_BYTES = 4096
RECENT = 20  # alarm events under the page's table
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


class HeartbeatIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    camera_time: dt.datetime | None = None  # the camera's clock (with its offset), for skew


class HeartbeatOut(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    received_us: int


_heartbeat_decoder = msgspec.json.Decoder(HeartbeatIn)


@router.post(
    "/api/v1/cameras/{camera_id}/heartbeat",
    tags=["ingest"],
    summary="A camera says it is alive (and, optionally, what its clock says)",
    description="Authenticate with the camera's own token, as for `/api/v1/reads`. The body "
    "is optional: `{\"camera_time\": \"2026-11-22T08:15:02.120+01:00\"}` lets the node judge "
    "the camera's clock. A camera that sends heartbeats and stops is alarmed after "
    "`health.heartbeat_timeout_s`.",
    openapi_extra=schema.body(HeartbeatIn, description="Optional: the camera's clock."),
    responses=schema.responses({
        200: (HeartbeatOut, "Taken"),
        400: (ErrorOut, "`malformed_heartbeat`"),
        401: (ErrorOut, "Missing or unknown camera token"),
        403: (ErrorOut, "`camera_mismatch`: the token is another camera's"),
        413: (ErrorOut, "`body_too_large`"),
    }),
)  # fmt: skip
@camera()
async def heartbeat(camera_id: str, request: Request) -> Response:
    node = node_of(request)
    try:
        authenticated = node.ingest.authenticate(request.headers.get("authorization"))
    except IngestError as exc:
        return error_response(exc.status, exc.code, exc.message)
    if authenticated != camera_id:
        return error_response(403, "camera_mismatch", "the token is not this camera's")
    body = await request.body()
    if len(body) > MAX_HEARTBEAT_BYTES:
        return error_response(413, "body_too_large", "a heartbeat body is small")
    clock_us: int | None = None
    if body.strip():
        try:
            beat = _heartbeat_decoder.decode(body)
        except msgspec.DecodeError as exc:
            return error_response(400, "malformed_heartbeat", str(exc))
        if beat.camera_time is not None:
            moment = beat.camera_time
            if moment.tzinfo is None:
                return error_response(
                    400, "malformed_heartbeat", "camera_time: needs its UTC offset"
                )
            clock_us = int(moment.timestamp() * 1_000_000)
    at = node.health.heartbeat(camera_id, clock_us)
    return json_response(HeartbeatOut(camera_id=camera_id, received_us=at))


_ERRORS = {
    400: (ErrorOut, "`bad_query`, `unknown_zone`"),
    401: (ErrorOut, "No or unknown token"),
    403: (ErrorOut, "A role that does not see camera health, or `zone_not_visible`"),
}


async def _cameras(request: Request) -> CameraHealthList:
    node = node_of(request)
    principal = principal_from_request(request)
    params = request.query_params
    return await asyncio.to_thread(
        lambda: camera_health(
            principal, monitor=node.health, store=node.store, cameras=node.registry.all(),
            zones=node.zones, now_us=node.health.clock(),
            state=params.get("state") or None, zone=params.get("zone") or None,
        )
    )  # fmt: skip


@router.get(
    "/api/v1/health/cameras",
    summary="Every camera the caller may see: its state, alarms, last read and reads per "
    "quarter hour over the last 24 hours",
    description="Query: `state` (ok, warning, alarm, unknown), `zone`. A zone sees the "
    "cameras it holds or manages; the network's administrators and auditors see all. "
    "No plates: counts, times and explanations.",
    responses=schema.responses({200: (CameraHealthList, "The cameras"), **_ERRORS}),
)
@people(*HEALTH_READERS)
@refuses(HealthRefused)
async def cameras_health(request: Request) -> Response:
    return json_response(await _cameras(request))


@router.get(
    "/api/v1/health/alarms",
    summary="Camera alarms raised and cleared, newest first",
    description="Query: `camera`, `zone`, `since`, `until` (ISO times), `limit` (1-1000, "
    "default 200). The events of the cameras the caller may see.",
    responses=schema.responses({200: (AlarmEventList, "The events"), **_ERRORS}),
)
@people(*HEALTH_READERS)
@refuses(HealthRefused)
async def alarms_history(request: Request) -> Response:
    node = node_of(request)
    principal = principal_from_request(request)
    params = request.query_params
    raw = params.get("limit", "200")
    if not (raw.isascii() and raw.isdigit()):
        raise HealthRefused("limit: a number", "bad_query")
    since, until = (
        parse_time(params.get("since"), "since"),
        parse_time(params.get("until"), "until"),
    )
    result = await asyncio.to_thread(
        lambda: alarm_history(
            principal, store=node.store, zones=node.zones, camera=params.get("camera") or None,
            zone=params.get("zone") or None, since_us=since, until_us=until, limit=int(raw),
        )
    )  # fmt: skip
    return json_response(result)


@router.get("/camera-health", include_in_schema=False)
@public("the form that opens the camera health page: no camera data")
def health_form(request: Request) -> HTMLResponse:
    page = templates().get_template("health_form.html").render(version=__version__, page="health")
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.get("/camera-health-list", include_in_schema=False)
@people(*HEALTH_READERS)
@refuses(HealthRefused)
async def health_page(request: Request) -> Response:
    listing = await _cameras(request)
    node = node_of(request)
    principal = principal_from_request(request)
    recent = await asyncio.to_thread(
        lambda: alarm_history(principal, store=node.store, zones=node.zones, limit=RECENT)
    )
    names = {z.id: z.name for z in node.zones}
    rows = [(c, sparkline(c.reads)) for c in listing.cameras]
    page = (
        templates()
        .get_template("health.html")
        .render(
            version=__version__, page="health", listing=listing, rows=rows, zones=names,
            states=STATES, chosen=request.query_params.get("state") or "",
            ago=_ago, when=_when, recent=recent.events,
            min_days=node.config.health.min_history_days,
        )
    )  # fmt: skip
    return HTMLResponse(page, headers=PAGE_HEADERS)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86_400:.0f} days ago"


def _when(us: int | None) -> str:
    if us is None:
        return ""
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
