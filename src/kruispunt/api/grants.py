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
from kruispunt.access.principals import Principal, Role
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies, Time, from_us, opt_from_us, opt_us, to_us
from kruispunt.api.errors import RequestRefused, json_response, refuses
from kruispunt.api.guard import people
from kruispunt.api.records import DecisionNote, as_caller, decide, list_query, node_of
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["grants"])

MAX_BODY = 65_536
_ROLE_ORDER = list(Role)
_REQUESTERS = sorted(REQUESTER_ROLES, key=_ROLE_ORDER.index)
_READERS = sorted(REQUESTER_ROLES | OVERSIGHT_ROLES | {Role.ZONE_CHIEF}, key=_ROLE_ORDER.index)


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
    note: DecisionNote = ""
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
            requested_at=from_us(g.requested_us), valid_from=from_us(g.valid_from_us),
            valid_until=from_us(g.valid_until_us), decided_by=g.decided_by,
            decided_at=opt_from_us(g.decided_us), decision_note=g.decision_note,
            revoked_by=g.revoked_by, revoked_at=opt_from_us(g.revoked_us),
            revoke_note=g.revoke_note,
        )  # fmt: skip


SCHEMAS = (GrantIn, GrantDecision, GrantRead)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_bodies = JsonBodies(code="invalid_grant", limit=MAX_BODY)
_AUTH = (ErrorOut, "No or unknown token")
_UNKNOWN = (ErrorOut, "`unknown_grant` (or one the caller may not see)")
_CLOSED = (ErrorOut, "`grant_closed`: the grant is no longer open to this step")
_FORBIDDEN_DECISION = (
    ErrorOut,
    "`forbidden`: not a zone chief of the data zone, or the requester (audited)",
)


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
@refuses(GrantError)
async def request_grant(request: Request) -> Response:
    body = await _bodies.read(request, GrantIn)
    service = node_of(request).grants
    _, grant = await as_caller(
        request,
        lambda principal: service.request(
            principal,
            data_zone=body.data_zone,
            purpose=body.purpose,
            case=body.case,
            reason=body.reason,
            valid_until_us=to_us(body.valid_until),
            valid_from_us=opt_us(body.valid_from),
            grantee_id=body.grantee_id,
            cameras=body.cameras,
            plates=body.plates,
        ),
    )
    return json_response(_read(service, grant), 201)


@router.get(
    "/api/v1/grants",
    summary="Grants the caller may see: their own; a zone chief's zone's; all for oversight",
    responses=schema.responses(
        {200: (list[GrantRead], "Newest request first"), 400: (ErrorOut, "`bad_query`"), 401: _AUTH}
    ),
)
@people(*_READERS)
@refuses()
async def list_grants(request: Request) -> Response:
    query = list_query(request, GrantStatus, most=MAX_LIST)
    service = node_of(request).grants
    _, grants = await as_caller(
        request,
        lambda principal: service.list(
            principal, zone=query.zone, status=query.status, limit=query.limit
        ),
    )
    now = service.now()
    return json_response([GrantRead.of(g, now) for g in grants])


@router.get(
    "/api/v1/grants/{grant_id}",
    summary="One grant (if the caller may see it)",
    responses=schema.responses({200: (GrantRead, "The grant"), 401: _AUTH, 404: _UNKNOWN}),
)
@people(*_READERS)
@refuses(GrantError)
async def get_grant(grant_id: str, request: Request) -> Response:
    service = node_of(request).grants
    _, grant = await as_caller(request, lambda principal: service.get(grant_id, actor=principal))
    return json_response(_read(service, grant))


# -- decisions ------------------------------------------------------------------------------
async def _decide(grant_id: str, request: Request, step: str) -> Response:
    service = node_of(request).grants

    def take(principal: Principal, body: GrantDecision) -> Grant:
        if step == "approve":
            until = opt_us(body.valid_until)
            return service.approve(grant_id, actor=principal, note=body.note, valid_until_us=until)
        if body.valid_until is not None:
            raise RequestRefused(f"valid_until: not for {step}", "invalid_grant")
        refuse_or_revoke = service.refuse if step == "refuse" else service.revoke
        return refuse_or_revoke(grant_id, actor=principal, note=body.note)

    _, grant = await decide(request, _bodies, GrantDecision, take)
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
@refuses(GrantError)
async def approve_grant(grant_id: str, request: Request) -> Response:
    return await _decide(grant_id, request, "approve")


@router.post(
    "/api/v1/grants/{grant_id}/refuse",
    summary="Refuse a request (a zone chief of the data zone; a note says why)",
    openapi_extra=schema.body(GrantDecision, description="Why the request is refused."),
    responses=_decision_responses("refused"),
)
@people()  # everyone reaches the service: a refused attempt is audited there
@refuses(GrantError)
async def refuse_grant(grant_id: str, request: Request) -> Response:
    return await _decide(grant_id, request, "refuse")


@router.post(
    "/api/v1/grants/{grant_id}/revoke",
    summary="Revoke a grant at once (a zone chief of the data zone, or the requester withdrawing)",
    openapi_extra=schema.body(GrantDecision, description="Why the grant is revoked."),
    responses=_decision_responses("revoked"),
)
@people()  # everyone reaches the service: a refused attempt is audited there
@refuses(GrantError)
async def revoke_grant(grant_id: str, request: Request) -> Response:
    return await _decide(grant_id, request, "revoke")
