"""Sign-in over the API: password, TOTP second factor, lock-out, idle sessions, sign-out.

Runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import time

import httpx

from kruispunt.access.credentials import totp
from kruispunt.access.principals import Principal, Role, User
from kruispunt.audit import read_audit, verify_chain
from kruispunt.node import Node
from tests.conftest import on_both_engines

pytestmark = on_both_engines

PASSWORD = "correct horse battery staple 42"
ADMIN = Principal(user_id="admin", zone_id="network", role=Role.ADMIN)


def make_user(node: Node, user_id: str = "op-1") -> None:
    node.users.create(User(id=user_id, name="Op One", zone_id="pz5364", role=Role.OPERATOR),
                      actor=None)  # fmt: skip
    node.sessions.set_password(user_id, PASSWORD, actor=ADMIN)


async def login(
    client: httpx.AsyncClient, password: str, code: str | None = None
) -> httpx.Response:
    body = {"user_id": "op-1", "password": password} | ({"totp": code} if code else {})
    return await client.post("/api/v1/auth/login", json=body)


async def test_a_session_token_works_like_a_user_token_until_sign_out(
    client: httpx.AsyncClient, node: Node
) -> None:
    make_user(node)
    r = await login(client, PASSWORD)
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert r.json()["role"] == "operator" and r.json()["idle_timeout_s"] == 900
    auth = {"Authorization": f"Bearer {token}"}
    me = await client.get("/api/v1/users/me", headers=auth)
    assert me.status_code == 200 and me.json()["user_id"] == "op-1"
    assert (await client.post("/api/v1/auth/logout", headers=auth)).status_code == 204
    assert (await client.get("/api/v1/users/me", headers=auth)).status_code == 401


async def test_wrong_passwords_lock_the_account_and_look_the_same_as_a_wrong_user(
    client: httpx.AsyncClient, node: Node
) -> None:
    make_user(node)
    ghost = await client.post("/api/v1/auth/login", json={"user_id": "nobody", "password": "x"})
    assert ghost.status_code == 401 and ghost.json()["error"]["code"] == "login_failed"
    for _ in range(5):
        r = await login(client, "wrong password")
        assert r.status_code == 401 and r.json()["error"] == ghost.json()["error"]
    locked = await login(client, PASSWORD)  # now even the right one is refused
    assert locked.status_code == 401 and int(locked.headers["Retry-After"]) > 500
    actions = [r.action for r in read_audit(node.store.reader()) if r.action.startswith("login")]
    assert actions.count("login.failed") >= 6 and "login.locked" in actions
    records = read_audit(node.store.reader())
    assert verify_chain(records) is None
    assert all(PASSWORD not in str(r.detail) for r in records)


async def test_totp_is_asked_for_once_enrolled(client: httpx.AsyncClient, node: Node) -> None:
    make_user(node)
    token = (await login(client, PASSWORD)).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    enrolled = await client.post("/api/v1/auth/totp", headers=auth)
    assert enrolled.status_code == 200
    secret = enrolled.json()["secret"]
    assert enrolled.json()["provisioning_uri"].startswith("otpauth://totp/")
    code = totp(secret, int(time.time()))
    r = await client.post("/api/v1/auth/totp/confirm", json={"code": code}, headers=auth)
    assert r.status_code == 204, r.text
    asked = await login(client, PASSWORD)
    assert asked.status_code == 401 and asked.json()["error"]["code"] == "totp_required"
    wrong = await login(client, PASSWORD, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "login_failed"
    later = totp(secret, int(time.time()) + 30)  # the next step: not yet used
    ok = await login(client, PASSWORD, later)
    assert ok.status_code == 200, ok.text


async def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    client: httpx.AsyncClient, node: Node
) -> None:
    make_user(node)
    first = (await login(client, PASSWORD)).json()["token"]
    second = (await login(client, PASSWORD)).json()["token"]
    auth = {"Authorization": f"Bearer {first}"}
    new = "another long passphrase 7"
    bad = await client.post(
        "/api/v1/auth/password", headers=auth, json={"current": "nope", "new": new}
    )
    assert bad.status_code == 403
    weak = await client.post("/api/v1/auth/password", headers=auth,
                             json={"current": PASSWORD, "new": "short"})  # fmt: skip
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
    ok = await client.post(
        "/api/v1/auth/password", headers=auth, json={"current": PASSWORD, "new": new}
    )
    assert ok.status_code == 204, ok.text
    assert (await client.get("/api/v1/users/me", headers=auth)).status_code == 200
    other = {"Authorization": f"Bearer {second}"}
    assert (await client.get("/api/v1/users/me", headers=other)).status_code == 401
