"""LEZ API: the published admission rules, and the permits the city manages.

Thin handlers over ``PermitService``: the traffic officers and the zone chief of the LEZ's
zone register foreign vehicles, grant exemptions and day passes, list and revoke them (every
call audited by the service). The rules are public: they are the city's regulation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.principals import Role
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies, Time, from_us, opt_from_us, opt_us
from kruispunt.api.errors import RequestRefused, json_response, refuses
from kruispunt.api.guard import people, public
from kruispunt.api.records import DecisionNote, as_caller, decide, limit_query, node_of
from kruispunt.enforcement.lez import DeclaredVehicle, Permit, PermitKind, Rule
from kruispunt.enforcement.permits import MANAGERS, MAX_LIST, PermitError
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["low-emission zone"])

MAX_BODY = 65_536
_MANAGERS = sorted(MANAGERS, key=list(Role).index)


class PermitIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: PermitKind
    plate: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=2, description="ISO 3166.")]
    day: Annotated[dt.date | None, msgspec.Meta(description="A day pass: the day.")] = None
    valid_from: Annotated[Time | None, msgspec.Meta(description="Not for a day pass.")] = None
    valid_until: Annotated[Time | None, msgspec.Meta(description="Not for a day pass.")] = None
    reason: Annotated[
        str, msgspec.Meta(max_length=2000, description="Why (required for an exemption).")
    ] = ""
    vehicle: Annotated[
        DeclaredVehicle | None, msgspec.Meta(description="A registration: the vehicle.")
    ] = None


class PermitRevoke(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: DecisionNote = ""


class PermitRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: PermitKind
    plate: str
    country: str
    day: dt.date | None
    valid_from: dt.datetime
    valid_until: dt.datetime
    active: Annotated[bool, msgspec.Meta(description="Valid now and not revoked.")]
    reason: str
    vehicle: DeclaredVehicle | None
    created_by: str
    created_at: dt.datetime
    revoked_by: str | None
    revoked_at: dt.datetime | None
    revoke_note: str | None
    day_passes_left: Annotated[
        int | None, msgspec.Meta(description="A day pass: how many more its year allows.")
    ] = None

    @classmethod
    def of(cls, p: Permit, now_us: int, left: int | None = None) -> PermitRead:
        active = p.valid_at(now_us)
        return cls(
            id=p.id, kind=p.kind, plate=p.plate, country=p.country, day=p.day,
            valid_from=from_us(p.valid_from_us), valid_until=from_us(p.valid_until_us),
            active=active, reason=p.reason, vehicle=p.vehicle, created_by=p.created_by,
            created_at=from_us(p.created_us), revoked_by=p.revoked_by,
            revoked_at=opt_from_us(p.revoked_us), revoke_note=p.revoke_note,
            day_passes_left=left,
        )  # fmt: skip


class RulesRead(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    city: str
    version: str
    digest: str
    published: dt.date
    changes: tuple[str, ...]
    in_force_since: dt.date
    categories: tuple[str, ...]
    fuel_classes: dict[str, tuple[str, ...]]
    registration_exempt_countries: tuple[str, ...]
    day_passes_per_year: int
    rules: tuple[Rule, ...]


SCHEMAS = (PermitIn, PermitRevoke, PermitRead, RulesRead)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_bodies = JsonBodies(code="invalid_permit", limit=MAX_BODY)
_AUTH = (ErrorOut, "No or unknown token")
_FORBIDDEN = (ErrorOut, "Not a traffic officer or the zone chief of the LEZ's zone")
_UNKNOWN = (ErrorOut, "`unknown_permit`")


@router.get(
    "/api/v1/lez/rules",
    summary="The LEZ's admission rules in force and announced, with their version",
    responses=schema.responses({200: (RulesRead, "The rule set every decision cites")}),
)
@public("the LEZ admission rules are the city's published regulation: no personal data")
async def rules(request: Request) -> Response:
    ruleset = node_of(request).lez_rules
    data = ruleset.data
    return json_response(
        RulesRead(
            name=data.name,
            city=data.city,
            version=data.version,
            digest=ruleset.digest,
            published=data.published,
            changes=data.changes,
            in_force_since=data.in_force_since,
            categories=data.categories,
            fuel_classes=data.fuel_classes,
            registration_exempt_countries=data.registration_exempt_countries,
            day_passes_per_year=data.day_passes.per_year,
            rules=data.rules,
        )
    )


@router.post(
    "/api/v1/lez/permits",
    summary="Register a foreign vehicle, grant an exemption or a day pass (audited)",
    status_code=201,
    openapi_extra=schema.body(PermitIn, description="The permit: its kind, vehicle, period."),
    responses=schema.responses(
        {
            201: (PermitRead, "Created"),
            400: (ErrorOut, "`invalid_permit`"),
            401: _AUTH,
            403: _FORBIDDEN,
            409: (ErrorOut, "`day_pass_limit`, `day_pass_exists`"),
        }
    ),
)
@people(*_MANAGERS)
@refuses(PermitError)
async def create_permit(request: Request) -> Response:
    body = await _bodies.read(request, PermitIn)
    service = node_of(request).lez_permits
    _, permit = await as_caller(
        request,
        lambda principal: service.create(
            principal,
            kind=body.kind,
            plate=body.plate,
            country=body.country,
            reason=body.reason,
            day=body.day,
            valid_from_us=opt_us(body.valid_from),
            valid_until_us=opt_us(body.valid_until),
            vehicle=body.vehicle,
        ),
    )
    left = None
    if permit.day is not None:
        used = await asyncio.to_thread(
            service.day_passes_used, permit.plate, permit.country, permit.day.year
        )
        left = max(0, service.rules.data.day_passes.per_year - used)
    return json_response(PermitRead.of(permit, service.now(), left), 201)


@router.get(
    "/api/v1/lez/permits",
    summary="The LEZ's permits, newest first (query: plate, kind, active, limit; audited)",
    responses=schema.responses(
        {
            200: (list[PermitRead], "Newest first"),
            400: (ErrorOut, "`bad_query`, `invalid_permit`"),
            401: _AUTH,
            403: _FORBIDDEN,
        }
    ),
)
@people(*_MANAGERS)
@refuses(PermitError)
async def list_permits(request: Request) -> Response:
    params = request.query_params
    filters: dict[str, Any] = {"limit": limit_query(request, most=MAX_LIST)}
    if params.get("plate"):
        filters["plate"] = params["plate"]
    if params.get("kind"):
        try:
            filters["kind"] = PermitKind(params["kind"])
        except ValueError:
            kinds = ", ".join(k.value for k in PermitKind)
            raise RequestRefused(f"kind: one of {kinds}", "bad_query") from None
    if params.get("active"):
        if params["active"] not in ("true", "false"):
            raise RequestRefused("active: true or false", "bad_query")
        filters["active"] = params["active"] == "true"
    service = node_of(request).lez_permits
    _, permits = await as_caller(request, lambda principal: service.list(principal, **filters))
    now = service.now()
    return json_response([PermitRead.of(p, now) for p in permits])


@router.get(
    "/api/v1/lez/permits/{permit_id}",
    summary="One LEZ permit (audited)",
    responses=schema.responses(
        {200: (PermitRead, "The permit"), 401: _AUTH, 403: _FORBIDDEN, 404: _UNKNOWN}
    ),
)
@people(*_MANAGERS)
@refuses(PermitError)
async def get_permit(permit_id: str, request: Request) -> Response:
    service = node_of(request).lez_permits
    _, permit = await as_caller(request, lambda principal: service.get(permit_id, actor=principal))
    return json_response(PermitRead.of(permit, service.now()))


@router.post(
    "/api/v1/lez/permits/{permit_id}/revoke",
    summary="Revoke a LEZ permit from now on (a note; audited)",
    openapi_extra=schema.body(PermitRevoke, description="Why the permit is revoked."),
    responses=schema.responses(
        {
            200: (PermitRead, "Revoked"),
            400: (ErrorOut, "`invalid_permit`: the note is missing"),
            401: _AUTH,
            403: _FORBIDDEN,
            404: _UNKNOWN,
            409: (ErrorOut, "`permit_revoked`"),
        }
    ),
)
@people(*_MANAGERS)
@refuses(PermitError)
async def revoke_permit(permit_id: str, request: Request) -> Response:
    service = node_of(request).lez_permits
    _, permit = await decide(
        request,
        _bodies,
        PermitRevoke,
        lambda principal, body: service.revoke(permit_id, actor=principal, note=body.note),
    )
    return json_response(PermitRead.of(permit, service.now()))
