"""Users and their tokens: the service on a real store, and the API in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.users import (
    UserExists,
    UserForbidden,
    UserInvalid,
    UserNotFound,
    UserService,
    hash_token,
)
from kruispunt.api import users as users_api
from kruispunt.audit import read_audit, verify_chain
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import ADMIN, on_both_engines

pytestmark = on_both_engines

ROOT = Principal(user_id="root", zone_id="network", role=Role.ADMIN)
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


def _store(node: Node) -> SqlStore:
    assert isinstance(node.store, SqlStore)
    return node.store


@pytest.fixture
def users(node: Node) -> UserService:
    service = UserService(_store(node), node.writer, zone_ids=[z.id for z in node.zones])
    service.load()
    return service


def op(user_id: str = "op1", zone: str = "pz5364", role: Role = Role.OPERATOR) -> User:
    return User(id=user_id, name=f"User {user_id}", zone_id=zone, role=role)


def test_create_returns_a_token_and_keeps_only_its_hash(users: UserService, node: Node) -> None:
    token = users.create(op(), actor=ROOT)
    assert users.principal_for_token(token) == Principal(
        user_id="op1", zone_id="pz5364", role=Role.OPERATOR
    )
    assert users.principal_for_token(token + "x") is None
    rows = _store(node).reader().execute("SELECT token_hash, doc FROM users").fetchall()
    assert [r[0] for r in rows] == [hash_token(token)]
    assert token.encode() not in rows[0][1]


def test_only_an_admin_creates_users(users: UserService) -> None:
    users.create(op("chief", role=Role.ZONE_CHIEF), actor=ROOT)
    chief = Principal(user_id="chief", zone_id="pz5364", role=Role.ZONE_CHIEF)
    with pytest.raises(UserForbidden):
        users.create(op("op2"), actor=chief)
    assert users.get("op2") is None
    users.create(op("boot", zone="network", role=Role.ADMIN), actor=None)  # the machine itself
    assert users.get("boot") is not None


def test_bad_users_are_refused(users: UserService) -> None:
    users.create(op(), actor=ROOT)
    with pytest.raises(UserExists):
        users.create(op(), actor=ROOT)
    with pytest.raises(UserInvalid) as exc:
        users.create(op("op9", zone="pz0000"), actor=ROOT)
    assert exc.value.code == "unknown_zone"
    with pytest.raises(UserInvalid):
        users.create(User(id=" ", name="x", zone_id="pz5364", role=Role.OPERATOR), actor=ROOT)


def test_a_new_token_revokes_the_old_one(users: UserService) -> None:
    first = users.create(op(), actor=ROOT)
    second = users.issue_token("op1", actor=ROOT)
    assert users.principal_for_token(first) is None
    assert users.principal_for_token(second) is not None
    me = users.principal_for_token(second)
    assert me is not None
    third = users.issue_token("op1", actor=me)  # one's own token
    assert users.principal_for_token(second) is None and users.principal_for_token(third)
    users.create(op("op2"), actor=ROOT)
    with pytest.raises(UserForbidden):
        users.issue_token("op2", actor=me)
    with pytest.raises(UserNotFound):
        users.issue_token("nobody", actor=ROOT)


def test_deactivated_users_lose_access_and_it_survives_a_restart(
    users: UserService, node: Node
) -> None:
    token = users.create(op(), actor=ROOT)
    off = users.deactivate("op1", actor=ROOT)
    assert off.active is False and users.principal_for_token(token) is None
    with pytest.raises(UserInvalid) as exc:
        users.issue_token("op1", actor=ROOT)
    assert exc.value.code == "user_inactive"
    again = UserService(_store(node), node.writer)
    again.load()
    user = again.get("op1")
    assert user is not None and user.active is False
    assert again.principal_for_token(token) is None


def test_every_change_is_audited_without_secrets(users: UserService, node: Node) -> None:
    token = users.create(op(), actor=ROOT)
    new = users.issue_token("op1", actor=ROOT)
    users.deactivate("op1", actor=ROOT)
    records = read_audit(_store(node).reader(), object_type="user", object_id="op1")
    assert [(r.action, r.actor, r.actor_zone) for r in records] == [
        ("user.create", "root", "network"),
        ("user.token", "root", "network"),
        ("user.deactivate", "root", "network"),
    ]
    assert records[0].detail == {"zone_id": "pz5364", "role": "operator", "active": True}
    assert all(token not in str(r.detail) and new not in str(r.detail) for r in records)
    assert verify_chain(read_audit(_store(node).reader())) is None


# -- the API --------------------------------------------------------------------------------
@pytest.fixture
async def api(node: Node, users: UserService) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.node = SimpleNamespace(users=users, config=node.config)
    app.include_router(users_api.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kp") as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_user_life_cycle(api: httpx.AsyncClient) -> None:
    body = {"id": "op1", "name": "Op One", "zone_id": "pz5364", "role": "operator"}
    created = await api.post("/api/v1/users", json=body, headers=ADMIN_H)
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    me = await api.get("/api/v1/users/me", headers=_bearer(token))
    assert me.json() == {"user_id": "op1", "zone_id": "pz5364", "role": "operator"}
    admin = await api.get("/api/v1/users/me", headers=ADMIN_H)
    assert admin.json() == {"user_id": "admin", "zone_id": "network", "role": "admin"}
    # EventSource and WebSocket cannot send headers: the token may come as a query parameter
    by_query = await api.get("/api/v1/users/me", params={"access_token": token})
    assert by_query.status_code == 200
    assert (await api.post("/api/v1/users", json=body, headers=ADMIN_H)).status_code == 409
    rotated = await api.post("/api/v1/users/op1/token", headers=_bearer(token))
    assert rotated.status_code == 200
    assert (await api.get("/api/v1/users/me", headers=_bearer(token))).status_code == 401
    new = rotated.json()["token"]
    assert (await api.get("/api/v1/users/op1", headers=_bearer(new))).status_code == 200
    off = await api.post("/api/v1/users/op1/deactivate", headers=ADMIN_H)
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await api.get("/api/v1/users/me", headers=_bearer(new))).status_code == 401


async def test_api_refusals(api: httpx.AsyncClient, users: UserService) -> None:
    token = users.create(op(), actor=ROOT)
    body = {"id": "op2", "name": "Op Two", "zone_id": "pz5364", "role": "operator"}
    assert (await api.post("/api/v1/users", json=body)).status_code == 401
    resp = await api.post("/api/v1/users", json=body, headers=_bearer("nope"))
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
    resp = await api.post("/api/v1/users", json=body, headers=_bearer(token))
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert (await api.get("/api/v1/users", headers=_bearer(token))).status_code == 403
    users.create(op("op3"), actor=ROOT)
    # someone else's record looks like a missing one
    assert (await api.get("/api/v1/users/op3", headers=_bearer(token))).status_code == 404
    bad = {"id": "op4", "name": "x", "zone_id": "pz5364", "role": "king"}
    resp = await api.post("/api/v1/users", json=bad, headers=ADMIN_H)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_user"
    unknown_zone = {**body, "zone_id": "pz0000"}
    resp = await api.post("/api/v1/users", json=unknown_zone, headers=ADMIN_H)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "unknown_zone"
    listed = await api.get("/api/v1/users", headers=ADMIN_H)
    assert [u["id"] for u in listed.json()] == ["op1", "op3"]
