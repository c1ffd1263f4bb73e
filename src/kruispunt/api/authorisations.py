"""Authorisations API: the prosecutor's (or senior officer's) decisions recorded for a case.

A magistrate records their own decision, a zone chief transcribes one their zone received;
a magistrate or the zone's chief revokes it. Thin handlers over ``AuthorisationService``:
who may record or revoke is checked there, and every refused attempt is audited there, so
the record and revoke routes let every signed-in person through the guard on purpose.
Oversight (DPO, auditor) reads every authorisation without the plates of its scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.authorisations import (
    MAX_LIST,
    READERS,
    AuthorisationError,
    AuthorisationService,
    AuthorisationStatus,
    RecordedAuthorisation,
    pattern_shape,
    sees_plates,
)
from kruispunt.access.principals import Principal, Role
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies, Time, from_us, opt_from_us, opt_us, to_us
from kruispunt.api.errors import json_response, refuses
from kruispunt.api.guard import people
from kruispunt.api.records import as_caller, decide, list_query, node_of
from kruispunt.ingest.wire import ErrorOut
from kruispunt.law.profiles import AuthorisationKind

router = APIRouter(tags=["authorisations"])

MAX_BODY = 262_144
_READERS = sorted(READERS, key=list(Role).index)

Items = Annotated[list[str], msgspec.Meta(max_length=500)]


class AuthorisationScopeIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the decision covers; an empty list leaves that dimension open."""

    plates: Items = []
    plate_patterns: Items = []
    cameras: Items = []
    zones: Items = []
    data_since: Annotated[
        Time | None, msgspec.Meta(description="Oldest capture time it opens.")
    ] = None
    data_until: Annotated[
        Time | None, msgspec.Meta(description="Newest capture time it opens.")
    ] = None


class AuthorisationIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: AuthorisationKind
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    grounds: Annotated[
        str,
        msgspec.Meta(min_length=20, max_length=4000, description="The reasons in the decision."),
    ]
    case: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    valid_until: Annotated[Time, msgspec.Meta(description="End of validity (exclusive).")]
    valid_from: Time | None = None
    zone: Annotated[
        str | None, msgspec.Meta(description="The zone it is addressed to (default: yours).")
    ] = None
    issued_by: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=200,
                description="The magistrate who issued it (a zone chief transcribing names "
                "them; default: you).",
            ),
        ]
        | None
    ) = None
    query_id: (
        Annotated[str, msgspec.Meta(max_length=200, description="An order for one query only.")]
        | None
    ) = None
    scope: AuthorisationScopeIn = AuthorisationScopeIn()


class RevokeIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=4000, description="Why (required).")] = ""


class AuthorisationScopeRead(msgspec.Struct, frozen=True, kw_only=True):
    plates: Annotated[list[str] | None, msgspec.Meta(description="Withheld (null) from oversight.")]
    plate_count: int
    plate_patterns: list[str]
    cameras: list[str]
    zones: list[str]
    data_since: dt.datetime | None
    data_until: dt.datetime | None


class AuthorisationRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: AuthorisationKind
    reference: str
    issued_by: str
    grounds: str
    case: str
    zone_id: str
    status: AuthorisationStatus
    live: Annotated[bool, msgspec.Meta(description="Active and within its validity now.")]
    valid_from: dt.datetime
    valid_until: dt.datetime
    scope: AuthorisationScopeRead
    query_id: str | None
    recorded_by: str
    recorded_role: Role
    recorded_at: dt.datetime
    revoked_by: str | None
    revoked_at: dt.datetime | None
    revoke_note: str | None

    @classmethod
    def of(cls, a: RecordedAuthorisation, now_us: int, viewer: Principal) -> AuthorisationRead:
        s = a.scope
        shown = sees_plates(viewer)
        scope = AuthorisationScopeRead(
            plates=list(s.plates) if shown else None, plate_count=len(s.plates),
            plate_patterns=_patterns(s.plate_patterns, shown),
            cameras=list(s.cameras), zones=list(s.zones), data_since=opt_from_us(s.since_us),
            data_until=opt_from_us(s.until_us),
        )  # fmt: skip
        return cls(
            id=a.id, kind=a.kind, reference=a.reference, issued_by=a.issued_by,
            grounds=a.grounds, case=a.case, zone_id=a.zone_id, status=a.status_at(now_us),
            live=a.live_at(now_us), valid_from=from_us(a.valid_from_us),
            valid_until=from_us(a.valid_until_us), scope=scope, query_id=a.query_id,
            recorded_by=a.recorded_by, recorded_role=a.recorded_role,
            recorded_at=from_us(a.created_us), revoked_by=a.revoked_by,
            revoked_at=opt_from_us(a.revoked_us), revoke_note=a.revoke_note,
        )  # fmt: skip


