"""Legal holds API: keep a case's reads past the retention limit, and read them for it.

Thin handlers over ``LegalHoldService``: a zone chief or a magistrate puts a hold on their
zone's reads and releases it; the DPO and the auditor see every hold, without its plates
(oversight reads counts, not plates); investigators and analysts of the zone read the held
reads for the hold's case only (every reading audited by the service).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.holds import (
    HOLDERS,
    MAX_LIST,
    MAX_READS,
    OVERSIGHT_ROLES,
    READERS,
    HoldError,
    HoldStatus,
    LegalHold,
    LegalHoldService,
)
from kruispunt.access.principals import Principal, Role
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies, Time, from_us, opt_from_us, to_us
from kruispunt.api.errors import json_response, refuses
from kruispunt.api.guard import people
from kruispunt.api.records import as_caller, decide, limit_query, list_query, node_of
from kruispunt.domain.reads import Read
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["legal holds"])

MAX_BODY = 65_536
_ORDER = list(Role)
_HOLDERS = sorted(HOLDERS, key=_ORDER.index)
_SEERS = sorted(HOLDERS | OVERSIGHT_ROLES, key=_ORDER.index)
_READERS = sorted(READERS, key=_ORDER.index)


class HoldIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    case: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    since: Annotated[Time, msgspec.Meta(description="Oldest capture time kept.")]
    until: Annotated[Time, msgspec.Meta(description="Newest capture time kept (included).")]
    expires: Annotated[Time, msgspec.Meta(description="When the hold ends by itself.")]
    plates: Annotated[
        list[str],
        msgspec.Meta(max_length=500, description="Plates kept (required unless cameras given)."),
    ] = []
    cameras: Annotated[
        list[str], msgspec.Meta(max_length=500, description="Only these cameras of the zone.")
    ] = []


class HoldRelease(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=2000, description="Why (required).")] = ""


class HoldRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    zone_id: str
    status: HoldStatus
    live: Annotated[bool, msgspec.Meta(description="Open and not past its expiry now.")]
    case: str
    reason: str
    plates: Annotated[tuple[str, ...], msgspec.Meta(description="Empty for oversight roles.")]
    plate_count: int
    cameras: tuple[str, ...]
    since: dt.datetime
    until: dt.datetime
    expires: dt.datetime
    created_by: str
    created_at: dt.datetime
    closed_by: str | None
    closed_at: dt.datetime | None
    close_note: str | None
    held_reads: Annotated[int | None, msgspec.Meta(description="One hold only.")] = None

    @classmethod
    def of(
        cls, h: LegalHold, principal: Principal, now_us: int, held: int | None = None
    ) -> HoldRead:
        plates = () if principal.role in OVERSIGHT_ROLES else h.plates
        return cls(
            id=h.id, zone_id=h.zone_id, status=h.status_at(now_us), live=h.live_at(now_us),
            case=h.case, reason=h.reason, plates=plates, plate_count=len(h.plates),
            cameras=h.cameras, since=from_us(h.since_us), until=from_us(h.until_us),
            expires=from_us(h.expires_us), created_by=h.created_by,
            created_at=from_us(h.created_us), closed_by=h.closed_by,
            closed_at=opt_from_us(h.closed_us),
            close_note=h.close_note, held_reads=held,
        )  # fmt: skip


class HeldReadOut(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    read_id: str
    camera_id: str
    zone_id: str
    captured_at: dt.datetime
    plate: str
    plate_raw: str
    country: str | None
    confidence: float
    direction: str | None
    lane: int | None
    vehicle_class: str | None
    make: str | None
    colour: str | None
    image_ref: str | None

    @classmethod
    def of(cls, r: Read) -> HeldReadOut:
        return cls(
            seq=r.seq, read_id=r.read_id, camera_id=r.camera_id, zone_id=r.zone_id,
            captured_at=from_us(r.captured_us), plate=r.plate, plate_raw=r.plate_raw,
            country=r.country, confidence=r.confidence, direction=r.direction, lane=r.lane,
            vehicle_class=r.vehicle_class, make=r.make, colour=r.colour, image_ref=r.image_ref,
        )  # fmt: skip


class HeldReadPage(msgspec.Struct, frozen=True, kw_only=True):
    hold_id: str
    case: str
    purpose: str
    count: int
    reads: list[HeldReadOut]


SCHEMAS = (HoldIn, HoldRelease, HoldRead, HeldReadOut, HeldReadPage)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_bodies = JsonBodies(code="invalid_hold", limit=MAX_BODY)
_AUTH = (ErrorOut, "No or unknown token")
_UNKNOWN = (ErrorOut, "`unknown_hold` (or one the caller may not see)")


async def _with_held(service: LegalHoldService, hold: LegalHold, viewer: Principal) -> HoldRead:
    """The hold as ``viewer`` sees it, with the count of the reads it holds now."""
    held = await asyncio.to_thread(service.held_count, hold.id)
    return HoldRead.of(hold, viewer, service.now(), held)


@router.post(
    "/api/v1/holds",
    summary="Put a legal hold on the zone's reads of a case (a zone chief or a magistrate)",
    status_code=201,
    openapi_extra=schema.body(HoldIn, description="The case, the reads kept and the expiry."),
    responses=schema.responses(
        {
            201: (HoldRead, "Created: the covered reads stored now are held"),
            400: (ErrorOut, "`invalid_hold`, `invalid_case`"),
            401: _AUTH,
            403: (ErrorOut, "Not a zone chief or magistrate of a network zone"),
        }
    ),
)
@people(*_HOLDERS)
@refuses(HoldError)
async def create_hold(request: Request) -> Response:
    body = await _bodies.read(request, HoldIn)
    service = node_of(request).holds
    principal, hold = await as_caller(
        request,
        lambda principal: service.create(
            principal,
            case=body.case,
            reason=body.reason,
            since_us=to_us(body.since),
            until_us=to_us(body.until),
            expires_us=to_us(body.expires),
            plates=body.plates,
            cameras=body.cameras,
        ),
    )
    return json_response(await _with_held(service, hold, principal), 201)


@router.get(
    "/api/v1/holds",
    summary="Legal holds: a zone chief's or magistrate's zone's; all of them for oversight",
    responses=schema.responses(
        {200: (list[HoldRead], "Newest first"), 400: (ErrorOut, "`bad_query`"), 401: _AUTH}
    ),
)
@people(*_SEERS)
@refuses(HoldError)
async def list_holds(request: Request) -> Response:
    query = list_query(request, HoldStatus, most=MAX_LIST)
    service = node_of(request).holds
    principal, holds = await as_caller(
        request,
        lambda principal: service.list(
            principal, status=query.status, case=query.case, limit=query.limit
        ),
    )
    now = service.now()
    return json_response([HoldRead.of(h, principal, now) for h in holds])


@router.get(
    "/api/v1/holds/{hold_id}",
    summary="One legal hold (if the caller may see it)",
    responses=schema.responses({200: (HoldRead, "The hold"), 401: _AUTH, 404: _UNKNOWN}),
)
@people(*_SEERS)
@refuses(HoldError)
async def get_hold(hold_id: str, request: Request) -> Response:
    service = node_of(request).holds
    principal, hold = await as_caller(
        request, lambda principal: service.get(hold_id, actor=principal)
    )
    return json_response(await _with_held(service, hold, principal))


@router.post(
    "/api/v1/holds/{hold_id}/release",
    summary="Release a legal hold early (a zone chief or magistrate of its zone; a note)",
    openapi_extra=schema.body(HoldRelease, description="Why the hold is released."),
    responses=schema.responses(
        {
            200: (HoldRead, "Released: its held reads are deleted"),
            400: (ErrorOut, "`invalid_hold`: the note is missing"),
            401: _AUTH,
            404: _UNKNOWN,
            409: (ErrorOut, "`hold_closed`: released or expired already"),
        }
    ),
)
@people(*_HOLDERS)
@refuses(HoldError)
async def release_hold(hold_id: str, request: Request) -> Response:
    service = node_of(request).holds
    principal, hold = await decide(
        request,
        _bodies,
        HoldRelease,
        lambda principal, body: service.release(hold_id, actor=principal, note=body.note),
    )
    return json_response(HoldRead.of(hold, principal, service.now(), 0))


@router.get(
    "/api/v1/holds/{hold_id}/reads",
    summary="The reads a legal hold keeps, for its case only (audited)",
    description="Query parameters `purpose`, `case` (the hold's) and `reason` are required; "
    "for investigators and analysts of the hold's zone.",
    responses=schema.responses(
        {
            200: (HeldReadPage, "Oldest capture first"),
            400: (ErrorOut, "`invalid_purpose`, `invalid_case`, `vague_reason`, `bad_query`"),
            401: _AUTH,
            403: (ErrorOut, "`forbidden`, `role_not_allowed`, `case_mismatch` (audited)"),
            404: _UNKNOWN,
            409: (ErrorOut, "`hold_closed`: released or expired, it keeps nothing"),
        }
    ),
)
@people(*_READERS)
@refuses(HoldError)
async def held_reads(hold_id: str, request: Request) -> Response:
    params = request.query_params
    limit = limit_query(request, most=MAX_READS)
    service = node_of(request).holds
    source = request.client.host if request.client else None
    _, page = await as_caller(
        request,
        lambda principal: service.reads(
            hold_id,
            actor=principal,
            purpose=params.get("purpose", ""),
            case=params.get("case", ""),
            reason=params.get("reason", ""),
            source=source,
            limit=limit,
        ),
    )
    reads = [HeldReadOut.of(r) for r in page.reads]
    return json_response(
        HeldReadPage(
            hold_id=page.hold.id,
            case=page.hold.case,
            purpose=str(page.purpose),
            count=len(reads),
            reads=reads,
        )
    )
