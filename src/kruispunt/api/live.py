"""Live hits for a person (Server-Sent Events and WebSocket) and the zones' webhooks.

Both streams carry the messages of ``kruispunt.live.hub`` as JSON, after a first
``{"type": "hello", "user_id", "zone_id", "role", "heartbeat_s"}``; SSE events carry
``id: <hit seq>`` on hits, so a browser's automatic reconnect (``Last-Event-ID``) resumes
where it stopped. Where to start: ``Last-Event-ID`` (SSE), else ``?since=<hit seq>``, else
``?backlog=<n>`` (the hits among the last ``n`` raised), else live hits only.

The token: ``Authorization: Bearer``, or ``?access_token=`` where a browser cannot set headers
(EventSource). A WebSocket may instead send ``{"type": "auth", "token": "..."}`` as its first
message (keeps the token out of URLs). A refused WebSocket is closed with 4401, a bad query
with 4400.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
from fastapi import APIRouter, Request
from starlette.requests import HTTPConnection
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from kruispunt.access.auth import AuthError, principal_for, principal_from_request, token_of
from kruispunt.access.principals import Principal, Role
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import people
from kruispunt.ingest.wire import ErrorOut
from kruispunt.live.hub import HitHub, Message, Subscription, SubscriptionClosed
from kruispunt.live.webhooks import (
    DeliveryStats,
    Webhook,
    WebhookDispatcher,
    WebhookError,
    WebhookStore,
)

router = APIRouter(tags=["live"])

HEARTBEAT_S = 15.0
AUTH_TIMEOUT_S = 10.0
MAX_BACKLOG = 1000
WS_UNAUTHORIZED = 4401
WS_BAD_QUERY = 4400
_encoder = msgspec.json.Encoder()
_AUTH = (ErrorOut, "No or unknown token")


class BadQuery(ValueError):
    pass


def _hub(conn: HTTPConnection) -> HitHub:
    hub: HitHub = conn.app.state.node.hub
    return hub


def _int(raw: str | None, name: str, high: int) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be an integer") from None
    if not 0 <= value <= high:
        raise BadQuery(f"{name} must be between 0 and {high}")
    return value


def start_seq(conn: HTTPConnection, hub: HitHub) -> int | None:
    """Where a stream starts (module docstring); None: live hits only."""
    last_event_id = _int(conn.headers.get("last-event-id"), "Last-Event-ID", 2**62)
    if last_event_id is not None:
        return last_event_id
    since = _int(conn.query_params.get("since"), "since", 2**62)
    if since is not None:
        return since
    backlog = _int(conn.query_params.get("backlog"), "backlog", MAX_BACKLOG)
    if backlog:
        return max(0, hub.high_seq() - backlog)
    return None


def hello(principal: Principal) -> Message:
    return {
        "type": "hello",
        "user_id": principal.user_id,
        "zone_id": principal.zone_id,
        "role": principal.role.value,
        "heartbeat_s": HEARTBEAT_S,
    }


def sse_event(message: Message) -> bytes:
    """One event; hits carry their seq as the event id (JSON holds no newline)."""
    head = f"id: {message['seq']}\n".encode() if message["type"] == "hit" else b""
    return head + b"data: " + _encoder.encode(message) + b"\n\n"


async def next_or_ping(sub: Subscription) -> Message | None:
    """The next message, or None after ``HEARTBEAT_S`` without one."""
    try:
        return await asyncio.wait_for(sub.get(), HEARTBEAT_S)
    except TimeoutError:
        return None


# -- Server-Sent Events -----------------------------------------------------------------------
@router.get(
    "/api/v1/hits/stream",
    summary="Live hits for the caller (Server-Sent Events; resume with Last-Event-ID)",
    responses={
        200: {"description": "text/event-stream", "content": {"text/event-stream": {}}},
        **schema.responses({400: (ErrorOut, "Bad since/backlog"), 401: _AUTH}),
    },
)
@people()
async def hits_stream(request: Request) -> Response:
    try:
        principal = principal_from_request(request)
    except AuthError as exc:
        return error_response(exc.status, exc.code, exc.message)
    hub = _hub(request)
    try:
        since = start_seq(request, hub)
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc))
    return StreamingResponse(
        _sse(hub, principal, since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse(hub: HitHub, principal: Principal, since: int | None) -> AsyncIterator[bytes]:
    # Subscribed once the response starts: a client gone before that leaves nothing behind.
    with hub.subscribe(principal, since) as sub:
        yield b"retry: 3000\n" + sse_event(hello(principal))
        while True:
            try:
                message = await next_or_ping(sub)
            except SubscriptionClosed:
                return
            yield b": ping\n\n" if message is None else sse_event(message)


# -- WebSocket --------------------------------------------------------------------------------
@router.websocket("/api/v1/hits/ws")
@people()
async def hits_ws(ws: WebSocket) -> None:
    await ws.accept()
    principal = await _ws_principal(ws)
    if principal is None:
        await ws.close(code=WS_UNAUTHORIZED, reason="unauthorized")
        return
    hub = _hub(ws)
    try:
        since = start_seq(ws, hub)
    except BadQuery as exc:
        await ws.close(code=WS_BAD_QUERY, reason=str(exc)[:120])
        return
    with hub.subscribe(principal, since) as sub:
        sender = asyncio.create_task(_ws_send(ws, sub, principal))
        receiver = asyncio.create_task(_ws_drain(ws))
        _done, pending = await asyncio.wait({sender, receiver}, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    with contextlib.suppress(Exception):  # already closed by the client
        await ws.close()


async def _ws_principal(ws: WebSocket) -> Principal | None:
    token = token_of(ws)
    if token is None:  # the token comes as the first message
        try:
            first = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S)
            doc = msgspec.json.decode(first)
        except (TimeoutError, WebSocketDisconnect, msgspec.DecodeError, KeyError, RuntimeError):
            return None
        if not isinstance(doc, dict) or doc.get("type") != "auth":
            return None
        token = doc.get("token")
        if not isinstance(token, str) or not token:
            return None
    return principal_for(ws, token)


async def _ws_send(ws: WebSocket, sub: Subscription, principal: Principal) -> None:
    try:
        await ws.send_text(_encoder.encode(hello(principal)).decode())
        while True:
            message = await next_or_ping(sub)
            payload = {"type": "ping"} if message is None else message
            await ws.send_text(_encoder.encode(payload).decode())
    except (SubscriptionClosed, WebSocketDisconnect, OSError, RuntimeError):
        return


async def _ws_drain(ws: WebSocket) -> None:
    """Reads (and ignores) what the client sends; returns when it goes away."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


