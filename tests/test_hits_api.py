"""The hits API on the real app in-process: need to know, the workflow, audit of every read."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import httpx
import pytest

from kruispunt.access.principals import Role, User
from kruispunt.access.users import UserService
from kruispunt.api import hits as hits_api
from kruispunt.api.app import create_app
from kruispunt.audit import read_audit
from kruispunt.hits.models import Hit
from kruispunt.hits.service import HitService
from kruispunt.hits.store import HitStore
from kruispunt.hotlists.models import Category
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import on_both_engines
from tests.test_hits_policy import make_hit
from tests.test_matcher import MINUTE, FakeHotlists, make_read

pytestmark = on_both_engines

USERS = {
    "op-5352": ("pz5352", Role.OPERATOR),
    "op-5364": ("pz5364", Role.OPERATOR),
    "chief-5352": ("pz5352", Role.ZONE_CHIEF),
    "analyst-5352": ("pz5352", Role.ANALYST),
    "muni-5352": ("pz5352", Role.MUNICIPALITY),
}


@dataclass
class Api:
    client: httpx.AsyncClient
    node: Node
    service: HitService
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def add_hits(self, *hits: Hit) -> list[Hit]:
        store = self.node.store
        assert isinstance(store, SqlStore)
        hit_store = self.service.hit_store

        def write(_: object) -> list[Hit]:
            with store.transaction() as conn:
                return hit_store.insert(conn, hits)

        return self.node.writer.call(write).result()

    def audit(self, action: str) -> list[tuple[str, str]]:
        store = self.node.store
        assert isinstance(store, SqlStore)
        return [(r.actor, r.object_id) for r in read_audit(store.reader()) if r.action == action]


def _wire(node: Node) -> tuple[HitService, UserService]:
    """Until the composition root builds them (then they are used as they are)."""
    store = node.store
    assert isinstance(store, SqlStore)
    if getattr(node, "users", None) is None:
        users = UserService(store, node.writer)
        users.load()
        setattr(node, "users", users)  # noqa: B010 (not an attribute of Node yet)
    if getattr(node, "hits", None) is None:
        service = HitService(
            store=store, writer=node.writer, hit_store=HitStore(store),
            hotlists=FakeHotlists([], []), network_zone_ids={z.id for z in node.zones},
        )  # fmt: skip
        setattr(node, "hits", service)  # noqa: B010
    return cast(HitService, getattr(node, "hits")), cast(UserService, getattr(node, "users"))  # noqa: B009


@pytest.fixture
async def api(node: Node) -> AsyncIterator[Api]:
    service, users = _wire(node)
    tokens = {
        uid: users.create(User(id=uid, name=uid, zone_id=zone, role=role), actor=None)
        for uid, (zone, role) in USERS.items()
    }
    app = create_app(node, manage_node=False)
    if not any(getattr(r, "path", "").startswith("/api/v1/hits") for r in app.routes):
        app.include_router(hits_api.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kp") as c:
        yield Api(c, node, service, tokens)


def now_us() -> int:
    return time.time_ns() // 1000


async def test_no_token_no_hits(api: Api) -> None:
    for path in ("/api/v1/hits", "/api/v1/hits/h-1", "/api/v1/hits/stats"):
        r = await api.client.get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await api.client.post("/api/v1/hits/h-1/acknowledge")
    assert r.status_code == 401


async def test_the_list_holds_only_the_callers_hits_and_is_audited(api: Api) -> None:
    api.add_hits(make_hit(id="h-net", seq=0),
                 make_hit(id="h-covert", seq=0, category=Category.INVESTIGATION))  # fmt: skip
    r = await api.client.get("/api/v1/hits", headers=api.auth("op-5352"))
    assert r.status_code == 200
    body = r.json()
    assert [h["id"] for h in body["hits"]] == ["h-net"] and body["next_since"] == 2
    assert body["hits"][0]["entry_id"] is None and body["hits"][0]["verify_image"] is False
    r = await api.client.get("/api/v1/hits", headers=api.auth("op-5364"))
    assert [h["id"] for h in r.json()["hits"]] == ["h-net", "h-covert"]
    r = await api.client.get("/api/v1/hits", headers=api.auth("analyst-5352"))
    assert r.json()["hits"] == []
    admin = {"Authorization": "Bearer test-admin-token"}
    assert (await api.client.get("/api/v1/hits", headers=admin)).json()["hits"] == []
    r = await api.client.get("/api/v1/hits?since=1&status=new&limit=5",
                             headers=api.auth("op-5364"))  # fmt: skip
    assert [h["id"] for h in r.json()["hits"]] == ["h-covert"]
    assert api.audit("hits.view") == [("op-5352", "list"), ("op-5364", "list"),
                                      ("op-5364", "list")]  # fmt: skip


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "since=-1", "since=x", "status=gone"])
async def test_bad_queries_are_refused(api: Api, query: str) -> None:
    r = await api.client.get(f"/api/v1/hits?{query}", headers=api.auth("op-5352"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_query"


async def test_an_unknown_hit_and_someone_elses_hit_answer_alike(api: Api) -> None:
    api.add_hits(make_hit(id="h-covert", seq=0, category=Category.INVESTIGATION))
    theirs = await api.client.get("/api/v1/hits/h-covert", headers=api.auth("op-5352"))
    unknown = await api.client.get("/api/v1/hits/h-nothing", headers=api.auth("op-5352"))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"] == "unknown_hit"
    for step in ("acknowledge", "dispatch", "trail"):
        method = api.client.get if step == "trail" else api.client.post
        r = await method(f"/api/v1/hits/h-covert/{step}", headers=api.auth("op-5352"))
        assert r.status_code == 404, step
    mine = await api.client.get("/api/v1/hits/h-covert", headers=api.auth("op-5364"))
    assert mine.status_code == 200
    assert mine.json()["hit"]["entry_id"] == "e-1" and mine.json()["events"] == []
    assert api.audit("hits.view") == [("op-5364", "h-covert")]


async def test_acknowledge_dispatch_close(api: Api) -> None:
    api.add_hits(make_hit(id="h-1", seq=0))
    ack = await api.client.post("/api/v1/hits/h-1/acknowledge", headers=api.auth("op-5352"))
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    again = await api.client.post("/api/v1/hits/h-1/acknowledge", headers=api.auth("op-5364"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "transition_refused"
    r = await api.client.post("/api/v1/hits/h-1/dispatch", json={"note": "unit 7"},
                              headers=api.auth("op-5352"))  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "dispatched"
    for body in ({}, {"outcome": "nonsense"}, {"outcome": "misread", "extra": 1},
                 {"outcome": "misread", "note": "x" * 2001}):  # fmt: skip
        r = await api.client.post("/api/v1/hits/h-1/close", json=body, headers=api.auth("op-5352"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body", body
    r = await api.client.post("/api/v1/hits/h-1/close", content=b"{not json",
                              headers=api.auth("op-5352"))  # fmt: skip
    assert r.status_code == 400
    closing = {"outcome": "intercepted", "note": "stopped on the E34"}
    r = await api.client.post("/api/v1/hits/h-1/close", json=closing, headers=api.auth("op-5352"))
    assert r.status_code == 200 and r.json()["outcome"] == "intercepted"
    r = await api.client.post("/api/v1/hits/h-1/acknowledge", headers=api.auth("op-5352"))
    assert r.status_code == 409
    events = (await api.client.get("/api/v1/hits/h-1", headers=api.auth("op-5364"))).json()
    assert [(e["status"], e["actor"], e["note"]) for e in events["events"]] == [
        ("acknowledged", "op-5352", ""), ("dispatched", "op-5352", "unit 7"),
        ("closed", "op-5352", "stopped on the E34"),
    ]  # fmt: skip


async def test_stats_for_my_zone_or_all(api: Api) -> None:
    now = now_us()
    api.add_hits(make_hit(id="h-1", seq=0, created_us=now - MINUTE),
                 make_hit(id="h-cov", seq=0, created_us=now - MINUTE,
                          category=Category.INVESTIGATION))  # fmt: skip
    mine = await api.client.get("/api/v1/hits/stats", headers=api.auth("op-5352"))
    assert mine.status_code == 200
    assert [(z["zone_id"], z["counts"]["hits"]) for z in mine.json()["zones"]] == [("pz5352", 1)]
    chief = await api.client.get("/api/v1/hits/stats?days=1", headers=api.auth("chief-5352"))
    zones = {z["zone_id"]: z["counts"]["hits"] for z in chief.json()["zones"]}
    assert zones["pz5364"] == 1 and zones["pz5352"] == 1  # the covert hit leaves no trace
    assert [s["list_id"] for s in chief.json()["lists"]] == ["l-pz5364"]
    assert [s["counts"]["hits"] for s in chief.json()["lists"]] == [1]  # covert not shown
    r = await api.client.get("/api/v1/hits/stats", headers=api.auth("muni-5352"))
    assert r.status_code == 403
    r = await api.client.get("/api/v1/hits/stats?days=0", headers=api.auth("op-5352"))
    assert r.status_code == 400


async def test_the_trail_is_for_an_active_hit_and_audited(api: Api) -> None:
    now = now_us()
    reads = [
        make_read("t1", captured_us=now - 8 * MINUTE, received_us=now - 8 * MINUTE + 1000,
                  camera_id="pz5364-c001", zone_id="pz5364"),
        make_read("t2", captured_us=now - MINUTE, received_us=now - MINUTE + 1000,
                  camera_id="pz5352-c001"),
    ]  # fmt: skip
    api.node.writer.submit_reads(reads).result()
    api.add_hits(make_hit(id="h-1", seq=0, captured_us=now - MINUTE, created_us=now - MINUTE),
                 make_hit(id="h-old", seq=0, created_us=now - 20 * MINUTE))  # fmt: skip
    r = await api.client.get("/api/v1/hits/h-1/trail", headers=api.auth("op-5352"))
    assert r.status_code == 200
    assert [p["camera_id"] for p in r.json()["passages"]] == ["pz5352-c001", "pz5364-c001"]
    assert set(r.json()["passages"][0]) == {"camera_id", "zone_id", "captured_us", "direction",
                                            "lane"}  # fmt: skip
    old = await api.client.get("/api/v1/hits/h-old/trail", headers=api.auth("op-5352"))
    assert old.status_code == 409 and old.json()["error"]["code"] == "hit_not_active"
    analyst = await api.client.get("/api/v1/hits/h-1/trail", headers=api.auth("analyst-5352"))
    assert analyst.status_code == 404
    assert api.audit("hits.trail") == [("op-5352", "h-1")]
