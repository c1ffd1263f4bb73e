"""Authorisations API: the prosecutor's (or senior officer's) decisions recorded for a case.

A magistrate records their own decision, a zone chief transcribes one their zone received;
a magistrate or the zone's chief revokes it. Thin handlers over ``AuthorisationService``:
who may record or revoke is checked there, and every refused attempt is audited there, so
the record and revoke routes let every signed-in person through the guard on purpose.
Oversight (DPO, auditor) reads every authorisation without the plates of its scope.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

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
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import caller, people
from kruispunt.ingest.wire import ErrorOut
from kruispunt.law.profiles import AuthorisationKind

router = APIRouter(tags=["authorisations"])

MAX_BODY = 262_144
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_READERS = sorted(READERS, key=list(Role).index)

Time = Annotated[dt.datetime, msgspec.Meta(tz=True, description="ISO 8601 with a UTC offset.")]
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
            cameras=list(s.cameras), zones=list(s.zones), data_since=_opt_time(s.since_us),
            data_until=_opt_time(s.until_us),
        )  # fmt: skip
        return cls(
            id=a.id, kind=a.kind, reference=a.reference, issued_by=a.issued_by,
            grounds=a.grounds, case=a.case, zone_id=a.zone_id, status=a.status_at(now_us),
            live=a.live_at(now_us), valid_from=_time(a.valid_from_us),
            valid_until=_time(a.valid_until_us), scope=scope, query_id=a.query_id,
            recorded_by=a.recorded_by, recorded_role=a.recorded_role,
            recorded_at=_time(a.created_us), revoked_by=a.revoked_by,
            revoked_at=_opt_time(a.revoked_us), revoke_note=a.revoke_note,
        )  # fmt: skip


SCHEMAS = (AuthorisationIn, AuthorisationScopeIn, RevokeIn, AuthorisationRead)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_in_decoder = msgspec.json.Decoder(AuthorisationIn)
_revoke_decoder = msgspec.json.Decoder(RevokeIn)
_AUTH = (ErrorOut, "No or unknown token")


class BadRequest(Exception):
    pass


def _patterns(patterns: tuple[str, ...], shown: bool) -> list[str]:
    """Partial plates as written, or only their shape for a viewer who sees no plates."""
    return list(patterns) if shown else [pattern_shape(p) for p in patterns]


def _time(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def _opt_time(us: int | None) -> dt.datetime | None:
    return None if us is None else _time(us)


def _us(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def _opt_us(t: dt.datetime | None) -> int | None:
    return None if t is None else _us(t)


def _service(request: Request) -> AuthorisationService:
    service: AuthorisationService = request.app.state.node.authorisations
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
async def record_authorisation(request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    try:
        body: AuthorisationIn = await _decode(request, _in_decoder, empty=None)
    except BadRequest as exc:
        return error_response(400, "invalid_authorisation", str(exc))
    service = _service(request)
    s = body.scope
    try:
        auth = await asyncio.to_thread(
            lambda: service.record(
                principal,
                kind=body.kind,
                reference=body.reference,
                grounds=body.grounds,
                case=body.case,
                valid_until_us=_us(body.valid_until),
                valid_from_us=_opt_us(body.valid_from),
                zone=body.zone,
                issued_by=body.issued_by,
                plates=s.plates,
                plate_patterns=s.plate_patterns,
                cameras=s.cameras,
                zones=s.zones,
                data_since_us=_opt_us(s.data_since),
                data_until_us=_opt_us(s.data_until),
                query_id=body.query_id,
            )
        )
    except AuthorisationError as exc:
        return refusal_response(exc)
    return json_response(AuthorisationRead.of(auth, service.now(), principal), 201)


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
async def list_authorisations(request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    params = request.query_params
    try:
        status = AuthorisationStatus(params["status"]) if params.get("status") else None
    except ValueError:
        known = ", ".join(s.value for s in AuthorisationStatus)
        return error_response(400, "bad_query", f"status: one of {known}")
    raw_limit = params.get("limit") or str(MAX_LIST)
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_LIST:
        return error_response(400, "bad_query", f"limit: an integer from 1 to {MAX_LIST}")
    service = _service(request)
    found = await asyncio.to_thread(
        lambda: service.list(
            principal,
            case=params.get("case") or None,
            zone=params.get("zone") or None,
            status=status,
            limit=int(raw_limit),
        )
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
async def get_authorisation(auth_id: str, request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)
    try:
        auth = await asyncio.to_thread(service.get, auth_id, actor=principal)
    except AuthorisationError as exc:
        return refusal_response(exc)
    return json_response(AuthorisationRead.of(auth, service.now(), principal))


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
async def revoke_authorisation(auth_id: str, request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    try:
        body: RevokeIn = await _decode(request, _revoke_decoder, empty=RevokeIn())
    except BadRequest as exc:
        return error_response(400, "invalid_authorisation", str(exc))
    service = _service(request)
    try:
        auth = await asyncio.to_thread(
            lambda: service.revoke(auth_id, actor=principal, note=body.note)
        )
    except AuthorisationError as exc:
        return refusal_response(exc)
    return json_response(AuthorisationRead.of(auth, service.now(), principal))
