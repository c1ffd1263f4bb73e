"""Who is calling: a user's token (or the node's admin token) to a ``Principal``.

A token is a user's API token or a session token from ``POST /api/v1/auth/login``. It
comes from ``Authorization: Bearer <token>``, or from the query parameter
``access_token`` where a browser cannot set headers (EventSource, WebSocket). The node's
admin token (``server.admin_token``) is the built-in administrator: role admin, zone
"network", user id "admin". A machine's token (``kpm_...``) is never a person's: the guard
admits it on the routes that declare one of its scopes (``kruispunt.api.guard``).
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection, Request
from starlette.websockets import WebSocket

from kruispunt.access.machines import MachineToken, MachineTokenService, is_machine_token
from kruispunt.access.principals import Principal, Role

ADMIN = Principal(user_id="admin", zone_id="network", role=Role.ADMIN)


class AuthError(Exception):
    """The caller is not authenticated (401) or may not go on (403)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def token_of(conn: HTTPConnection) -> str | None:
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = conn.query_params.get("access_token")
    return query or None


def principal_for(conn: HTTPConnection, token: str) -> Principal | None:
    node = conn.app.state.node
    admin_token: str | None = node.config.server.admin_token
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return ADMIN
    if is_machine_token(token):  # a machine is admitted only by the guard, per route scope
        return None
    principal: Principal | None = node.users.principal_for_token(token)
    sessions = getattr(node, "sessions", None)  # (apps built on parts of a node have none)
    if principal is None and sessions is not None:  # a person signed in with a password
        principal = sessions.principal_for_session(token)
    return principal


def machine_token_for(conn: HTTPConnection, token: str) -> MachineToken | None:
    """The live machine token with this secret, or None (see ``kruispunt.api.guard``)."""
    machines: MachineTokenService | None = getattr(conn.app.state.node, "machines", None)
    return None if machines is None else machines.resolve(token)


def principal_from_request(request: Request) -> Principal:
    """The caller, or ``AuthError(401, "unauthorized", ...)``. Resolved once per request:
    the route's guard and its handler both ask, and a session token costs a store read."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    token = token_of(request)
    if token is None:
        raise AuthError(401, "unauthorized", "a bearer token is required")
    principal = principal_for(request, token)
    if principal is None:
        raise AuthError(401, "unauthorized", "unknown or revoked token")
    request.state.principal = principal
    return principal


def principal_from_websocket(ws: WebSocket) -> Principal | None:
    """The WebSocket's caller, or None (close the socket with 4401/1008)."""
    token = token_of(ws)
    return None if token is None else principal_for(ws, token)


def require_admin(principal: Principal) -> None:
    if principal.role != Role.ADMIN:
        raise AuthError(403, "forbidden", "an admin is required")
