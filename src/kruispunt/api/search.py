"""Search API: plates (exact, partial, confusable), place and time, multi-location, convoy,
journey, and the exports of a plate search (CSV, GeoJSON, evidence package).

Thin handlers over ``SearchService``: every search goes through the access gate there (the
purpose, case and reason in the body; the zones and windows it may read; approvals for wide
searches) and is audited there, refusals included. Errors share one shape:
``{"error": {"code", "message", ...detail}}`` (400 a malformed search or a vague reason, 403 a
refusal of the gate, 422 a search the node's caps find too broad).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.policy import PolicyRefused
from kruispunt.access.principals import Role
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies
from kruispunt.api.errors import RequestRefused, json_response, refusal_response
from kruispunt.api.guard import caller, people
from kruispunt.api.records import node_of
from kruispunt.ingest.wire import ErrorOut
from kruispunt.search.errors import SearchInvalid, SearchTooBroad
from kruispunt.search.models import (
    ConvoyIn,
    ConvoyOut,
    EvidenceIn,
    JourneyIn,
    JourneyOut,
    MultiSiteIn,
    MultiSiteOut,
    PlaceTimeIn,
    PlaceTimeOut,
    PlateSearchIn,
    PlateSearchOut,
)
from kruispunt.search.service import SearchService

router = APIRouter(tags=["search"])

SEARCHERS = (Role.INVESTIGATOR, Role.ANALYST, Role.OPERATOR, Role.TRAFFIC_OFFICER)
MAX_BODY = 262_144
T = TypeVar("T")
MEDIA = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json"}
_bodies = JsonBodies(code="invalid_search", limit=MAX_BODY)
_AUTH = (ErrorOut, "No or unknown token")
_ERRORS: dict[int, tuple[Any, str]] = {
    400: (ErrorOut, "A malformed search (`invalid_search`, `invalid_pattern`, `invalid_area`, "
                    "`area_too_large`, `bad_cursor`...) or the gate's `vague_reason`, "
                    "`invalid_case`, `invalid_purpose`, `invalid_period`"),
    401: _AUTH,
    403: (ErrorOut, "The gate refused: `zone_not_visible`, `approval_required`, "
                    "`nothing_readable`, `role_not_allowed` (audited)"),
    422: (ErrorOut, "`query_too_broad`: more than the node's caps (rows, days, time); "
                    "`area_without_cameras`; `not_police_cameras`: only cameras registered "
                    "without the police purpose were named (their ids in `cameras`)"),
}  # fmt: skip


def _responses(ok: tuple[Any, str]) -> dict[int | str, dict[str, Any]]:
    return schema.responses({200: ok, **_ERRORS})


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


def _error(status: int, code: str, message: str, detail: dict[str, Any]) -> Response:
    body = {**detail, "code": code, "message": message}
    return json_response({"error": body}, status)


async def _run(
    request: Request, kind: type[T], work: Callable[..., Any], raw: bytes | None = None
) -> Response:
    """Decode the body (or ``raw``) as ``kind``, run ``work(principal, body, source=...)`` in
    a thread, answer its result or its refusal."""
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    try:
        body = _bodies.decode(await request.body() if raw is None else raw, kind)
        result = await asyncio.to_thread(work, principal, body, source=_source(request))
    except RequestRefused as exc:
        return refusal_response(exc)
    except (PolicyRefused, SearchInvalid, SearchTooBroad) as exc:
        return _error(exc.status, exc.code, exc.message, exc.detail)
    if isinstance(result, Response):
        return result
    return json_response(result)


@router.post(
    "/api/v1/search/plates",
    summary="Reads of a plate: exact, partial ('?', '*') or confusable; a timeline (audited)",
    openapi_extra=schema.body(PlateSearchIn, description="The plate, the period, why."),
    responses=_responses((PlateSearchOut, "Oldest first; next_cursor for the next page")),
)
@people(*SEARCHERS)
async def search_plates(request: Request) -> Response:
    return await _run(request, PlateSearchIn, node_of(request).search.plates)


@router.post(
    "/api/v1/search/place-time",
    summary="Who passed these cameras (or an area, a zone) in a window: counts first (audited)",
    openapi_extra=schema.body(PlaceTimeIn, description="The place, the window, why."),
    responses=_responses((PlaceTimeOut, "Counts; the vehicles when asked and within the cap")),
)
@people(*SEARCHERS)
async def search_place_time(request: Request) -> Response:
    return await _run(request, PlaceTimeIn, node_of(request).search.place_time)


@router.post(
    "/api/v1/search/multi-site",
    summary="Vehicles seen at several incident sites, each with its own window (audited)",
    openapi_extra=schema.body(MultiSiteIn, description="Two to ten sites, why."),
    responses=_responses((MultiSiteOut, "Vehicles at the most sites first")),
)
@people(*SEARCHERS)
async def search_multi_site(request: Request) -> Response:
    return await _run(request, MultiSiteIn, node_of(request).search.multi_site)


@router.post(
    "/api/v1/search/convoy",
    summary="Vehicles that repeatedly pass the same cameras just before or after a vehicle",
    openapi_extra=schema.body(ConvoyIn, description="The vehicle, the gap, why."),
    responses=_responses((ConvoyOut, "Companions, most shared passages first, with evidence")),
)
@people(*SEARCHERS)
async def search_convoy(request: Request) -> Response:
    return await _run(request, ConvoyIn, node_of(request).search.convoy)


@router.post(
    "/api/v1/search/journey",
    summary="A vehicle's route over a period: trips, legs, average speeds (audited)",
    openapi_extra=schema.body(JourneyIn, description="The vehicle, the period, why."),
    responses=_responses((JourneyOut, "Trips oldest first")),
)
@people(*SEARCHERS)
async def search_journey(request: Request) -> Response:
    return await _run(request, JourneyIn, node_of(request).search.journey)


# -- exports --------------------------------------------------------------------------------
def _download(
    data: bytes, media_type: str, stem: str, extension: str, headers: dict[str, str] | None = None
) -> Response:
    """A file to save, named ``<stem>-<UTC time>.<extension>``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    disposition = {"Content-Disposition": f'attachment; filename="{stem}-{stamp}.{extension}"'}
    return Response(data, media_type=media_type, headers={**disposition, **(headers or {})})


