"""Machine tokens API (admin): create (the secret shown once), list, read, revoke.

Thin handlers over ``MachineTokenService``, which checks and audits. Which routes each scope
opens to a machine: ``kruispunt.api.guard.MACHINE_ROUTES``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.machines import MachineToken, MachineTokenError, Scope
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies, Time, from_us, opt_from_us, to_us
from kruispunt.api.errors import json_response, refuses
from kruispunt.api.guard import MACHINE_ROUTES, admin
from kruispunt.api.records import as_caller, decide, node_of
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["machine tokens"])

MAX_BODY = 16_384


class MachineTokenIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200,
                                      description="Which system holds it.")]  # fmt: skip
    zone_id: Annotated[str, msgspec.Meta(description="The zone it acts for (and only that).")]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=len(Scope))]
    expires_at: Annotated[Time, msgspec.Meta(description="Required; at most the node's maximum "
                                             "(access.machine_token_max_days) ahead.")]  # fmt: skip
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RevokeIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class MachineTokenRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    zone_id: str
    scopes: tuple[Scope, ...]
    status: Annotated[str, msgspec.Meta(description="active, expired or revoked")]
    expires_at: dt.datetime
    created_by: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_by: str | None
    revoked_at: dt.datetime | None
    revoke_reason: str | None
    note: str

    @classmethod
    def of(cls, t: MachineToken, now_us: int) -> MachineTokenRead:
        return cls(
            id=t.id, name=t.name, zone_id=t.zone_id, scopes=t.scopes, status=t.status_at(now_us),
            expires_at=from_us(t.expires_us), created_by=t.created_by,
            created_at=from_us(t.created_us), last_used_at=opt_from_us(t.last_used_us),
            revoked_by=t.revoked_by, revoked_at=opt_from_us(t.revoked_us),
            revoke_reason=t.revoke_reason, note=t.note,
        )  # fmt: skip


class MachineTokenCreated(msgspec.Struct, frozen=True, kw_only=True):
    token: Annotated[
        str,
        msgspec.Meta(description="The secret, shown this once: Authorization: Bearer <token>."),
    ]
    machine_token: MachineTokenRead


class ScopeRead(msgspec.Struct, frozen=True, kw_only=True):
    scope: Scope
    routes: list[str]


SCHEMAS = (MachineTokenIn, RevokeIn, MachineTokenRead, MachineTokenCreated, ScopeRead)

_TOO_LARGE = f"at most {MAX_BODY} bytes"
_bodies = JsonBodies(code="invalid_machine_token", limit=MAX_BODY, too_large=_TOO_LARGE)
_revoke_bodies = JsonBodies(code="invalid_body", limit=MAX_BODY, too_large=_TOO_LARGE)
_AUTH = (ErrorOut, "No or unknown token")
_ADMIN = (ErrorOut, "Not an admin")
_UNKNOWN = (ErrorOut, "`unknown_machine_token`")


@router.post(
    "/api/v1/machine-tokens",
    summary="Create a machine's token (zone, scopes, expiry); the secret is shown once",
    status_code=201,
    openapi_extra=schema.body(MachineTokenIn, description="The token asked for."),
    responses=schema.responses(
        {201: (MachineTokenCreated, "Created"), 400: (ErrorOut, "`invalid_machine_token`"),
         401: _AUTH, 403: _ADMIN}
    ),
)  # fmt: skip
@admin()
@refuses(MachineTokenError)
async def create_machine_token(request: Request) -> Response:
    body = await _bodies.read(request, MachineTokenIn)
    service = node_of(request).machines
    _, (token, secret) = await as_caller(
        request,
        lambda actor: service.create(name=body.name, zone_id=body.zone_id, scopes=body.scopes,
                                     expires_us=to_us(body.expires_at), actor=actor,
                                     note=body.note),
    )  # fmt: skip
    read = MachineTokenRead.of(token, service.now())
    return json_response(MachineTokenCreated(token=secret, machine_token=read), 201)


@router.get(
    "/api/v1/machine-tokens",
    summary="Every machine token, newest first (never a secret)",
    responses=schema.responses({200: (list[MachineTokenRead], "Tokens"), 401: _AUTH, 403: _ADMIN}),
)
@admin()
@refuses()
async def list_machine_tokens(request: Request) -> Response:
    service = node_of(request).machines
    _, tokens = await as_caller(request, lambda actor: service.list(actor=actor))
    now = service.now()
    return json_response([MachineTokenRead.of(t, now) for t in tokens])


@router.get(
    "/api/v1/machine-tokens/scopes",
    summary="The scopes a machine token may hold, and the routes each one opens",
    responses=schema.responses({200: (list[ScopeRead], "Scopes"), 401: _AUTH, 403: _ADMIN}),
)
@admin()
async def list_scopes(request: Request) -> Response:
    return json_response([
        ScopeRead(scope=scope, routes=[f"{m} {p}" for (m, p), s in MACHINE_ROUTES.items()
                                       if s is scope])
        for scope in Scope
    ])  # fmt: skip


@router.get(
    "/api/v1/machine-tokens/{token_id}",
    summary="One machine token (never its secret)",
    responses=schema.responses(
        {200: (MachineTokenRead, "The token"), 401: _AUTH, 403: _ADMIN, 404: _UNKNOWN}
    ),
)
@admin()
@refuses(MachineTokenError)
async def get_machine_token(token_id: str, request: Request) -> Response:
    service = node_of(request).machines
    _, token = await as_caller(request, lambda actor: service.get(token_id, actor=actor))
    return json_response(MachineTokenRead.of(token, service.now()))


@router.post(
    "/api/v1/machine-tokens/{token_id}/revoke",
    summary="Revoke a machine token: it stops working at once",
    openapi_extra=schema.body(RevokeIn, description="Why (optional)."),
    responses=schema.responses(
        {200: (MachineTokenRead, "Revoked"), 401: _AUTH, 403: _ADMIN, 404: _UNKNOWN,
         409: (ErrorOut, "`machine_token_revoked`: revoked already")}
    ),
)  # fmt: skip
@admin()
@refuses(MachineTokenError)
async def revoke_machine_token(token_id: str, request: Request) -> Response:
    service = node_of(request).machines
    _, token = await decide(
        request,
        _revoke_bodies,
        RevokeIn,
        lambda actor, body: service.revoke(token_id, actor=actor, reason=body.reason),
    )
    return json_response(MachineTokenRead.of(token, service.now()))
