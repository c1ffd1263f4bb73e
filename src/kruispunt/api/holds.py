"""Legal holds API: keep a case's reads past the retention limit, and read them for it.

Thin handlers over ``LegalHoldService``: a zone chief or a magistrate puts a hold on their
zone's reads and releases it; the DPO and the auditor see every hold, without its plates
(oversight reads counts, not plates); investigators and analysts of the zone read the held
reads for the hold's case only (every reading audited by the service).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

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
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import caller, people
from kruispunt.domain.reads import Read
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["legal holds"])

MAX_BODY = 65_536
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ORDER = list(Role)
_HOLDERS = sorted(HOLDERS, key=_ORDER.index)
_SEERS = sorted(HOLDERS | OVERSIGHT_ROLES, key=_ORDER.index)
_READERS = sorted(READERS, key=_ORDER.index)

Time = Annotated[dt.datetime, msgspec.Meta(tz=True, description="ISO 8601 with a UTC offset.")]


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
            cameras=h.cameras, since=_time(h.since_us), until=_time(h.until_us),
            expires=_time(h.expires_us), created_by=h.created_by,
            created_at=_time(h.created_us), closed_by=h.closed_by,
            closed_at=None if h.closed_us is None else _time(h.closed_us),
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
            captured_at=_time(r.captured_us), plate=r.plate, plate_raw=r.plate_raw,
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

_hold_decoder = msgspec.json.Decoder(HoldIn)
_release_decoder = msgspec.json.Decoder(HoldRelease)
_AUTH = (ErrorOut, "No or unknown token")
_UNKNOWN = (ErrorOut, "`unknown_hold` (or one the caller may not see)")


class BadRequest(Exception):
    pass


def _time(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def _us(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def _service(request: Request) -> LegalHoldService:
    service: LegalHoldService = request.app.state.node.holds
    return service


async def _decode(request: Request, decoder: msgspec.json.Decoder[Any], *, empty: Any) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest("request body too large")
    if not body.strip() and empty is not None:
        return empty
    try:
        return decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(str(exc)) from None


def _limit(raw: str | None, high: int) -> int | None:
    text = raw or str(high)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= high:
        return None
    return int(text)


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
async def create_hold(request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    try:
        body: HoldIn = await _decode(request, _hold_decoder, empty=None)
    except BadRequest as exc:
        return error_response(400, "invalid_hold", str(exc))
    service = _service(request)
    try:
        hold = await asyncio.to_thread(
            lambda: service.create(
                principal,
                case=body.case,
                reason=body.reason,
                since_us=_us(body.since),
                until_us=_us(body.until),
                expires_us=_us(body.expires),
                plates=body.plates,
                cameras=body.cameras,
            )
        )
    except HoldError as exc:
        return refusal_response(exc)
    held = await asyncio.to_thread(service.held_count, hold.id)
    return json_response(HoldRead.of(hold, principal, service.now(), held), 201)


@router.get(
    "/api/v1/holds",
    summary="Legal holds: a zone chief's or magistrate's zone's; all of them for oversight",
    responses=schema.responses(
        {200: (list[HoldRead], "Newest first"), 400: (ErrorOut, "`bad_query`"), 401: _AUTH}
    ),
)
@people(*_SEERS)
async def list_holds(request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    params = request.query_params
    try:
        status = HoldStatus(params["status"]) if params.get("status") else None
    except ValueError:
        return error_response(
            400, "bad_query", f"status: one of {', '.join(s.value for s in HoldStatus)}"
        )
    limit = _limit(params.get("limit"), MAX_LIST)
    if limit is None:
        return error_response(400, "bad_query", f"limit: an integer from 1 to {MAX_LIST}")
    service = _service(request)
    try:
        holds = await asyncio.to_thread(
            lambda: service.list(
                principal, status=status, case=params.get("case") or None, limit=limit
            )
        )
    except HoldError as exc:
        return refusal_response(exc)
    now = service.now()
    return json_response([HoldRead.of(h, principal, now) for h in holds])


@router.get(
    "/api/v1/holds/{hold_id}",
    summary="One legal hold (if the caller may see it)",
    responses=schema.responses({200: (HoldRead, "The hold"), 401: _AUTH, 404: _UNKNOWN}),
)
@people(*_SEERS)
async def get_hold(hold_id: str, request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)
    try:
        hold = await asyncio.to_thread(service.get, hold_id, actor=principal)
    except HoldError as exc:
        return refusal_response(exc)
    held = await asyncio.to_thread(service.held_count, hold.id)
    return json_response(HoldRead.of(hold, principal, service.now(), held))


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
async def release_hold(hold_id: str, request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    try:
        body: HoldRelease = await _decode(request, _release_decoder, empty=HoldRelease())
    except BadRequest as exc:
        return error_response(400, "invalid_hold", str(exc))
    service = _service(request)
    try:
        hold = await asyncio.to_thread(
            lambda: service.release(hold_id, actor=principal, note=body.note)
        )
    except HoldError as exc:
        return refusal_response(exc)
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
async def held_reads(hold_id: str, request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    params = request.query_params
    limit = _limit(params.get("limit"), MAX_READS)
    if limit is None:
        return error_response(400, "bad_query", f"limit: an integer from 1 to {MAX_READS}")
    service = _service(request)
    source = request.client.host if request.client else None
    try:
        page = await asyncio.to_thread(
            lambda: service.reads(
                hold_id,
                actor=principal,
                purpose=params.get("purpose", ""),
                case=params.get("case", ""),
                reason=params.get("reason", ""),
                source=source,
                limit=limit,
            )
        )
    except HoldError as exc:
        return refusal_response(exc)
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