# -- webhooks ---------------------------------------------------------------------------------
class WebhookCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: str
    zone_id: str | None = None  # default: the caller's zone


class WebhookRead(msgspec.Struct, frozen=True, kw_only=True):
    webhook: Webhook
    cursor: int  # the last hit seq dealt with
    delivered: int
    given_up: int
    last_error: str


class WebhookCreated(msgspec.Struct, frozen=True, kw_only=True):
    webhook: Webhook
    secret: str  # shown this once: sign-check every request with it


_create_decoder = msgspec.json.Decoder(WebhookCreate)


def _webhooks(request: Request) -> WebhookStore:
    webhooks: WebhookStore = request.app.state.node.webhooks
    return webhooks


def _stats(request: Request, hook_id: str) -> DeliveryStats | None:
    dispatcher: WebhookDispatcher | None = getattr(
        request.app.state.node, "webhook_dispatcher", None
    )
    return None if dispatcher is None else dispatcher.stats.get(hook_id)


def _manager(request: Request) -> Principal | Response:
    try:
        principal = principal_from_request(request)
    except AuthError as exc:
        return error_response(exc.status, exc.code, exc.message)
    if principal.role not in (Role.ZONE_CHIEF, Role.ADMIN):
        return error_response(403, "forbidden", "webhooks are managed by zone chiefs and admins")
    return principal


@router.post(
    "/api/v1/webhooks",
    status_code=201,
    summary="Add a zone's webhook (its zone chief, or admin); the secret is shown once",
    openapi_extra=schema.body(WebhookCreate, description="Where to POST the zone's hits"),
    responses=schema.responses(
        {
            201: (WebhookCreated, "Created"),
            400: (ErrorOut, "Bad URL or zone"),
            401: _AUTH,
            403: (ErrorOut, "Not this caller's zone"),
        }
    ),
)
@people(Role.ZONE_CHIEF, Role.ADMIN)
async def create_webhook(request: Request) -> Response:
    principal = _manager(request)
    if isinstance(principal, Response):
        return principal
    try:
        body = _create_decoder.decode(await request.body())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return error_response(400, "invalid_body", str(exc))
    zone_id = body.zone_id or principal.zone_id
    try:
        hook, secret = await asyncio.to_thread(
            _webhooks(request).create, zone_id, body.url, actor=principal
        )
    except WebhookError as exc:
        return refusal_response(exc)
    return json_response(WebhookCreated(webhook=hook, secret=secret), 201)


@router.get(
    "/api/v1/webhooks",
    summary="A zone's webhooks and their delivery state (zone chief: own zone; admin: all)",
    responses=schema.responses({200: (list[WebhookRead], "Webhooks"), 401: _AUTH}),
)
@people(Role.ZONE_CHIEF, Role.ADMIN)
async def list_webhooks(request: Request) -> Response:
    principal = _manager(request)
    if isinstance(principal, Response):
        return principal
    zone_id = request.query_params.get("zone_id") or None
    if principal.role is not Role.ADMIN:
        if zone_id not in (None, principal.zone_id):
            return error_response(403, "forbidden", "only your own zone's webhooks")
        zone_id = principal.zone_id
    hooks = await asyncio.to_thread(_webhooks(request).all, zone_id)
    return json_response([_read(request, hook) for hook in hooks])


def _read(request: Request, hook: Webhook) -> WebhookRead:
    stats = _stats(request, hook.id) or DeliveryStats()
    return WebhookRead(
        webhook=hook,
        cursor=stats.cursor,
        delivered=stats.delivered,
        given_up=stats.given_up,
        last_error=stats.last_error,
    )


@router.delete(
    "/api/v1/webhooks/{webhook_id}",
    status_code=204,
    summary="Remove a webhook (zone chief of its zone, or admin)",
    responses=schema.responses({401: _AUTH, 403: (ErrorOut, "Not your zone"), 404: (ErrorOut, "")}),
)
@people(Role.ZONE_CHIEF, Role.ADMIN)
async def delete_webhook(webhook_id: str, request: Request) -> Response:
    principal = _manager(request)
    if isinstance(principal, Response):
        return principal
    try:
        await asyncio.to_thread(_webhooks(request).delete, webhook_id, actor=principal)
    except WebhookError as exc:
        return refusal_response(exc)
    return Response(status_code=204)