def _export_work(service: SearchService, fmt: str) -> Callable[..., Response]:
    def work(principal: Any, body: PlateSearchIn, *, source: str | None) -> Response:
        data, truncated = service.export(principal, body, fmt, source=source)
        truncation = {"X-Kruispunt-Truncated": "true" if truncated else "false"}
        return _download(data, MEDIA[fmt], "kruispunt", fmt, truncation)

    return work


def _format(request: Request) -> str | Response:
    fmt = request.query_params.get("format", "csv")
    if fmt not in MEDIA:
        return _error(400, "invalid_format", "format: csv or geojson", {})
    return fmt


_LISTS = ("cameras", "zones")
_FLAGS = ("confusable",)
_INTS = ("limit",)


def _query_body(request: Request) -> bytes:
    """The export's search from query parameters (a download link): the body's fields,
    lists comma-separated."""
    doc: dict[str, Any] = {}
    for key, value in request.query_params.items():
        if key == "format":
            continue
        if key in _LISTS:
            doc[key] = [v for v in value.split(",") if v]
        elif key in _FLAGS:
            doc[key] = value.lower() in ("1", "true", "yes")
        elif key in _INTS and value.isdigit():
            doc[key] = int(value)
        else:
            doc[key] = value
    return msgspec.json.encode(doc)


async def _export(request: Request, *, from_query: bool) -> Response:
    fmt = _format(request)
    if isinstance(fmt, Response):
        return fmt
    raw = _query_body(request) if from_query else None
    return await _run(request, PlateSearchIn, _export_work(node_of(request).search, fmt), raw)


@router.post(
    "/api/v1/search/plates/export",
    summary="A plate search as CSV or GeoJSON (?format=csv|geojson; audited)",
    openapi_extra=schema.body(PlateSearchIn, description="The search, as for /search/plates."),
    responses=_responses((str, "The file (X-Kruispunt-Truncated: true when capped)")),
)
@people(*SEARCHERS)
async def export_plates(request: Request) -> Response:
    return await _export(request, from_query=False)


@router.get(
    "/api/v1/search/plates/export",
    summary="The same export from query parameters, for a download link (audited). POST is "
    "better where a proxy logs URLs: the plate and the reason are in this one",
    responses=_responses((str, "The file (X-Kruispunt-Truncated: true when capped)")),
)
@people(*SEARCHERS)
async def export_plates_get(request: Request) -> Response:
    return await _export(request, from_query=True)


@router.post(
    "/api/v1/search/plates/evidence",
    summary="An evidence package (zip): each read, its camera, its image, SHA-256 manifests",
    openapi_extra=schema.body(EvidenceIn, description="The search, and optionally the reads."),
    responses=_responses((str, "application/zip")),
)
@people(*SEARCHERS)
async def export_evidence(request: Request) -> Response:
    service = node_of(request).search

    def work(principal: Any, body: EvidenceIn, *, source: str | None) -> Response:
        data = service.evidence(principal, body, source=source)
        return _download(data, "application/zip", "kruispunt-evidence", "zip")

    return await _run(request, EvidenceIn, work)
