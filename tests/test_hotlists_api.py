"""The hotlists API in-process over a real node's store: codes, permissions, CSV."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.users import UserService
from kruispunt.api import hotlists as hotlists_api
from kruispunt.api import schema
from kruispunt.api import users as users_api
from kruispunt.hotlists.csv_io import COLUMNS
from kruispunt.hotlists.index import HotlistIndex
from kruispunt.hotlists.models import HotlistEntry
from kruispunt.hotlists.service import HotlistService
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import ADMIN, on_both_engines

pytestmark = on_both_engines

ROOT = Principal(user_id="root", zone_id="network", role=Role.ADMIN)


def expiry(days: int = 30) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def entry_json(plate: str = "1-ABC-123", **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "plate": plate,
        "country": "BE",
        "category": "stolen_vehicle",
        "action": "intercept",
        "warnings": ["armed - do not stop alone"],
        "source": "PV 123",
        "legal_basis": "WPA art. 44/1",
        "expires_at": expiry(),
    }
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not None}


class Env(SimpleNamespace):
    client: httpx.AsyncClient
    hotlists: HotlistService
    tokens: dict[str, dict[str, str]]  # user id -> headers
    retro: list[tuple[str, int]]


@pytest.fixture
async def env(node: Node) -> AsyncIterator[Env]:
    assert isinstance(node.store, SqlStore)
    zones = {z.id for z in node.zones}
    users = UserService(node.store, node.writer, zone_ids=zones)
    users.load()
    hotlists = HotlistService(node.store, node.writer, HotlistIndex(), zones)
    hotlists.load()
    retro: list[tuple[str, int]] = []
    hotlists.on_entry_added.append(lambda e, days: retro.append((e.id, days)))
    tokens = {"admin": {"Authorization": f"Bearer {ADMIN}"}}
    for uid, zone, role in (
        ("chief", "pz5364", Role.ZONE_CHIEF),
        ("op", "pz5364", Role.OPERATOR),
        ("analyst", "pz5364", Role.ANALYST),
        ("other", "pz5352", Role.OPERATOR),
    ):
        token = users.create(User(id=uid, name=uid, zone_id=zone, role=role), actor=ROOT)
        tokens[uid] = {"Authorization": f"Bearer {token}"}
    app = FastAPI()
    app.state.node = SimpleNamespace(users=users, hotlists=hotlists, config=node.config)
    app.include_router(users_api.router)
    app.include_router(hotlists_api.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kp") as client:
        resp = await client.post(
            "/api/v1/hotlists",
            json={"id": "stolen", "name": "Stolen", "min_confidence": 0.6},
            headers=tokens["chief"],
        )
        assert resp.status_code == 201, resp.text
        yield Env(client=client, hotlists=hotlists, tokens=tokens, retro=retro)


def live(env: Env, plate: str) -> bool:
    now = time.time_ns() // 1000
    return bool(env.hotlists.index.match(plate, None, at_us=now, now_us=now))


async def test_create_read_and_delete_an_entry(env: Env) -> None:
    c, t = env.client, env.tokens
    lst = (await c.get("/api/v1/hotlists/stolen", headers=t["op"])).json()
    assert lst["hotlist"]["owner_zone_id"] == "pz5364" and lst["entries"] == 0
    assert lst["hotlist"]["min_confidence"] == 0.6
    resp = await c.post("/api/v1/hotlists/stolen/entries", json=entry_json(), headers=t["op"])
    assert resp.status_code == 201, resp.text
    entry = resp.json()
    assert entry["plate"] == "1ABC123" and entry["id"].startswith("e-")
    assert entry["expires_at"].endswith("Z") and entry["created_by"] == "op"
    assert live(env, "1ABC123")
    one = await c.get(f"/api/v1/hotlists/stolen/entries/{entry['id']}", headers=t["op"])
    assert one.json() == entry
    # Same zone, no need to know: an analyst may not browse the entries.
    denied = await c.get(f"/api/v1/hotlists/stolen/entries/{entry['id']}", headers=t["analyst"])
    assert denied.status_code == 403
    page = (await c.get("/api/v1/hotlists/stolen/entries", headers=t["op"])).json()
    assert page == {"entries": [entry], "next_after": None}
    admin = await c.get("/api/v1/hotlists/stolen/entries", headers=t["admin"])
    assert admin.status_code == 403  # an administrator never reads a zone's plates
    by_plate = await c.get(
        "/api/v1/hotlists/stolen/entries", params={"plate": "1-abc-123"}, headers=t["op"]
    )
    assert [e["id"] for e in by_plate.json()["entries"]] == [entry["id"]]
    gone = await c.delete(f"/api/v1/hotlists/stolen/entries/{entry['id']}", headers=t["op"])
    assert gone.status_code == 204 and not live(env, "1ABC123")
    again = await c.get(f"/api/v1/hotlists/stolen/entries/{entry['id']}", headers=t["op"])
    assert again.status_code == 404 and again.json()["error"]["code"] == "unknown_entry"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"expires_at": None}, "expiry_missing"),
        ({"legal_basis": None}, "legal_basis_missing"),
        ({"legal_basis": "   "}, "legal_basis_missing"),
        ({"expires_at": expiry(400)}, "expiry_too_far"),
        ({"plate": "!!"}, "plate_invalid_characters"),
        ({"colour": "red"}, "invalid_entry"),  # unknown field
        ({"warnings": "armed"}, "invalid_entry"),  # wrong type
    ],
)
async def test_bad_entries_answer_400_with_a_code(
    env: Env, changes: dict[str, Any], code: str
) -> None:
    body = {**entry_json(), **changes}
    body = {k: v for k, v in body.items() if v is not None}
    resp = await env.client.post(
        "/api/v1/hotlists/stolen/entries", json=body, headers=env.tokens["op"]
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == code, resp.text
    assert env.hotlists.entries("stolen") == []


async def test_need_to_know(env: Env) -> None:
    c, t = env.client, env.tokens
    await c.post("/api/v1/hotlists/stolen/entries", json=entry_json(), headers=t["op"])
    # another zone (and a same-zone analyst) does not even see that the list exists
    for who in ("other", "analyst"):
        assert (await c.get("/api/v1/hotlists", headers=t[who])).json() == []
    listed = (await c.get("/api/v1/hotlists", headers=t["op"])).json()
    assert [(x["hotlist"]["id"], x["entries"]) for x in listed] == [("stolen", 1)]
    for path in ("/entries", "/export"):
        resp = await c.get(f"/api/v1/hotlists/stolen{path}", headers=t["other"])
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    for who in ("other", "analyst"):
        resp = await c.post(
            "/api/v1/hotlists/stolen/entries", json=entry_json("2-XYZ-999"), headers=t[who]
        )
        assert resp.status_code == 403
        resp = await c.post("/api/v1/hotlists/stolen/import", content=b"plate\n", headers=t[who])
        assert resp.status_code == 403
    assert (await c.delete("/api/v1/hotlists/stolen", headers=t["other"])).status_code == 403
    assert (await c.get("/api/v1/hotlists")).status_code == 401
    assert (
        await c.get("/api/v1/hotlists", headers={"Authorization": "Bearer x"})
    ).status_code == 401
    assert (await c.get("/api/v1/hotlists/nope", headers=t["op"])).status_code == 404


async def test_retro_days_reach_the_hook(env: Env) -> None:
    c, t = env.client, env.tokens
    resp = await c.post(
        "/api/v1/hotlists/stolen/entries",
        params={"retro_days": 14},
        json=entry_json(),
        headers=t["op"],
    )
    assert env.retro == [(resp.json()["id"], 14)]
    bad = await c.post(
        "/api/v1/hotlists/stolen/entries",
        params={"retro_days": "-1"},
        json=entry_json("2-XYZ-999"),
        headers=t["op"],
    )
    assert bad.status_code == 400 and len(env.retro) == 1


async def test_duplicates_answer_409_and_an_entry_can_be_replaced(env: Env) -> None:
    c, t = env.client, env.tokens
    first = (
        await c.post("/api/v1/hotlists/stolen/entries", json=entry_json(), headers=t["op"])
    ).json()
    dup = await c.post(
        "/api/v1/hotlists/stolen/entries", json=entry_json("1 ABC 123"), headers=t["op"]
    )
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "entry_duplicate"
    url = f"/api/v1/hotlists/stolen/entries/{first['id']}"
    changed = await c.put(url, json=entry_json(action="observe only"), headers=t["chief"])
    assert changed.status_code == 200 and changed.json()["action"] == "observe only"
    assert changed.json()["valid_from"] == first["valid_from"]
    bad = await c.put(url, json=entry_json(expires_at=None), headers=t["chief"])
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "expiry_missing"


async def test_list_life_cycle(env: Env) -> None:
    c, t = env.client, env.tokens
    created = await c.post(
        "/api/v1/hotlists",
        headers=t["admin"],
        json={"name": "Federal", "owner_zone_id": "fedpol", "default_scope": {"kind": "network"}},
    )
    assert created.status_code == 201
    list_id = created.json()["hotlist"]["id"]
    assert list_id.startswith("l-")
    resp = await c.post(
        "/api/v1/hotlists", headers=t["op"], json={"name": "X", "owner_zone_id": "fedpol"}
    )
    assert resp.status_code == 403
    resp = await c.post("/api/v1/hotlists", headers=t["chief"], json={"id": "stolen", "name": "X"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "list_exists"
    resp = await c.post(
        "/api/v1/hotlists",
        headers=t["chief"],
        json={"name": "X", "default_scope": {"kind": "named_zones", "zones": ["pz0000"]}},
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "scope_zone_unknown"
    entry = await c.post(
        f"/api/v1/hotlists/{list_id}/entries", json=entry_json(), headers=t["admin"]
    )
    assert entry.json()["scope"] == {"kind": "network", "zones": []}  # the list's default
    off = await c.put(
        f"/api/v1/hotlists/{list_id}", headers=t["admin"], json={"name": "Federal", "active": False}
    )
    assert off.status_code == 200 and off.json()["hotlist"]["active"] is False
    assert not live(env, "1ABC123")
    assert (await c.delete(f"/api/v1/hotlists/{list_id}", headers=t["admin"])).status_code == 204
    assert (await c.get(f"/api/v1/hotlists/{list_id}", headers=t["admin"])).status_code == 404


async def test_csv_import_and_export(env: Env) -> None:
    c, t = env.client, env.tokens
    good = f"1-ABC-123,BE,stolen_vehicle,intercept,armed,PV 1,WPA art. 44/1,,,,{expiry()},"
    csv = (
        "\n".join(
            [
                ",".join(COLUMNS),
                good,
                f"2-ABC-123,BE,stolen_vehicle,intercept,,PV 2,,,,,{expiry()},",
                good.replace("1-ABC-123", "3-ABC-123"),
            ]
        )
        + "\n"
    )
    resp = await c.post(
        "/api/v1/hotlists/stolen/import",
        content=csv.encode(),
        headers={**t["op"], "Content-Type": "text/csv"},
    )
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["imported"], report["rejected"]) == (2, 1)
    assert [(e["line"], e["reason"]) for e in report["errors"]] == [(3, "legal_basis_missing")]
    denied = await c.get("/api/v1/hotlists/stolen/export", headers=t["analyst"])
    assert denied.status_code == 403
    exported = await c.get("/api/v1/hotlists/stolen/export", headers=t["op"])
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 3
    replaced = await c.post(
        "/api/v1/hotlists/stolen/import",
        params={"replace": "true"},
        content=exported.content,
        headers=t["op"],
    )
    assert replaced.json()["imported"] == 2 and replaced.json()["replaced"] == 2
    bad = await c.post(
        "/api/v1/hotlists/stolen/import", content=b"plate;country\n", headers=t["op"]
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "csv_header_invalid"
    entries: list[HotlistEntry] = env.hotlists.entries("stolen")
    assert sorted(e.plate for e in entries) == ["1ABC123", "3ABC123"]


def test_openapi_documents_the_bodies() -> None:
    app = FastAPI()
    app.include_router(users_api.router)
    app.include_router(hotlists_api.router)
    spec = app.openapi()
    components = schema.components(*hotlists_api.SCHEMAS, *users_api.SCHEMAS)
    post = spec["paths"]["/api/v1/hotlists/{list_id}/entries"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert {"expires_at", "legal_basis"} <= set(components[ref.rsplit("/", 1)[1]]["properties"])
    refs = set(re.findall(r"#/components/schemas/(\w+)", json.dumps(spec)))
    known = set(components) | set(spec["components"]["schemas"]) | {"ErrorOut"}  # app: ErrorOut
    assert refs <= known, refs - known
    imports = spec["paths"]["/api/v1/hotlists/{list_id}/import"]["post"]
    assert "text/csv" in imports["requestBody"]["content"]
    assert "/api/v1/users/{user_id}/token" in spec["paths"]
