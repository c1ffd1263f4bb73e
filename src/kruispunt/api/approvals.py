"""Approvals API: a supervisor's approval of a search wider than the profile's caps.

A person who consults reads asks, describing the search as they will run it; a zone chief
of their zone approves or refuses; the requester (or the chief) revokes. The search then
names the approval (``approval_id``) and the policy gate checks that it covers it. Thin
handlers over ``ApprovalService``: who may decide is checked there, per approval, and every
refused attempt to decide is audited there, so the decision routes let every signed-in
person through the guard on purpose. Oversight sees every approval without its plates.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.approvals import (
    MAX_LIST,
    READERS,
    REQUESTER_ROLES,
    ApprovalError,
    ApprovalService,
    ApprovalStatus,
    SearchApproval,
)
from kruispunt.access.authorisations import pattern_shape, sees_plates
from kruispunt.access.principals import Principal, Role
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies, Time, from_us, opt_from_us, to_us
from kruispunt.api.errors import json_response, refuses
from kruispunt.api.guard import people
from kruispunt.api.records import DecisionNote, as_caller, decide, list_query, node_of
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["approvals"])

MAX_BODY = 262_144
_ROLE_ORDER = list(Role)
_REQUESTERS = sorted(REQUESTER_ROLES, key=_ROLE_ORDER.index)
_READERS = sorted(READERS, key=_ROLE_ORDER.index)

Items = Annotated[list[str], msgspec.Meta(max_length=500)]


class ApprovalIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The search as it will run (the same fields as the search itself)."""

    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    case: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    since: Annotated[Time, msgspec.Meta(description="Oldest capture time searched.")]
    until: Annotated[Time, msgspec.Meta(description="Newest capture time searched.")]
    plates: Items = []
    plate_patterns: Annotated[
        list[str], msgspec.Meta(max_length=500, description="Partial plates: '?' one, '*' any.")
    ] = []
    cameras: Items = []
    zones: Items = []
    area: Annotated[bool, msgspec.Meta(description="A drawn area (its cameras listed).")] = False


