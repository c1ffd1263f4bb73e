"""Sign-in through the OpenID Connect provider, and the admin's links to it.

``GET /api/v1/auth/oidc/login`` sends the browser to the provider; the provider sends it
back to ``/api/v1/auth/oidc/callback``, which answers the same session as a password
sign-in (``SessionOut``: send its token as ``Authorization: Bearer``). The flow and every
check are in ``kruispunt.access.oidc``. With ``oidc.enabled`` false every route answers 404
``oidc_disabled``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from kruispunt.access.oidc import COOKIE, COOKIE_PATH, Link, OidcDisabled, OidcService
from kruispunt.access.oidc_protocol import OidcError
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import admin, caller, public
from kruispunt.api.signin import SessionOut
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["sign-in"])
MAX_BODY = 4096


class LinkIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    subject: Annotated[
        str, msgspec.Meta(min_length=1, max_length=255, description="The provider's `sub`.")
    ]


SCHEMAS = (LinkIn, Link)
_link_decoder = msgspec.json.Decoder(LinkIn)
_AUTH = (ErrorOut, "No or unknown token")
_DISABLED = (ErrorOut, "`oidc_disabled`")


def _oidc(request: Request) -> OidcService:
    service: OidcService | None = request.app.state.node.oidc
    if service is None:
        raise OidcDisabled("sign-in through an identity provider is not configured here")
    return service


@router.get(
    "/api/v1/auth/oidc/login",
    summary="Sign in through the identity provider: a redirect there",
    responses={
        302: {"description": "To the provider's authorization endpoint"},
        **schema.responses({404: _DISABLED, 502: (ErrorOut, "`oidc_unavailable`")}),
    },
)
@public("sign-in: sends the browser to the identity provider; no data behind it")
async def oidc_login(request: Request) -> Response:
    try:
        service = _oidc(request)
        url, flow = await service.begin()
    except OidcError as exc:
        return refusal_response(exc)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(COOKIE, flow, max_age=service.config.flow_ttl_s, path=COOKIE_PATH,
                        httponly=True, secure=service.secure_cookie, samesite="lax")  # fmt: skip
    return response


@router.get(
    "/api/v1/auth/oidc/callback",
    summary="Where the identity provider sends the browser back: a session token",
    responses=schema.responses(
        {200: (SessionOut, "Signed in"), 401: (ErrorOut, "`oidc_login_failed` (audited)"),
         404: _DISABLED, 502: (ErrorOut, "`oidc_unavailable`")}
    ),
)  # fmt: skip
@public("sign-in: takes the identity provider's answer, gives a session; no data behind it")
async def oidc_callback(request: Request) -> Response:
    try:
        service = _oidc(request)
        session = await service.finish(
            dict(request.query_params), request.cookies.get(COOKIE),
            source_ip=request.client.host if request.client else None,
        )  # fmt: skip
    except OidcError as exc:
        response = refusal_response(exc)
    else:
        p = session.principal
        response = json_response(
            SessionOut(token=session.token, user_id=p.user_id, zone_id=p.zone_id,
                       role=str(p.role), expires_us=session.expires_us,
                       idle_timeout_s=session.idle_timeout_s)
        )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(COOKIE, path=COOKIE_PATH)  # one try per started sign-in
    return response


@router.get(
    "/api/v1/auth/oidc/links",
    summary="Identities of the provider linked to users",
    responses=schema.responses(
        {200: (list[Link], "Links"), 401: _AUTH, 403: (ErrorOut, "Not an admin"), 404: _DISABLED}
    ),
)
@admin()
async def list_links(request: Request) -> Response:
    actor = caller(request)
    if isinstance(actor, Response):
        return actor
    try:
        service = _oidc(request)
        return json_response(await asyncio.to_thread(service.links, actor=actor))
    except OidcError as exc:
        return refusal_response(exc)


@router.post(
    "/api/v1/auth/oidc/links",
    summary="Link a provider identity (its subject) to an existing user",
    status_code=201,
    openapi_extra=schema.body(LinkIn, description="The user and the provider's subject."),
    responses=schema.responses(
        {201: (Link, "Linked"), 400: (ErrorOut, "`invalid_link`, `unknown_user` ..."),
         401: _AUTH, 403: (ErrorOut, "Not an admin"), 404: _DISABLED,
         409: (ErrorOut, "`link_exists`")}
    ),
)  # fmt: skip
@admin()
async def create_link(request: Request) -> Response:
    actor = caller(request)
    if isinstance(actor, Response):
        return actor
    raw = await request.body()
    try:
        if len(raw) > MAX_BODY:
            raise ValueError(f"at most {MAX_BODY} bytes")
        body = _link_decoder.decode(raw)
    except (ValueError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        return error_response(400, "invalid_link", str(exc))
    try:
        service = _oidc(request)
        link = await asyncio.to_thread(service.link, body.user_id, body.subject, actor=actor)
    except OidcError as exc:
        return refusal_response(exc)
    return json_response(link, 201)


@router.delete(
    "/api/v1/auth/oidc/links/{subject:path}",
    summary="Unlink a provider identity: it can no longer sign in here",
    responses=schema.responses(
        {200: (Link, "The link removed"), 401: _AUTH, 403: (ErrorOut, "Not an admin"),
         404: (ErrorOut, "`unknown_link` / `oidc_disabled`")}
    ),
)  # fmt: skip
@admin()
async def delete_link(subject: str, request: Request) -> Response:
    actor = caller(request)
    if isinstance(actor, Response):
        return actor
    try:
        service = _oidc(request)
        return json_response(await asyncio.to_thread(service.unlink, subject, actor=actor))
    except OidcError as exc:
        return refusal_response(exc)
