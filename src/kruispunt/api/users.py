"""Users API: an admin creates users, issues their tokens and switches them off.

Thin handlers over ``UserService``; every change is audited there. A token is shown once,
in the answer that creates it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.auth import AuthError, principal_from_request, require_admin
from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.users import (
    UserError,
    UserService,
)
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import admin, people
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["users"])

MAX_BODY = 16_384


class UserCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["pz5364-op-017"])]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    zone_id: Annotated[str, msgspec.Meta(description="A zone of the network, or 'network'.")]
    role: Role


class UserCreated(msgspec.Struct, frozen=True, kw_only=True):
    user: User
    token: Annotated[str, msgspec.Meta(description="Shown once; only its hash is kept.")]


class UserToken(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    token: str


SCHEMAS = (UserCreate, UserCreated, UserToken, User, Principal)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_create_decoder = msgspec.json.Decoder(UserCreate)
_AUTH = (ErrorOut, "No or unknown token")
_FORBIDDEN = (ErrorOut, "Not an admin")
_UNKNOWN = (ErrorOut, "`unknown_user`")


def _service(request: Request) -> UserService:
    service: UserService = request.app.state.node.users
    return service


def _auth(request: Request, *, admin: bool = False) -> Principal | Response:
    try:
        principal = principal_from_request(request)
        if admin:
            require_admin(principal)
    except AuthError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return principal


@router.get(
    "/api/v1/users/me",
    summary="Who am I: the caller's user id, zone and role",
    responses=schema.responses({200: (Principal, "The caller"), 401: _AUTH}),
)
@people()
async def whoami(request: Request) -> Response:
    principal = _auth(request)
    return principal if isinstance(principal, Response) else json_response(principal)


@router.get(
    "/api/v1/users",
    summary="All users (admin)",
    responses=schema.responses({200: (list[User], "Users"), 401: _AUTH, 403: _FORBIDDEN}),
)
@admin()
async def list_users(request: Request) -> Response:
    principal = _auth(request, admin=True)
    return principal if isinstance(principal, Response) else json_response(_service(request).all())


@router.post(
    "/api/v1/users",
    summary="Create a user (admin); the answer holds the user's API token, shown once",
    status_code=201,
    openapi_extra=schema.body(UserCreate, description="The new user."),
    responses=schema.responses(
        {
            201: (UserCreated, "Created"),
            400: (ErrorOut, "`invalid_user`, `unknown_zone`"),
            401: _AUTH,
            403: _FORBIDDEN,
            409: (ErrorOut, "`user_exists`"),
        }
    ),
)
@admin()
async def create_user(request: Request) -> Response:
    principal = _auth(request, admin=True)
    if isinstance(principal, Response):
        return principal
    body = await request.body()
    if len(body) > MAX_BODY:
        return error_response(413, "body_too_large", "request body too large")
    try:
        new = _create_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return error_response(400, "invalid_user", str(exc))
    user = User(id=new.id, name=new.name, zone_id=new.zone_id, role=new.role)
    try:
        token = await asyncio.to_thread(_service(request).create, user, actor=principal)
    except UserError as exc:
        return refusal_response(exc)
    return json_response(UserCreated(user=user, token=token), 201)


@router.get(
    "/api/v1/users/{user_id}",
    summary="One user (admin, or the user)",
    responses=schema.responses({200: (User, "The user"), 401: _AUTH, 404: _UNKNOWN}),
)
@people()  # oneself, or an admin (the handler decides; others get 404)
async def get_user(user_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    user = _service(request).get(user_id)
    # Someone else's record answers 404 like a missing one: no probing for user ids.
    if user is None or (principal.role != Role.ADMIN and principal.user_id != user_id):
        return error_response(404, "unknown_user", f"no user {user_id!r}")
    return json_response(user)


@router.post(
    "/api/v1/users/{user_id}/token",
    summary="Issue a new token (admin, or the user); the old one stops working at once",
    responses=schema.responses(
        {
            200: (UserToken, "The new token, shown once"),
            400: (ErrorOut, "`user_inactive`"),
            401: _AUTH,
            403: (ErrorOut, "Someone else's token, not an admin"),
            404: _UNKNOWN,
        }
    ),
)
@people()  # oneself, or an admin (the handler decides; others get 404)
async def issue_token(user_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        token = await asyncio.to_thread(_service(request).issue_token, user_id, actor=principal)
    except UserError as exc:
        return refusal_response(exc)
    return json_response(UserToken(user_id=user_id, token=token))


@router.post(
    "/api/v1/users/{user_id}/deactivate",
    summary="Switch a user off (admin): the token stops working at once; the record stays",
    responses=schema.responses(
        {200: (User, "The deactivated user"), 401: _AUTH, 403: _FORBIDDEN, 404: _UNKNOWN}
    ),
)
@admin()
async def deactivate_user(user_id: str, request: Request) -> Response:
    principal = _auth(request, admin=True)
    if isinstance(principal, Response):
        return principal
    try:
        user = await asyncio.to_thread(_service(request).deactivate, user_id, actor=principal)
    except UserError as exc:
        return refusal_response(exc)
    return json_response(user)
