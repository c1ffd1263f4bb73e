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

``tests/test_guards.py`` walks every route of the app: a route without a guard fails the
suite, so a new endpoint cannot ship open by accident.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from kruispunt.access.auth import AuthError, principal_from_request
from kruispunt.access.principals import Principal, Role
from kruispunt.api.errors import error_response

GUARD_ATTRIBUTE = "__kruispunt_guard__"
EVERYONE = frozenset(Role)

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
        return error_response(exc.status, exc.code, exc.message)
    if principal.role not in guard.roles:
        return error_response(
            403, "forbidden", f"a {principal.role} may not use this ({request.url.path})"
        )
    return None
