"""Sign-in for people: password and (when enrolled) a TOTP code give a session token.

The session token is used like an API token (``Authorization: Bearer``), so no cookie and
no cross-site request to forge. It ends when idle (``access.session_idle_s``), at its
absolute limit, at sign-out, or when the password changes. Every attempt is audited in
``SessionService``; a wrong user, password or code, a switched-off user and a locked account
all look the same from outside (401 ``login_failed``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.auth import AuthError, principal_from_request, token_of
from kruispunt.access.sessions import AccountLocked, SessionService
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import people, public
from kruispunt.errors import Refused
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["sign-in"])
MAX_BODY = 4096


class LoginIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    totp: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class SessionOut(msgspec.Struct, frozen=True, kw_only=True):
    token: Annotated[str, msgspec.Meta(description="Send as Authorization: Bearer <token>.")]
    user_id: str
    zone_id: str
    role: str
    expires_us: int
    idle_timeout_s: int


class PasswordIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    current: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    new: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class TotpEnrolled(msgspec.Struct, frozen=True, kw_only=True):
    secret: str
    provisioning_uri: str


class TotpConfirm(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=6, max_length=10)]


SCHEMAS = (LoginIn, SessionOut, PasswordIn, TotpEnrolled, TotpConfirm)


def _sessions(request: Request) -> SessionService:
    service: SessionService = request.app.state.node.sessions
    return service


def _source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _refused(exc: Refused) -> Response:
    response = refusal_response(exc)
    if isinstance(exc, AccountLocked):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _body(request: Request, kind: type[msgspec.Struct]) -> msgspec.Struct | Response:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return error_response(413, "body_too_large", f"at most {MAX_BODY} bytes")
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return error_response(400, "invalid_body", str(exc))


@router.post(
    "/api/v1/auth/login",
    summary="Sign in with password (and TOTP code): a session token",
    responses=schema.responses(
        {200: (SessionOut, "Signed in"), 401: (ErrorOut, "`login_failed` / `totp_required`")}
    ),
)
@public("sign-in: takes credentials, gives a session; no data behind it")
async def login(request: Request) -> Response:
    creds = await _body(request, LoginIn)
    if isinstance(creds, Response):
        return creds
    assert isinstance(creds, LoginIn)
    try:
        # Off the event loop: each argon2 check costs ~50 ms of CPU.
        session = await asyncio.to_thread(
            _sessions(request).login,
            creds.user_id, creds.password, creds.totp, source_ip=_source_ip(request),
        )  # fmt: skip
    except Refused as exc:
        return _refused(exc)
    p = session.principal
    return json_response(
        SessionOut(token=session.token, user_id=p.user_id, zone_id=p.zone_id, role=str(p.role),
                   expires_us=session.expires_us, idle_timeout_s=session.idle_timeout_s)
    )  # fmt: skip


@router.post("/api/v1/auth/logout", summary="End this session", status_code=204)
@people()
async def logout(request: Request) -> Response:
    token = token_of(request)
    if token is not None:
        _sessions(request).logout(token)
    return Response(status_code=204)


@router.post("/api/v1/auth/password", summary="Change one's own password", status_code=204)
@people()
async def change_password(request: Request) -> Response:
    principal = principal_from_request(request)
    body = await _body(request, PasswordIn)
    if isinstance(body, Response):
        return body
    assert isinstance(body, PasswordIn)
    sessions = _sessions(request)
    if not sessions.check_password(principal.user_id, body.current):
        return error_response(403, "wrong_password", "the current password is not right")
    try:
        sessions.set_password(
            principal.user_id, body.new, actor=principal, keep_token=token_of(request)
        )
    except Refused as exc:
        return _refused(exc)
    return Response(status_code=204)


@router.post("/api/v1/auth/totp", summary="Start enrolling a TOTP second factor")
@people()
async def enrol_totp(request: Request) -> Response:
    from kruispunt.access.credentials import provisioning_uri

    principal = principal_from_request(request)
    try:
        secret = _sessions(request).enrol_totp(principal.user_id, actor=principal)
    except Refused as exc:
        return _refused(exc)
    uri = provisioning_uri(secret, principal.user_id)
    return json_response(TotpEnrolled(secret=secret, provisioning_uri=uri))


@router.post(
    "/api/v1/auth/totp/confirm", summary="Confirm the second factor with a code", status_code=204
)
@people()
async def confirm_totp(request: Request) -> Response:
    try:
        principal = principal_from_request(request)
    except AuthError as exc:
        return error_response(exc.status, exc.code, exc.message)
    body = await _body(request, TotpConfirm)
    if isinstance(body, Response):
        return body
    assert isinstance(body, TotpConfirm)
    try:
        _sessions(request).confirm_totp(principal.user_id, body.code)
    except Refused as exc:
        return _refused(exc)
    return Response(status_code=204)