class ApprovalDecision(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: DecisionNote = ""


class ApprovalRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: ApprovalStatus
    live: Annotated[bool, msgspec.Meta(description="Approved and within its validity now.")]
    requester_id: str
    zone_id: str
    purpose: str
    case: str
    reason: str
    since: dt.datetime
    until: dt.datetime
    plates: Annotated[list[str] | None, msgspec.Meta(description="Withheld (null) from oversight.")]
    plate_count: int
    plate_patterns: list[str]
    cameras: list[str]
    zones: list[str]
    area: bool
    problems: Annotated[list[str], msgspec.Meta(description="Why the search needs approval.")]
    requested_at: dt.datetime
    valid_until: Annotated[
        dt.datetime,
        msgspec.Meta(description="A request waits until then; an approval holds until then."),
    ]
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    revoked_by: str | None
    revoked_at: dt.datetime | None
    revoke_note: str | None

    @classmethod
    def of(cls, a: SearchApproval, now_us: int, viewer: Principal) -> ApprovalRead:
        shown = sees_plates(viewer)
        return cls(
            id=a.id, status=a.status_at(now_us), live=a.live_at(now_us),
            requester_id=a.requester_id, zone_id=a.zone_id, purpose=str(a.purpose),
            case=a.case, reason=a.reason, since=from_us(a.since_us), until=from_us(a.until_us),
            plates=list(a.plates) if shown else None, plate_count=len(a.plates),
            plate_patterns=_patterns(a.plate_patterns, shown),
            cameras=list(a.cameras), zones=list(a.zones), area=a.area,
            problems=list(a.problems), requested_at=from_us(a.requested_us),
            valid_until=from_us(a.valid_until_us), decided_by=a.decided_by,
            decided_at=opt_from_us(a.decided_us), decision_note=a.decision_note,
            revoked_by=a.revoked_by, revoked_at=opt_from_us(a.revoked_us),
            revoke_note=a.revoke_note,
        )  # fmt: skip


SCHEMAS = (ApprovalIn, ApprovalDecision, ApprovalRead)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_bodies = JsonBodies(code="invalid_approval", limit=MAX_BODY)
_AUTH = (ErrorOut, "No or unknown token")


def _patterns(patterns: tuple[str, ...], shown: bool) -> list[str]:
    """Partial plates as written, or only their shape for a viewer who sees no plates."""
    return list(patterns) if shown else [pattern_shape(p) for p in patterns]


def _show(service: ApprovalService, approval: SearchApproval, viewer: Principal) -> ApprovalRead:
    return ApprovalRead.of(approval, service.now(), viewer)


@router.post(
    "/api/v1/approvals",
    summary="Ask a zone chief of your zone to approve a wide search",
    status_code=201,
    openapi_extra=schema.body(ApprovalIn, description="The search as it will run."),
    responses=schema.responses(
        {
            201: (ApprovalRead, "Requested: waiting for a zone chief of your zone"),
            400: (
                ErrorOut,
                "`invalid_approval`, `invalid_case`, `vague_reason`, `approval_not_needed`",
            ),
            401: _AUTH,
            403: (ErrorOut, "A role that does not consult reads, or not for this purpose"),
        }
    ),
)
@people(*_REQUESTERS)
@refuses(ApprovalError)
async def request_approval(request: Request) -> Response:
    body = await _bodies.read(request, ApprovalIn)
    service = node_of(request).approvals
    principal, approval = await as_caller(
        request,
        lambda principal: service.request(
            principal,
            purpose=body.purpose,
            case=body.case,
            reason=body.reason,
            since_us=to_us(body.since),
            until_us=to_us(body.until),
            plates=body.plates,
            plate_patterns=body.plate_patterns,
            cameras=body.cameras,
            zones=body.zones,
            area=body.area,
        ),
    )
    return json_response(_show(service, approval, principal), 201)


@router.get(
    "/api/v1/approvals",
    summary="Approvals: your own; a zone chief's zone's (status=requested: to decide); all "
    "for oversight",
    responses=schema.responses(
        {
            200: (list[ApprovalRead], "Newest request first"),
            400: (ErrorOut, "`bad_query`"),
            401: _AUTH,
            403: (ErrorOut, "A role that sees no approvals"),
        }
    ),
)
@people(*_READERS)
@refuses()
async def list_approvals(request: Request) -> Response:
    query = list_query(request, ApprovalStatus, most=MAX_LIST)
    service = node_of(request).approvals
    principal, found = await as_caller(
        request,
        lambda principal: service.list(
            principal, zone=query.zone, status=query.status, limit=query.limit
        ),
    )
    now = service.now()
    return json_response([ApprovalRead.of(a, now, principal) for a in found])


@router.get(
    "/api/v1/approvals/{approval_id}",
    summary="One approval (if the caller may see it)",
    responses=schema.responses(
        {
            200: (ApprovalRead, "The approval"),
            401: _AUTH,
            403: (ErrorOut, "A role that sees no approvals"),
            404: (ErrorOut, "`unknown_approval` (or one the caller may not see)"),
        }
    ),
)
@people(*_READERS)
@refuses(ApprovalError)
async def get_approval(approval_id: str, request: Request) -> Response:
    service = node_of(request).approvals
    principal, approval = await as_caller(
        request, lambda principal: service.get(approval_id, actor=principal)
    )
    return json_response(_show(service, approval, principal))


async def _decide(approval_id: str, request: Request, step: str) -> Response:
    service = node_of(request).approvals
    steps = {"approve": service.approve, "refuse": service.refuse, "revoke": service.revoke}
    principal, approval = await decide(
        request,
        _bodies,
        ApprovalDecision,
        lambda principal, body: steps[step](approval_id, actor=principal, note=body.note),
    )
    return json_response(_show(service, approval, principal))


def _decision_responses(done: str) -> dict[int | str, dict[str, Any]]:
    return schema.responses(
        {
            200: (ApprovalRead, f"The approval, {done}"),
            400: (ErrorOut, "`invalid_approval`: a note is missing or too long"),
            401: _AUTH,
            403: (ErrorOut, "`forbidden` (audited)"),
            404: (ErrorOut, "`unknown_approval`"),
            409: (ErrorOut, "`approval_closed`: no longer open to this step"),
        }
    )


@router.post(
    "/api/v1/approvals/{approval_id}/approve",
    summary="Approve a wide search (a zone chief of the requester's zone, not the requester)",
    openapi_extra=schema.body(ApprovalDecision, description="An optional note."),
    responses=_decision_responses("approved"),
)
@people()  # everyone reaches the service: a refused attempt is audited there
@refuses(ApprovalError)
async def approve_search(approval_id: str, request: Request) -> Response:
    return await _decide(approval_id, request, "approve")


@router.post(
    "/api/v1/approvals/{approval_id}/refuse",
    summary="Refuse a wide search (a zone chief of the requester's zone; a note says why)",
    openapi_extra=schema.body(ApprovalDecision, description="Why it is refused."),
    responses=_decision_responses("refused"),
)
@people()  # everyone reaches the service: a refused attempt is audited there
@refuses(ApprovalError)
async def refuse_search(approval_id: str, request: Request) -> Response:
    return await _decide(approval_id, request, "refuse")


@router.post(
    "/api/v1/approvals/{approval_id}/revoke",
    summary="Withdraw a request or an approval (the requester, or a zone chief of the zone)",
    openapi_extra=schema.body(ApprovalDecision, description="Why it is revoked."),
    responses=_decision_responses("revoked"),
)
@people()  # everyone reaches the service: a refused attempt is audited there
@refuses(ApprovalError)
async def revoke_search(approval_id: str, request: Request) -> Response:
    return await _decide(approval_id, request, "revoke")
