"""Every route says who may call it, and the guard holds for every role.

The walk covers every route the app serves: a new endpoint without a guard fails here, so
nothing ships open by accident. For each guarded route, every role is tried: roles the
guard does not list are refused before the handler runs; no token is 401. Every machine
scope is tried too: a machine token gets through only where the route declares its scope
(``MACHINE_ROUTES``)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount

from kruispunt.access.machines import Scope
from kruispunt.access.principals import Principal, Role, User
from kruispunt.api.app import create_app
from kruispunt.api.guard import Caller, Guard, guard_of, machine_scope
from kruispunt.node import Node
from tests.conftest import ADMIN

# FastAPI's own schema route and the static files of the docs page.
NOT_OURS = {"/openapi.json"}
# Streams that stay open for an admitted caller (their refusals are still checked here).
ENDLESS = {"/api/v1/hits/stream"}


def routes(node: Node) -> Iterator[tuple[str, str, Any]]:
    """(method, path, endpoint) of every route the app serves."""
    app = create_app(node, manage_node=False)

    def walk(items: list[Any]) -> Iterator[tuple[str, str, Any]]:
        for r in items:
            if isinstance(r, Mount):
                continue  # static files (the docs page's scripts)
            if isinstance(r, APIWebSocketRoute):
                yield "WS", r.path, r.endpoint
            elif isinstance(r, APIRoute):
                for method in sorted(r.methods - {"HEAD"}):
                    yield method, r.path, r.endpoint
            elif hasattr(r, "original_router"):  # FastAPI's included router
                yield from walk(list(r.original_router.routes))
            elif hasattr(r, "routes"):
                yield from walk(list(r.routes))
            elif hasattr(r, "endpoint") and getattr(r, "path", "") not in NOT_OURS:
                yield "GET", r.path, r.endpoint

    yield from walk(list(app.router.routes))


def test_every_route_has_a_guard(node: Node) -> None:
    found = list(routes(node))
    assert len(found) > 40  # the walk sees the routers (not only the app's own routes)
    unguarded = [f"{m} {p}" for m, p, ep in found if p not in NOT_OURS and guard_of(ep) is None]
    assert unguarded == [], f"routes without a guard (see kruispunt.api.guard): {unguarded}"


def test_public_routes_say_why(node: Node) -> None:
    for _m, path, endpoint in routes(node):
        guard = guard_of(endpoint)
        if guard is not None and guard.caller is Caller.PUBLIC:
            assert len(guard.why.split()) >= 3, path


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-does-not-exist", path)


@pytest.fixture
def role_tokens(node: Node) -> dict[Role, str]:
    return {
        role: node.users.create(
            User(id=f"u-{role.value}", name=role.value, zone_id="pz5364", role=role), actor=None
        )
        for role in Role
    }


def guard_refused(resp: httpx.Response, role: Role) -> bool:
    if resp.status_code != 403:
        return False
    return bool(resp.json()["error"]["message"].startswith(f"a {role} may not use this"))


async def test_every_role_against_every_guarded_route(
    client: httpx.AsyncClient, node: Node, role_tokens: dict[Role, str]
) -> None:
    checked = 0
    for method, path, endpoint in routes(node):
        guard: Guard | None = guard_of(endpoint)
        if guard is None or method == "WS" or path in NOT_OURS:
            continue
        url = concrete(path)
        if guard.caller is Caller.PUBLIC:
            resp = await client.request(method, url)
            assert resp.status_code != 401, f"{method} {path} is public but asks for a token"
            continue
        anonymous = await client.request(method, url)
        assert anonymous.status_code == 401, f"{method} {path} without a token: {anonymous}"
        bad = await client.request(method, url, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401, f"{method} {path} with a wrong token"
        if guard.caller is Caller.CAMERA:
            # A person's token is not a camera's.
            resp = await client.request(
                method, url, headers={"Authorization": f"Bearer {role_tokens[Role.ADMIN]}"}
            )
            assert resp.status_code == 401, f"{method} {path}: a user token passed as a camera"
            continue
        for role, token in role_tokens.items():
            if role in guard.roles and path in ENDLESS:
                continue
            resp = await client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            if role in guard.roles:
                assert not guard_refused(resp, role), f"{method} {path} refused a {role}"
            else:
                assert guard_refused(resp, role), f"{method} {path} let a {role} in: {resp}"
            checked += 1
        if path not in ENDLESS:
            admin = await client.request(method, url, headers={"Authorization": f"Bearer {ADMIN}"})
            assert admin.status_code != 401 or Role.ADMIN not in guard.roles, f"{method} {path}"
    assert checked > 300  # ~40 guarded routes × 10 roles


@pytest.fixture
def scope_tokens(node: Node) -> dict[Scope, str]:
    root = Principal(user_id="root", zone_id="network", role=Role.ADMIN)
    week = time.time_ns() // 1000 + 7 * 86_400_000_000
    return {
        scope: node.machines.create(
            name=f"m-{scope}", zone_id="pz5364", scopes=[scope], expires_us=week, actor=root
        )[1]
        for scope in Scope
    }


def machine_refused(resp: httpx.Response) -> bool:
    if resp.status_code != 403:
        return False
    return bool(resp.json()["error"]["message"].startswith("this machine token may not use this"))


async def test_every_machine_scope_against_every_guarded_route(
    client: httpx.AsyncClient, node: Node, scope_tokens: dict[Scope, str]
) -> None:
    admitted = refused = 0
    for method, path, endpoint in routes(node):
        guard: Guard | None = guard_of(endpoint)
        if guard is None or method == "WS" or path in NOT_OURS or guard.caller is Caller.PUBLIC:
            continue
        url = concrete(path)
        unknown = await client.request(method, url, headers={"Authorization": "Bearer kpm_nope"})
        assert unknown.status_code == 401, f"{method} {path} with an unknown machine token"
        declared = machine_scope(method, path)
        assert declared is None or guard.caller is Caller.PEOPLE, f"{method} {path}"
        for scope, token in scope_tokens.items():
            if scope is declared and path in ENDLESS:
                continue
            resp = await client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            if guard.caller is Caller.CAMERA:
                assert resp.status_code == 401, f"{method} {path}: a machine passed as a camera"
            elif scope is declared:
                assert resp.status_code != 401 and not machine_refused(resp), f"{method} {path}"
                admitted += 1
            else:
                assert machine_refused(resp), f"{method} {path} let a {scope} machine in: {resp}"
                refused += 1
    assert admitted >= 8 and refused > 100
