"""Machine tokens on the real app and node: scopes, zone limits, expiry, revocation, audit,
and the machine routes' guard. Runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from kruispunt.access.machines import (
    PREFIX,
    MachineTokenInvalid,
    MachineTokenService,
    Scope,
    token_problems,
)
from kruispunt.access.principals import Principal, Role, User
from kruispunt.api.guard import MACHINE_ROUTES, Caller, guard_of
from kruispunt.audit import read_audit, verify_chain
from kruispunt.hits.models import Hit
from kruispunt.hotlists.models import Category
from kruispunt.node import Node
from tests.conftest import ADMIN, on_both_engines
from tests.test_guards import concrete, routes
from tests.test_hits_policy import make_hit
from tests.test_hotlists_api import entry_json
from tests.test_live_api import Sse, closed_with, network_hit, running_live
from tests.test_offences_api import make_world, offence_ids

pytestmark = on_both_engines

AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
ROOT = Principal(user_id="root", zone_id="network", role=Role.ADMIN)
DAY_US = 86_400_000_000


def in_days(days: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def make_token(
    client: httpx.AsyncClient, zone: str, *scopes: Scope, days: float = 30
) -> tuple[str, str]:
    """(token id, secret) of a new machine token, made over the API by the admin."""
    body = {"name": f"{zone} system", "zone_id": zone, "scopes": [str(s) for s in scopes],
            "expires_at": in_days(days)}  # fmt: skip
    r = await client.post("/api/v1/machine-tokens", json=body, headers=AS_ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["machine_token"]["id"], r.json()["token"]


def add_hits(node: Node, *hits: Hit) -> list[Hit]:
    store = node.store

    def write(_: object) -> list[Hit]:
        with store.transaction() as conn:
            return node.hit_store.insert(conn, hits)

    return node.writer.call(write).result()


def audit(node: Node, action: str) -> list[tuple[str, str]]:
    records = read_audit(node.store.reader())
    return [(r.actor, r.object_id) for r in records if r.action == action]


async def make_list(client: httpx.AsyncClient, list_id: str, zone: str) -> None:
    body = {"id": list_id, "name": f"Stolen {zone}", "owner_zone_id": zone}
    r = await client.post("/api/v1/hotlists", json=body, headers=AS_ADMIN)
    assert r.status_code == 201, r.text


# -- managing tokens ------------------------------------------------------------------------
async def test_the_secret_is_shown_once_and_the_token_listed_without_it(
    client: httpx.AsyncClient, node: Node
) -> None:
    token_id, secret = await make_token(client, "pz5364", Scope.HITS_READ, Scope.HOTLISTS_READ)
    assert secret.startswith(PREFIX) and len(secret) > 40
    listed = await client.get("/api/v1/machine-tokens", headers=AS_ADMIN)
    assert listed.status_code == 200 and secret not in listed.text
    (read,) = listed.json()
    assert read["id"] == token_id and read["status"] == "active" and read["zone_id"] == "pz5364"
    assert read["scopes"] == ["hits:read", "hotlists:read"] and read["last_used_at"] is None
    one = await client.get(f"/api/v1/machine-tokens/{token_id}", headers=AS_ADMIN)
    assert one.json() == read and secret not in one.text
    assert (await client.get("/api/v1/machine-tokens/mt-nope", headers=AS_ADMIN)).status_code == 404
    assert audit(node, "machine_token.create") == [("admin", token_id)]
    row = (
        node.store.reader()
        .execute("SELECT token_hash, scopes FROM machine_tokens WHERE id=?", (token_id,))
        .fetchone()
    )
    assert secret not in str(row) and row[1] == "hits:read,hotlists:read"
    scopes = (await client.get("/api/v1/machine-tokens/scopes", headers=AS_ADMIN)).json()
    assert {s["scope"] for s in scopes} == {s.value for s in Scope}
    assert "GET /api/v1/hits" in next(s for s in scopes if s["scope"] == "hits:read")["routes"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"zone_id": "pz9999"}, "unknown zone"),
        ({"zone_id": "network"}, "unknown zone"),
        ({"scopes": ["hits:write"]}, "Invalid enum value"),
        ({"scopes": []}, "length >= 1"),
        ({"expires_at": None}, "missing required field `expires_at`"),
        ({"expires_at": "2020-01-01T00:00:00+00:00"}, "must lie in the future"),
        ({"expires_at": in_days(400)}, "at most 365 days ahead"),
        ({"expires_at": "2030-01-01T00:00:00"}, "timezone"),
        ({"name": "  "}, "name"),
    ],
)
async def test_a_token_needs_a_zone_known_scopes_and_a_capped_expiry(
    client: httpx.AsyncClient, node: Node, change: dict[str, Any], problem: str
) -> None:
    body = {"name": "dashboard", "zone_id": "pz5364", "scopes": ["hits:read"],
            "expires_at": in_days(30)} | change  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    r = await client.post("/api/v1/machine-tokens", json=body, headers=AS_ADMIN)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_machine_token"
    assert problem in r.json()["error"]["message"], r.json()
    assert audit(node, "machine_token.create") == []


def test_the_rules_of_a_token_are_pure() -> None:
    ok = dict(name="n", zone_id="z", scopes=["hits:read"], expires_us=2 * DAY_US, note="",
              now_us=DAY_US, zone_ids=frozenset({"z"}), max_days=1)  # fmt: skip
    assert token_problems(**ok) == []  # type: ignore[arg-type]
    assert token_problems(**ok | {"expires_us": 2 * DAY_US + 1}) == [  # type: ignore[arg-type]
        "expires_at: at most 1 days ahead"
    ]


async def test_only_an_admin_manages_machine_tokens(client: httpx.AsyncClient, node: Node) -> None:
    chief = node.users.create(User(id="chief", name="c", zone_id="pz5364", role=Role.ZONE_CHIEF),
                              actor=None)  # fmt: skip
    r = await client.post("/api/v1/machine-tokens", json={}, headers=bearer(chief))
    assert r.status_code == 403
    with pytest.raises(MachineTokenInvalid):  # the service checks too, before the admin test
        node.machines.create(name="x", zone_id="pz5364", scopes=["nope"], expires_us=0,
                             actor=ROOT)  # fmt: skip
    _, secret = await make_token(client, "pz5364", *Scope)
    for method, path in (("GET", "/api/v1/machine-tokens"), ("POST", "/api/v1/machine-tokens")):
        r = await client.request(method, path, headers=bearer(secret))
        assert r.status_code == 403 and "machine token may not" in r.json()["error"]["message"]


# -- what a token reaches -------------------------------------------------------------------
async def test_hits_read_gives_the_hits_of_the_tokens_zone_only(
    client: httpx.AsyncClient, node: Node
) -> None:
    add_hits(node, make_hit(id="h-net", seq=0),
             make_hit(id="h-covert", seq=0, category=Category.INVESTIGATION))  # fmt: skip
    id_b, neighbour = await make_token(client, "pz5352", Scope.HITS_READ)
    id_t, owner = await make_token(client, "pz5364", Scope.HITS_READ)
    r = await client.get("/api/v1/hits", headers=bearer(neighbour))
    assert r.status_code == 200 and [h["id"] for h in r.json()["hits"]] == ["h-net"]
    r = await client.get("/api/v1/hits", headers=bearer(owner))
    assert [h["id"] for h in r.json()["hits"]] == ["h-net", "h-covert"]
    assert (await client.get("/api/v1/hits/h-covert", headers=bearer(neighbour))).status_code == 404
    assert (await client.get("/api/v1/hits/h-covert", headers=bearer(owner))).status_code == 200
    # Reading, yes; the workflow, the stats, the trail and the rest: no.
    for method, path in (("POST", "/api/v1/hits/h-net/acknowledge"),
                         ("GET", "/api/v1/hits/stats"), ("GET", "/api/v1/hits/h-net/trail"),
                         ("GET", "/api/v1/users/me"), ("GET", "/api/v1/hotlists")):  # fmt: skip
        r = await client.request(method, path, headers=bearer(owner))
        assert r.status_code == 403, (method, path, r.text)
    # Attributable: the token's id is the actor of the service's audit records.
    viewers = {actor for actor, _ in audit(node, "hits.view")}
    assert viewers == {f"machine:{id_b}", f"machine:{id_t}"}


async def test_hotlists_write_pushes_entries_into_its_own_zones_lists_only(
    client: httpx.AsyncClient, node: Node
) -> None:
    await make_list(client, "l-t", "pz5364")
    await make_list(client, "l-b", "pz5352")
    token_id, pusher = await make_token(client, "pz5364", Scope.HOTLISTS_WRITE)
    r = await client.post("/api/v1/hotlists/l-t/entries", json=entry_json(), headers=bearer(pusher))
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["created_by"] == f"machine:{token_id}"
    assert (f"machine:{token_id}", entry["id"]) in audit(node, "entry.create")
    r = await client.post("/api/v1/hotlists/l-b/entries", json=entry_json(), headers=bearer(pusher))
    assert r.status_code == 403  # another zone's list: the service refuses, as for a person
    csv = "plate,country,category,action,warnings,source,legal_basis,scope,scope_zones," \
          "valid_from,expires_at,note\n2-XYZ-987,BE,stolen_vehicle,intercept,,PV 9,WPA 44," \
          f"own_zone,,,{in_days(10)},\n"  # fmt: skip
    r = await client.post("/api/v1/hotlists/l-t/import", content=csv, headers=bearer(pusher))
    assert r.status_code == 200 and r.json()["imported"] == 1, r.text
    url = f"/api/v1/hotlists/l-t/entries/{entry['id']}"
    r = await client.put(url, json=entry_json(note="moved"), headers=bearer(pusher))
    assert r.status_code == 200 and r.json()["note"] == "moved"
    # Writing is not reading, and the lists themselves stay with people.
    assert (
        await client.get("/api/v1/hotlists/l-t/entries", headers=bearer(pusher))
    ).status_code == 403
    r = await client.post("/api/v1/hotlists", json={"name": "x"}, headers=bearer(pusher))
    assert r.status_code == 403
    assert (await client.delete("/api/v1/hotlists/l-t", headers=bearer(pusher))).status_code == 403
    assert (await client.delete(url, headers=bearer(pusher))).status_code == 204


async def test_hotlists_read_sees_its_own_zones_lists_and_entries_only(
    client: httpx.AsyncClient, node: Node
) -> None:
    await make_list(client, "l-t", "pz5364")
    await make_list(client, "l-b", "pz5352")
    r = await client.post("/api/v1/hotlists/l-t/entries", json=entry_json(), headers=AS_ADMIN)
    assert r.status_code == 201
    _, reader = await make_token(client, "pz5364", Scope.HOTLISTS_READ)
    lists = (await client.get("/api/v1/hotlists", headers=bearer(reader))).json()
    assert [lst["hotlist"]["id"] for lst in lists] == ["l-t"] and lists[0]["entries"] == 1
    page = await client.get("/api/v1/hotlists/l-t/entries", headers=bearer(reader))
    assert page.status_code == 200 and len(page.json()["entries"]) == 1
    export = await client.get("/api/v1/hotlists/l-t/export", headers=bearer(reader))
    assert export.status_code == 200 and "1-ABC-123,BE" in export.text
    assert (
        await client.get("/api/v1/hotlists/l-b/entries", headers=bearer(reader))
    ).status_code == 403
    r = await client.post("/api/v1/hotlists/l-t/entries", json=entry_json("9-XX-1"),
                          headers=bearer(reader))  # fmt: skip
    assert r.status_code == 403 and "needs scope hotlists:write" in r.json()["error"]["message"]


async def test_offences_read_gives_the_back_office_its_zones_offences_only(
    client: httpx.AsyncClient, node: Node
) -> None:
    world = make_world(node)
    token_id, back_office = await make_token(client, "pz5364", Scope.OFFENCES_READ)
    listed = await client.get("/api/v1/offences", headers=bearer(back_office))
    assert listed.status_code == 200, listed.text
    assert [o["id"] for o in listed.json()["offences"]] == offence_ids(world["a"])
    export = await client.get(
        "/api/v1/offences/export", params={"format": "csv"}, headers=bearer(back_office)
    )
    assert export.status_code == 200 and export.text.count("\n") == 1 + len(world["a"])
    own, other = world["a"][0].id, world["b"][0].id
    assert (await client.get(f"/api/v1/offences/{own}", headers=bearer(back_office))).is_success
    assert (
        await client.get(f"/api/v1/offences/{other}", headers=bearer(back_office))
    ).status_code == 404
    # Reading, not deciding: the status stays with the traffic officers.
    r = await client.post(f"/api/v1/offences/{own}/status", json={"status": "exported"},
                          headers=bearer(back_office))  # fmt: skip
    assert r.status_code == 403
    # Audited as the machine, like a person's export.
    actors = {r.actor for r in read_audit(node.store.reader()) if r.action == "offence.export"}
    assert actors == {f"machine:{token_id}"}


# -- how a token ends -----------------------------------------------------------------------
async def test_a_revoked_token_stops_at_once_and_the_revocation_is_audited(
    client: httpx.AsyncClient, node: Node
) -> None:
    token_id, secret = await make_token(client, "pz5352", Scope.HITS_READ)
    assert (await client.get("/api/v1/hits", headers=bearer(secret))).status_code == 200
    url = f"/api/v1/machine-tokens/{token_id}/revoke"
    r = await client.post(url, json={"reason": "partner contract ended"}, headers=AS_ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert (
        r.json()["revoked_by"] == "admin" and r.json()["revoke_reason"] == "partner contract ended"
    )
    gone = await client.get("/api/v1/hits", headers=bearer(secret))
    assert gone.status_code == 401 and "revoked" in gone.json()["error"]["message"]
    assert (await client.post(url, headers=AS_ADMIN)).status_code == 409
    assert audit(node, "machine_token.revoke") == [("admin", token_id)]
    assert verify_chain(read_audit(node.store.reader())) is None


async def test_an_expired_token_stops_and_last_use_is_recorded(
    client: httpx.AsyncClient, node: Node
) -> None:
    clock = [time.time_ns() // 1000]
    node.machines = MachineTokenService(  # the node's own service, on a clock the test turns
        node.store, node.writer, zone_ids={"pz5352"}, max_days=2, clock=lambda: clock[0]
    )  # fmt: skip
    token_id, secret = await make_token(client, "pz5352", Scope.HITS_READ, days=1)
    assert (await client.get("/api/v1/hits", headers=bearer(secret))).status_code == 200
    for _ in range(100):  # the last use is written back off the request's path
        used = (await client.get(f"/api/v1/machine-tokens/{token_id}", headers=AS_ADMIN)).json()
        if used["last_used_at"] is not None:
            break
        await asyncio.sleep(0.02)
    assert used["last_used_at"] is not None and used["status"] == "active"
    clock[0] += DAY_US + 60_000_000  # past the expiry asked for (a day from the request)
    r = await client.get("/api/v1/hits", headers=bearer(secret))
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    listed = (await client.get("/api/v1/machine-tokens", headers=AS_ADMIN)).json()
    assert listed[0]["status"] == "expired"


# -- the guard ------------------------------------------------------------------------------
def test_every_machine_route_exists_and_is_guarded_before_its_handler(node: Node) -> None:
    served = {(m, p): ep for m, p, ep in routes(node)}
    for key in MACHINE_ROUTES:
        assert key in served, f"MACHINE_ROUTES names {key}, which the app does not serve"
        guard = guard_of(served[key])
        assert guard is not None and guard.caller is Caller.PEOPLE, key
        assert hasattr(served[key], "__wrapped__"), f"{key}: the guard cannot run before it"


async def test_each_machine_route_admits_its_scope_and_refuses_the_others(
    client: httpx.AsyncClient, node: Node
) -> None:
    secrets = {scope: (await make_token(client, "pz5364", scope))[1] for scope in Scope}
    for (method, path), needed in MACHINE_ROUTES.items():
        for scope, secret in secrets.items():
            if scope is needed and path.endswith("/stream"):
                continue  # admitted, it would stream forever (see the SSE test)
            r = await client.request(method, concrete(path), headers=bearer(secret))
            refused = r.status_code == 403 and r.json()["error"]["message"].startswith(
                "this machine token may not use this"
            )
            assert refused is (scope is not needed), (method, path, scope, r.status_code)


async def test_the_live_stream_carries_the_zones_hits_and_the_websocket_refuses(
    node: Node,
) -> None:
    with running_live(node) as live:
        async with httpx.AsyncClient(base_url=live.base, timeout=5) as c:
            token_id, secret = await make_token(c, "pz5352", Scope.HITS_READ)
            async with c.stream("GET", f"/api/v1/hits/stream?access_token={secret}") as r:
                assert r.status_code == 200
                sse = Sse(r)
                _, hello = await sse.message()
                assert hello["user_id"] == f"machine:{token_id}" and hello["zone_id"] == "pz5352"
                live.raise_hits(network_hit(1, category=Category.INVESTIGATION), network_hit(2))
                _, message = await sse.message()
                assert message["type"] == "hit" and message["hit"]["id"] == "h-api-2"
        # The WebSocket checks its caller itself and knows people only.
        ws_url = live.ws_url(f"?access_token={secret}")
        async with connect(ws_url) as ws:
            assert await closed_with(ws) == 4401
        async with connect(live.ws_url()) as ws:
            await ws.send(json.dumps({"type": "auth", "token": secret}))
            assert await closed_with(ws) == 4401
