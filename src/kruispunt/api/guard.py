"""Who may call each route, declared on the route itself and enforced before its handler.

Every route of the API carries one guard:

- ``public(why)``: no personal data behind it (health, the zone list); the reason is
  written down where a reviewer sees it.
- ``camera()``: a camera's own token (ingest checks it with the batch).
- ``people(*roles)``: a signed-in person (user token or session) with one of these roles;
  anyone else gets 401 (no or unknown token) or 403 (a role not listed) before the handler
  runs. What exactly they may see (zones, lists, hits) is still decided by the service, per
  object; the guard is the floor under that, not the whole policy.
- ``admin()``: the node's administrator (its admin token or a user with the admin role).

Machines (a partner node, a dashboard, a back-office system) hold tokens with scopes
(``kruispunt.access.machines``). ``MACHINE_ROUTES`` below lists, in one place, every route a
machine may call and the scope each needs; there a token holding the scope is admitted as a
``MachineCaller`` of its zone, and the service filters by that zone as it does for a person.
Anywhere else a machine token is refused: 403 when it is live, 401 when unknown, revoked or
expired; a person's guard never admits one by its role.

``tests/test_guards.py`` walks every route of the app: a route without a guard fails the
suite, so a new endpoint cannot ship open by accident; it tries every role and every
machine scope against every route.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from kruispunt.access.auth import AuthError, machine_token_for, principal_from_request, token_of
from kruispunt.access.machines import Scope, is_machine_token
from kruispunt.access.principals import Principal, Role
from kruispunt.api.errors import error_response

GUARD_ATTRIBUTE = "__kruispunt_guard__"
EVERYONE = frozenset(Role)

MACHINE_ROUTES: Mapping[tuple[str, str], Scope] = MappingProxyType({
    # hits:read: the hits the token's zone receives (HitService and HitHub check each hit's
    # audience against the caller's zone and role). Not the workflow, stats or trail.
    ("GET", "/api/v1/hits"): Scope.HITS_READ,
    ("GET", "/api/v1/hits/{hit_id}"): Scope.HITS_READ,
    ("GET", "/api/v1/hits/stream"): Scope.HITS_READ,
    # hotlists:read: the zone's own lists (HotlistService: entries for the owner zone only;
    # the list of lists shows only those the caller may read). Not GET /hotlists/{id}, which
    # shows any list's name to a person.
    ("GET", "/api/v1/hotlists"): Scope.HOTLISTS_READ,
    ("GET", "/api/v1/hotlists/{list_id}/entries"): Scope.HOTLISTS_READ,
    ("GET", "/api/v1/hotlists/{list_id}/entries/{entry_id}"): Scope.HOTLISTS_READ,
    ("GET", "/api/v1/hotlists/{list_id}/export"): Scope.HOTLISTS_READ,
    # hotlists:write: entries of the zone's own lists (HotlistService.changeable: owner zone).
    # Not the lists themselves (create, change, delete stay with people).
    ("POST", "/api/v1/hotlists/{list_id}/entries"): Scope.HOTLISTS_WRITE,
    ("PUT", "/api/v1/hotlists/{list_id}/entries/{entry_id}"): Scope.HOTLISTS_WRITE,
    ("DELETE", "/api/v1/hotlists/{list_id}/entries/{entry_id}"): Scope.HOTLISTS_WRITE,
    ("POST", "/api/v1/hotlists/{list_id}/import"): Scope.HOTLISTS_WRITE,
    # offences:read: what a traffic officer of the token's zone reads (OffenceService's
    # purpose limitation: that zone's section control, the LEZ for the LEZ's zone). Not the
    # status changes, the statistics or the dashboards, which stay with people.
    ("GET", "/api/v1/offences"): Scope.OFFENCES_READ,
    ("GET", "/api/v1/offences/export"): Scope.OFFENCES_READ,
    ("GET", "/api/v1/offences/{offence_id}"): Scope.OFFENCES_READ,
})  # fmt: skip
"""(method, route path) -> the machine scope that may call it. Only ``people`` routes whose
handler takes the ``Request`` (the guard runs before them) may be listed."""

F = TypeVar("F", bound=Callable[..., Any])


class Caller(enum.StrEnum):
    PUBLIC = "public"
    CAMERA = "camera"
    PEOPLE = "people"


@dataclass(frozen=True, slots=True)
class Guard:
    caller: Caller
    roles: frozenset[Role] = frozenset()
    why: str = ""


def guard_of(endpoint: Callable[..., Any]) -> Guard | None:
    guard: Guard | None = getattr(endpoint, GUARD_ATTRIBUTE, None)
    return guard


def _mark(guard: Guard) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        setattr(fn, GUARD_ATTRIBUTE, guard)
        return fn

    return mark


def public(why: str) -> Callable[[F], F]:
    if len(why.split()) < 3:
        raise ValueError("say why this route may be public")
    return _mark(Guard(Caller.PUBLIC, why=why))


def camera() -> Callable[[F], F]:
    return _mark(Guard(Caller.CAMERA))


def admin() -> Callable[[F], F]:
    return people(Role.ADMIN)


def people(*roles: Role) -> Callable[[F], F]:
    """Signed-in people with one of ``roles`` (none given: every role)."""
    allowed = frozenset(roles) or EVERYONE
    guard = Guard(Caller.PEOPLE, roles=allowed)

    def wrap(fn: F) -> F:
        params = inspect.signature(fn).parameters
        request_param = next(
            (name for name, p in params.items() if p.annotation in (Request, "Request")), None
        )
        if request_param is None or not inspect.iscoroutinefunction(fn):
            # A WebSocket or a handler without the request: it checks the caller itself
            # (and its test says so); the guard is still declared for the route walk.
            return _mark(guard)(fn)
        handler: Callable[..., Awaitable[Any]] = fn

        @functools.wraps(fn)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            refused = check(kwargs[request_param], guard)
            if refused is not None:
                return refused
            return await handler(*args, **kwargs)

        setattr(guarded, GUARD_ATTRIBUTE, guard)
        return guarded  # type: ignore[return-value]

    return wrap


def caller(request: Request) -> Principal | Response:
    """The signed-in caller, or the 401 to answer with (for handlers that decide per object)."""
    try:
        return principal_from_request(request)
    except AuthError as exc:
        return error_response(exc.status, exc.code, exc.message)


def check(request: Request, guard: Guard) -> Response | None:
    """The refusal for a caller the guard does not let through, or None."""
    try:
        principal = principal_from_request(request)
    except AuthError as exc:
        return _machine(request, exc)
    if principal.role not in guard.roles:
        return error_response(
            403, "forbidden", f"a {principal.role} may not use this ({request.url.path})"
        )
    return None


def machine_scope(method: str, path: str) -> Scope | None:
    """The scope a machine needs for this route (its path template), or None: not for them."""
    return MACHINE_ROUTES.get(("GET" if method == "HEAD" else method, path))


def _machine(request: Request, refused: AuthError) -> Response | None:
    """Not a person: a machine token holding the route's scope goes on as its
    ``MachineCaller``; anything else gets its refusal."""
    token = token_of(request)
    if token is None or not is_machine_token(token):
        return error_response(refused.status, refused.code, refused.message)
    machine = machine_token_for(request, token)
    if machine is None:
        return error_response(401, "unauthorized", "unknown, revoked or expired machine token")
    route_path = getattr(request.scope.get("route"), "path", request.url.path)
    scope = machine_scope(request.method, route_path)
    if scope is None or scope not in machine.scopes:
        needs = f"scope {scope}" if scope is not None else "a person; no machine scope opens it"
        return error_response(
            403, "forbidden", f"this machine token may not use this ({request.url.path}): "
            f"it needs {needs}",
        )  # fmt: skip
    request.state.principal = machine.caller(scope)
    return None
