"""Hits API: a person's hits (need to know), the workflow, statistics and the pursuit trail.

Thin handlers over ``HitService``. A hit the caller may not receive answers 404, exactly like
a hit that does not exist. Every read of hits is audited by the service.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.principals import Role
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response
from kruispunt.api.guard import caller, people
from kruispunt.hits.models import HitStatus
from kruispunt.hits.service import HitNotActive, HitService
from kruispunt.hits.store import HitError, OutcomeRequired, TransitionRefused, UnknownHit
from kruispunt.hits.views import CloseIn, HitDetail, HitPage, HitStats, HitView, StepIn, Trail
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["hits"])

US_PER_DAY = 86_400_000_000
MAX_LIMIT = 1000
MAX_STATS_DAYS = 366
NO_STATS_ROLES = frozenset({Role.MUNICIPALITY})  # no need to know about police workload

T = TypeVar("T")
_step_decoder = msgspec.json.Decoder(StepIn)
_close_decoder = msgspec.json.Decoder(CloseIn)

_NOT_FOUND = (ErrorOut, "Unknown, or not for this caller")
_AUTH = (ErrorOut, "No or unknown token")


class BadQuery(Exception):
    pass


def _service(request: Request) -> HitService:
    service: HitService = request.app.state.node.hits
    return service


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadQuery(f"{name} must be between {low} and {high}")
    return value


def _hit_error(exc: HitError) -> Response:
    if isinstance(exc, UnknownHit):
        return error_response(404, "unknown_hit", f"no hit {exc}")
    if isinstance(exc, TransitionRefused):
        return error_response(409, "transition_refused", str(exc))
    if isinstance(exc, HitNotActive):
        return error_response(409, "hit_not_active", str(exc))
    if isinstance(exc, OutcomeRequired):
        return error_response(400, "outcome_required", str(exc))
    return error_response(400, "hit_refused", str(exc))


_auth = caller  # the signed-in caller, or the 401 to answer with


@router.get(
    "/api/v1/hits",
    summary="The caller's hits after a hit seq (need to know), oldest first",
    responses=schema.responses({200: (HitPage, "A page of hits"), 400: (ErrorOut, ""), 401: _AUTH}),
)
@people()
async def list_hits(request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        since = _int_param(request, "since", 0, 0, 2**62)
        limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
        raw_status = request.query_params.get("status") or None
        status = HitStatus(raw_status) if raw_status is not None else None
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc))
    except ValueError:
        return error_response(400, "bad_query", f"status must be one of {[*HitStatus]}")
    page = await asyncio.to_thread(
        _service(request).list_hits, principal, since=since, limit=limit, status=status
    )
    return json_response(page)


@router.get(
    "/api/v1/hits/stats",
    summary="Hits per receiving zone and per list (the caller's zone; admin, zone chief: all)",
    responses=schema.responses(
        {200: (HitStats, "Statistics"), 401: _AUTH, 403: (ErrorOut, "Not for this role")}
    ),
)
@people()
async def hit_stats(request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    if principal.role in NO_STATS_ROLES:
        return error_response(403, "forbidden", "hit statistics are not for this role")
    try:
        days = _int_param(request, "days", 7, 1, MAX_STATS_DAYS)
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc))
    service = _service(request)
    now = service.now_us()
    stats = await asyncio.to_thread(service.stats, principal, since_us=now - days * US_PER_DAY,
                                    until_us=now)  # fmt: skip
    return json_response(stats)


@router.get(
    "/api/v1/hits/{hit_id}",
    summary="One hit and its workflow",
    responses=schema.responses({200: (HitDetail, "The hit"), 401: _AUTH, 404: _NOT_FOUND}),
)
@people()
async def get_hit(hit_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        detail = await asyncio.to_thread(_service(request).get, hit_id, principal=principal)
    except HitError as exc:
        return _hit_error(exc)
    return json_response(detail)


@router.get(
    "/api/v1/hits/{hit_id}/trail",
    summary="The last cameras the vehicle of an active hit passed (pursuit; audited)",
    responses=schema.responses(
        {
            200: (Trail, "Newest first"),
            401: _AUTH,
            404: _NOT_FOUND,
            409: (ErrorOut, "Closed, historic or too old"),
        }
    ),
)
@people()
async def hit_trail(hit_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        trail = await asyncio.to_thread(_service(request).trail, hit_id, principal=principal)
    except HitError as exc:
        return _hit_error(exc)
    return json_response(trail)


_STEP_RESPONSES = schema.responses(
    {200: (HitView, "The updated hit"), 400: (ErrorOut, "Bad body"), 401: _AUTH,
     404: _NOT_FOUND, 409: (ErrorOut, "Not possible from the hit's status")}
)  # fmt: skip


async def _body(request: Request, decoder: msgspec.json.Decoder[T], empty: T | None) -> T:
    raw = await request.body()
    if not raw.strip() and empty is not None:
        return empty
    return decoder.decode(raw)


@router.post(
    "/api/v1/hits/{hit_id}/acknowledge",
    summary="Acknowledge a hit",
    openapi_extra=schema.body(StepIn, description="Optional note"),
    responses=_STEP_RESPONSES,
)
@people()
async def acknowledge(hit_id: str, request: Request) -> Response:
    return await _step(hit_id, request, "acknowledge")


@router.post(
    "/api/v1/hits/{hit_id}/dispatch",
    summary="Dispatch a unit for a hit",
    openapi_extra=schema.body(StepIn, description="Optional note"),
    responses=_STEP_RESPONSES,
)
@people()
async def dispatch(hit_id: str, request: Request) -> Response:
    return await _step(hit_id, request, "dispatch")


@router.post(
    "/api/v1/hits/{hit_id}/close",
    summary="Close a hit with its outcome",
    openapi_extra=schema.body(CloseIn, description="Outcome and note"),
    responses=_STEP_RESPONSES,
)
@people()
async def close(hit_id: str, request: Request) -> Response:
    return await _step(hit_id, request, "close")


async def _step(hit_id: str, request: Request, step: str) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)
    try:
        if step == "close":
            body = await _body(request, _close_decoder, None)
            call = asyncio.to_thread(service.close, hit_id, principal=principal,
                                     outcome=body.outcome, note=body.note)  # fmt: skip
        else:
            note = (await _body(request, _step_decoder, StepIn())).note
            fn = service.acknowledge if step == "acknowledge" else service.dispatch
            call = asyncio.to_thread(fn, hit_id, principal=principal, note=note)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return error_response(400, "invalid_body", str(exc))
    try:
        hit = await call
    except HitError as exc:
        return _hit_error(exc)
    return json_response(service.view(hit, principal))