SCHEMAS = (AuthorisationIn, AuthorisationScopeIn, RevokeIn, AuthorisationRead)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_bodies = JsonBodies(code="invalid_authorisation", limit=MAX_BODY)
_AUTH = (ErrorOut, "No or unknown token")


def _patterns(patterns: tuple[str, ...], shown: bool) -> list[str]:
    """Partial plates as written, or only their shape for a viewer who sees no plates."""
    return list(patterns) if shown else [pattern_shape(p) for p in patterns]


def _show(
    service: AuthorisationService, auth: RecordedAuthorisation, viewer: Principal
) -> AuthorisationRead:
    return AuthorisationRead.of(auth, service.now(), viewer)


@router.post(
    "/api/v1/authorisations",
    summary="Record a prosecutor's (or senior officer's) written authorisation for a case",
    status_code=201,
    openapi_extra=schema.body(AuthorisationIn, description="The decision as written."),
    responses=schema.responses(
        {
            201: (AuthorisationRead, "Recorded"),
            400: (
                ErrorOut,
                "`invalid_authorisation`, `invalid_case`, `unknown_zone`, `invalid_issuer`",
            ),
            401: _AUTH,
            403: (ErrorOut, "`forbidden`: not a magistrate or a zone chief of the zone (audited)"),
            409: (ErrorOut, "`authorisation_exists`: this reference is recorded for the case"),
        }
    ),
)
@people()  # everyone reaches the service: a refused attempt is audited there
@refuses(AuthorisationError)
async def record_authorisation(request: Request) -> Response:
    body = await _bodies.read(request, AuthorisationIn)
    service = node_of(request).authorisations
    s = body.scope
    principal, auth = await as_caller(
        request,
        lambda principal: service.record(
            principal,
            kind=body.kind,
            reference=body.reference,
            grounds=body.grounds,
            case=body.case,
            valid_until_us=to_us(body.valid_until),
            valid_from_us=opt_us(body.valid_from),
            zone=body.zone,
            issued_by=body.issued_by,
            plates=s.plates,
            plate_patterns=s.plate_patterns,
            cameras=s.cameras,
            zones=s.zones,
            data_since_us=opt_us(s.data_since),
            data_until_us=opt_us(s.data_until),
            query_id=body.query_id,
        ),
    )
    return json_response(_show(service, auth, principal), 201)


@router.get(
    "/api/v1/authorisations",
    summary="Authorisations the caller may see (filters: case, zone, status)",
    responses=schema.responses(
        {
            200: (list[AuthorisationRead], "Newest first"),
            400: (ErrorOut, "`bad_query`"),
            401: _AUTH,
            403: (ErrorOut, "A role that sees no authorisations"),
        }
    ),
)
@people(*_READERS)
@refuses()
async def list_authorisations(request: Request) -> Response:
    query = list_query(request, AuthorisationStatus, most=MAX_LIST)
    service = node_of(request).authorisations
    principal, found = await as_caller(
        request,
        lambda principal: service.list(
            principal, case=query.case, zone=query.zone, status=query.status, limit=query.limit
        ),
    )
    now = service.now()
    return json_response([AuthorisationRead.of(a, now, principal) for a in found])


@router.get(
    "/api/v1/authorisations/{auth_id}",
    summary="One authorisation (if the caller may see it)",
    responses=schema.responses(
        {
            200: (AuthorisationRead, "The authorisation"),
            401: _AUTH,
            403: (ErrorOut, "A role that sees no authorisations"),
            404: (ErrorOut, "`unknown_authorisation` (or one the caller may not see)"),
        }
    ),
)
@people(*_READERS)
@refuses(AuthorisationError)
async def get_authorisation(auth_id: str, request: Request) -> Response:
    service = node_of(request).authorisations
    principal, auth = await as_caller(
        request, lambda principal: service.get(auth_id, actor=principal)
    )
    return json_response(_show(service, auth, principal))


@router.post(
    "/api/v1/authorisations/{auth_id}/revoke",
    summary="Revoke an authorisation at once (a magistrate, or a zone chief of its zone)",
    openapi_extra=schema.body(RevokeIn, description="Why it is revoked."),
    responses=schema.responses(
        {
            200: (AuthorisationRead, "The authorisation, revoked"),
            400: (ErrorOut, "`invalid_authorisation`: the note is missing"),
            401: _AUTH,
            403: (ErrorOut, "`forbidden` (audited)"),
            404: (ErrorOut, "`unknown_authorisation`"),
            409: (ErrorOut, "`authorisation_closed`: revoked or expired already"),
        }
    ),
)
@people()  # everyone reaches the service: a refused attempt is audited there
@refuses(AuthorisationError)
async def revoke_authorisation(auth_id: str, request: Request) -> Response:
    service = node_of(request).authorisations
    principal, auth = await decide(
        request,
        _bodies,
        RevokeIn,
        lambda principal, body: service.revoke(auth_id, actor=principal, note=body.note),
    )
    return json_response(_show(service, auth, principal))
