"""Grants API: need-to-know access to another zone's reads.

A user of one zone asks for a named user (themselves by default) to see another zone's
reads, for a purpose, case and reason, for a limited time; a zone chief of that zone
approves or refuses; the chief or the requester revokes. Thin handlers over
``GrantService``: who may decide is checked there, per grant, and every step (and every
refused attempt to decide) is audited there.

The decision routes let every signed-in person through the guard on purpose: an admin, a
chief of another zone or the requester trying to approve reach the service, which refuses
(403) *and* records the attempt in the audit (``grant.forbidden``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.grants import (
    MAX_LIST,
    OVERSIGHT_ROLES,
    REQUESTER_ROLES,
    Grant,
    GrantError,
    GrantService,
    GrantStatus,
)
from kruispunt.access.principals import Role
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import caller, people
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["grants"])

MAX_BODY = 65_536
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ROLE_ORDER = list(Role)
_REQUESTERS = sorted(REQUESTER_ROLES, key=_ROLE_ORDER.index)
_READERS = sorted(REQUESTER_ROLES | OVERSIGHT_ROLES | {Role.ZONE_CHIEF}, key=_ROLE_ORDER.index)

Time = Annotated[dt.datetime, msgspec.Meta(tz=True, description="ISO 8601 with a UTC offset.")]


class GrantIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_zone: Annotated[str, msgspec.Meta(description="The zone whose reads are asked for.")]
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    case: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    reason: Annotated[str, msgspec.Meta(min_length=20, max_length=2000)]
    valid_until: Annotated[Time, msgspec.Meta(description="End of access (exclusive).")]
    valid_from: Time | None = None
    grantee_id: Annotated[
        str | None,
        msgspec.Meta(description="A user of the requester's zone (default: the requester)."),
    ] = None
    cameras: Annotated[
        list[str], msgspec.Meta(max_length=500, description="Only these cameras (empty: all).")
    ] = []
    plates: Annotated[
        list[str], msgspec.Meta(max_length=500, description="Only these plates (empty: any).")
    ] = []


class GrantDecision(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[
        str,
        msgspec.Meta(
            max_length=2000, description="Why (required to refuse or revoke; optional to approve)."
        ),
    ] = ""
    valid_until: Annotated[
        Time | None,
        msgspec.Meta(description="Approve only: shorten the validity asked for."),
    ] = None


class GrantRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: GrantStatus
    live: Annotated[bool, msgspec.Meta(description="Approved and within its validity now.")]
    requester_id: str
    requester_zone: str
    grantee_id: str
    data_zone: str
    purpose: str
    case: str
    reason: str
    cameras: tuple[str, ...]
    plates: tuple[str, ...]
    requested_at: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    revoked_by: str | None
    revoked_at: dt.datetime | None
    revoke_note: str | None

    @classmethod
    def of(cls, g: Grant, now_us: int) -> GrantRead:
        return cls(
            id=g.id, status=g.status_at(now_us), live=g.live_at(now_us),
            requester_id=g.requester_id, requester_zone=g.requester_zone,
            grantee_id=g.grantee_id, data_zone=g.data_zone, purpose=g.purpose, case=g.case,
            reason=g.reason, cameras=g.cameras, plates=g.plates,
            requested_at=_time(g.requested_us), valid_from=_time(g.valid_from_us),
            valid_until=_time(g.valid_until_us), decided_by=g.decided_by,
            decided_at=_opt_time(g.decided_us), decision_note=g.decision_note,
            revoked_by=g.revoked_by, revoked_at=_opt_time(g.revoked_us),
            revoke_note=g.revoke_note,
        )  # fmt: skip


SCHEMAS = (GrantIn, GrantDecision, GrantRead)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_grant_decoder = msgspec.json.Decoder(GrantIn)
_decision_decoder = msgspec.json.Decoder(GrantDecision)
_AUTH = (ErrorOut, "No or unknown token")
_UNKNOWN = (ErrorOut, "`unknown_grant` (or one the caller may not see)")
_CLOSED = (ErrorOut, "`grant_closed`: the grant is no longer open to this step")
_FORBIDDEN_DECISION = (
    ErrorOut,
    "`forbidden`: not a zone chief of the data zone, or the requester (audited)",
)


class BadRequest(Exception):
    pass


def _time(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def _opt_time(us: int | None) -> dt.datetime | None:
    return None if us is None else _time(us)


def _us(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def _service(request: Request) -> GrantService:
    service: GrantService = request.app.state.node.grants
    return service


_auth = caller  # the signed-in caller, or the 401 to answer with


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


def _read(service: GrantService, grant: Grant) -> GrantRead:
    return GrantRead.of(grant, service.now())


# -- requests and reading -------------------------------------------------------------------
@router.post(
    "/api/v1/grants",
    summary="Ask for access to another zone's reads (a zone chief of that zone decides)",
    status_code=201,
    openapi_extra=schema.body(GrantIn, description="The grant asked for."),
    responses=schema.responses(
        {
            201: (GrantRead, "Requested: waiting for a zone chief of the data zone"),
            400: (ErrorOut, "`invalid_grant`, `unknown_zone`, `invalid_grantee`"),
            401: _AUTH,
            403: (ErrorOut, "Not a role (or zone) that may request access"),
        }
    ),
)
@people(*_REQUESTERS)
async def request_grant(request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        body: GrantIn = await _decode(request, _grant_decoder, empty=None)
    except BadRequest as exc:
        return error_response(400, "invalid_grant", str(exc))
    service = _service(request)
    try:
        grant = await asyncio.to_thread(
            lambda: service.request(
                principal,
                data_zone=body.data_zone,
                purpose=body.purpose,
                case=body.case,
                reason=body.reason,
                valid_until_us=_us(body.valid_until),
                valid_from_us=None if body.valid_from is None else _us(body.valid_from),
                grantee_id=body.grantee_id,
                cameras=body.cameras,
                plates=body.plates,
            )
        )
    except GrantError as exc:
        return refusal_response(exc)
    return json_response(_read(service, grant), 201)


@router.get(
    "/api/v1/grants",
    summary="Grants the caller may see: their own; a zone chief's zone's; all for oversight",
    responses=schema.responses(
        {200: (list[GrantRead], "Newest request first"), 400: (ErrorOut, "`bad_query`"), 401: _AUTH}
    ),
)
@people(*_READERS)
async def list_grants(request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    params = request.query_params
    try:
        status = GrantStatus(params["status"]) if params.get("status") else None
    except ValueError:
        return error_response(
            400, "bad_query", f"status: one of {', '.join(s.value for s in GrantStatus)}"
        )
    raw_limit = params.get("limit") or str(MAX_LIST)
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_LIST:
        return error_response(400, "bad_query", f"limit: an integer from 1 to {MAX_LIST}")
    service = _service(request)
    grants = await asyncio.to_thread(
        lambda: service.list(
            principal, zone=params.get("zone") or None, status=status, limit=int(raw_limit)
        )
    )
    now = service.now()
    return json_response([GrantRead.of(g, now) for g in grants])


@router.get(
    "/api/v1/grants/{grant_id}",
    summary="One grant (if the caller may see it)",
    responses=schema.responses({200: (GrantRead, "The grant"), 401: _AUTH, 404: _UNKNOWN}),
)
@people(*_READERS)
async def get_grant(grant_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)
    try:
        grant = await asyncio.to_thread(service.get, grant_id, actor=principal)
    except GrantError as exc:
        return refusal_response(exc)
    return json_response(_read(service, grant))


# -- decisions ------------------------------------------------------------------------------
async def _decide(grant_id: str, request: Request, step: str) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        body: GrantDecision = await _decode(request, _decision_decoder, empty=GrantDecision())
    except BadRequest as exc:
        return error_response(400, "invalid_grant", str(exc))
    service = _service(request)
    try:
        if step == "approve":
            until = None if body.valid_until is None else _us(body.valid_until)
            grant = await asyncio.to_thread(
                lambda: service.approve(
                    grant_id, actor=principal, note=body.note, valid_until_us=until
                )
            )
        elif body.valid_until is not None:
            return error_response(400, "invalid_grant", f"valid_until: not for {step}")
        elif step == "refuse":
            grant = await asyncio.to_thread(
                lambda: service.refuse(grant_id, actor=principal, note=body.note)
            )
        else:
            grant = await asyncio.to_thread(
                lambda: service.revoke(grant_id, actor=principal, note=body.note)
            )
    except GrantError as exc:
        return refusal_response(exc)
    return json_response(_read(service, grant))


def _decision_responses(done: str) -> dict[int | str, dict[str, Any]]:
    return schema.responses(
        {
            200: (GrantRead, f"The grant, {done}"),
            400: (ErrorOut, "`invalid_grant`: a note is missing or a field is wrong"),
            401: _AUTH,
            403: _FORBIDDEN_DECISION,
            404: (ErrorOut, "`unknown_grant`"),
            409: _CLOSED,
        }
    )


@router.post(
    "/api/v1/grants/{grant_id}/approve",
    summary="Approve a request (a zone chief of the data zone, not the requester; no admin)",
    openapi_extra=schema.body(GrantDecision, description="An optional note; may shorten it."),
    responses=_decision_responses("approved"),
)
@people()  # everyone reaches the service: a refused attempt is audited there
async def approve_grant(grant_id: str, request: Request) -> Response:
    return await _decide(grant_id, request, "approve")


@router.post(
    "/api/v1/grants/{grant_id}/refuse",
    summary="Refuse a request (a zone chief of the data zone; a note says why)",
    openapi_extra=schema.body(GrantDecision, description="Why the request is refused."),
    responses=_decision_responses("refused"),
)
@people()  # everyone reaches the service: a refused attempt is audited there
async def refuse_grant(grant_id: str, request: Request) -> Response:
    return await _decide(grant_id, request, "refuse")


@router.post(
    "/api/v1/grants/{grant_id}/revoke",
    summary="Revoke a grant at once (a zone chief of the data zone, or the requester withdrawing)",
    openapi_extra=schema.body(GrantDecision, description="Why the grant is revoked."),
    responses=_decision_responses("revoked"),
)
@people()  # everyone reaches the service: a refused attempt is audited there
async def revoke_grant(grant_id: str, request: Request) -> Response:
    return await _decide(grant_id, request, "revoke")
