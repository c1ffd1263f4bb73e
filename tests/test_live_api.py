"""The live API over a real uvicorn server (SSE and WebSocket streams need a real transport),
the webhooks API and the console's page and camera neighbourhood, on a real node."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from kruispunt.access.principals import Role, User
from kruispunt.access.users import UserService
from kruispunt.api import console as console_api
from kruispunt.api import hits as hits_api
from kruispunt.api import live as live_api
from kruispunt.api.app import create_app
from kruispunt.audit import read_audit
from kruispunt.hits.models import Hit
from kruispunt.hits.service import HitService
from kruispunt.hits.store import HitStore
from kruispunt.hotlists.models import Category
from kruispunt.live.hub import HitHub
from kruispunt.live.webhooks import RetryPolicy, WebhookDispatcher, WebhookStore
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import make_camera, on_both_engines
from tests.test_live_hub import make_hit
from tests.test_matcher import FakeHotlists
from tests.test_webhooks import Receiver, eventually, serve

pytestmark = on_both_engines

USERS = {
    "op-t": ("pz5364", Role.OPERATOR),
    "op-b": ("pz5352", Role.OPERATOR),
    "chief-t": ("pz5364", Role.ZONE_CHIEF),
    "chief-b": ("pz5352", Role.ZONE_CHIEF),
}
ADMIN_TOKEN = "test-admin-token"


@dataclass
class Live:
    base: str
    node: Node
    hub: HitHub
    hit_store: HitStore
    dispatcher: WebhookDispatcher
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def raise_hits(self, *hits: Hit) -> list[Hit]:
        """What the matcher does: store, then publish from its own thread."""
        store = cast(SqlStore, self.node.store)

        def write(_: object) -> list[Hit]:
            with store.transaction() as conn:
                return self.hit_store.insert(conn, hits)

        stored = self.node.writer.call(write).result()
        self.hub.publish(stored)
        return stored

    def ws_url(self, query: str = "") -> str:
        return self.base.replace("http://", "ws://") + "/api/v1/hits/ws" + query


def _wire(node: Node) -> tuple[bool, HitHub, UserService, WebhookDispatcher]:
    """Each part the composition root does not build yet (the ones it builds are used as
    they are); True when the webhook dispatcher is ours to start and stop."""
    store = cast(SqlStore, node.store)
    zones = {z.id for z in node.zones}
    if getattr(node, "users", None) is None:
        users = UserService(store, node.writer)
        users.load()
        setattr(node, "users", users)  # noqa: B010 (not an attribute of Node yet)
    if getattr(node, "hits", None) is None:
        service = HitService(
            store=store, writer=node.writer, hit_store=HitStore(store),
            hotlists=FakeHotlists([], []), network_zone_ids=zones,
        )  # fmt: skip
        setattr(node, "hits", service)  # noqa: B010
    if getattr(node, "hub", None) is None:
        setattr(node, "hub", HitHub(HitStore(store), zones))  # noqa: B010
    hub = cast(HitHub, getattr(node, "hub"))  # noqa: B009
    if getattr(node, "webhooks", None) is None:
        setattr(node, "webhooks", WebhookStore(store, node.writer, zone_ids=zones))  # noqa: B010
    ours = getattr(node, "webhook_dispatcher", None) is None
    if ours:
        dispatcher = WebhookDispatcher(
            getattr(node, "webhooks"),  # noqa: B009
            hub.source, zones, retry=RetryPolicy(base_delay_s=0.01), poll_s=0.1,
        )  # fmt: skip
        setattr(node, "webhook_dispatcher", dispatcher)  # noqa: B010
    return (
        ours,
        hub,
        cast(UserService, getattr(node, "users")),  # noqa: B009
        cast(WebhookDispatcher, getattr(node, "webhook_dispatcher")),  # noqa: B009
    )


@contextmanager
def running_live(node: Node) -> Iterator[Live]:
    """The app with the live parts, served by uvicorn in a thread (a real WebSocket and SSE
    transport), with users for every entry of ``USERS``."""
    own_dispatcher, hub, users, dispatcher = _wire(node)
    node.upsert_cameras([make_camera("pz5364-c002", lon=4.96, lat=51.33)])
    tokens = {
        uid: users.create(User(id=uid, name=uid, zone_id=zone, role=role), actor=None)
        for uid, (zone, role) in USERS.items()
    }
    app = create_app(node, manage_node=False)
    paths = {getattr(r, "path", "") for r in app.routes}
    for module, path in ((live_api, "/api/v1/hits/stream"), (console_api, "/console"),
                         (hits_api, "/api/v1/hits/{hit_id}/acknowledge")):  # fmt: skip
        if path not in paths:
            app.include_router(module.router)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", http="h11"))

    async def run() -> None:
        hub.bind(asyncio.get_running_loop())  # as the app's lifespan does (same loop)
        if own_dispatcher:
            hub.on_published.append(dispatcher.notify)
            await dispatcher.start()
        try:
            await server.serve(sockets=[sock])
        finally:
            if own_dispatcher:
                await dispatcher.stop()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield Live(base, node, hub, cast(HitStore, hub.source), dispatcher, tokens)
    finally:
        hub.shutdown()  # open streams would hold uvicorn's graceful shutdown
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop"
        sock.close()


@pytest.fixture
def live(node: Node) -> Iterator[Live]:
    with running_live(node) as running:
        yield running


@pytest.fixture
async def client(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base, timeout=5) as c:
        yield c


class Sse:
    """Reads a text/event-stream: events as (fields, comments)."""

    def __init__(self, response: httpx.Response):
        self._lines = response.aiter_lines()

    async def event(self, within: float = 5.0) -> tuple[dict[str, str], list[str]]:
        async def read() -> tuple[dict[str, str], list[str]]:
            fields: dict[str, str] = {}
            comments: list[str] = []
            async for line in self._lines:
                if line == "":
                    if fields or comments:
                        return fields, comments
                    continue
                if line.startswith(":"):
                    comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.lstrip(" ")
            raise AssertionError("stream ended")

        return await asyncio.wait_for(read(), within)

    async def message(self) -> tuple[str | None, dict[str, Any]]:
        while True:
            fields, _ = await self.event()
            if "data" in fields:
                return fields.get("id"), json.loads(fields["data"])


def network_hit(n: int, **kw: Any) -> Hit:
    return make_hit(0, id=f"h-api-{n}", read_id=f"r{n}", **kw)


# -- Server-Sent Events -----------------------------------------------------------------------
async def test_sse_needs_a_token_and_a_sane_start(live: Live, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/hits/stream")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await client.get("/api/v1/hits/stream?access_token=nope")
    assert r.status_code == 401
    for query in ("since=-1", "since=x", "backlog=5000"):
        r = await client.get(f"/api/v1/hits/stream?{query}", headers=live.auth("op-b"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_query", query


async def test_sse_streams_the_callers_hits_with_their_seq_as_event_id(
    live: Live, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_api, "HEARTBEAT_S", 0.2)
    token = live.tokens["op-b"]
    async with client.stream("GET", f"/api/v1/hits/stream?access_token={token}") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        sse = Sse(r)
        fields, _ = await sse.event()
        assert fields["retry"] == "3000"
        assert json.loads(fields["data"]) == {
            "type": "hello", "user_id": "op-b", "zone_id": "pz5352", "role": "operator",
            "heartbeat_s": 0.2,
        }  # fmt: skip
        _, comments = await sse.event()
        assert comments == ["ping"]  # nothing to say: a heartbeat keeps proxies from closing
        _covert, net = live.raise_hits(
            network_hit(1, category=Category.INVESTIGATION), network_hit(2)
        )
        event_id, message = await sse.message()
        assert message["type"] == "hit" and event_id == str(net.seq) == str(message["seq"])
        assert message["hit"]["id"] == "h-api-2" and message["hit"]["entry_id"] is None
        assert message["hit"]["plate_read"] == "1ABC123"


async def test_sse_resumes_after_last_event_id_without_gap_or_duplicate(
    live: Live, client: httpx.AsyncClient
) -> None:
    one, two, three = live.raise_hits(network_hit(1), network_hit(2), network_hit(3))
    headers = {**live.auth("op-b"), "Last-Event-ID": str(one.seq)}
    async with client.stream("GET", "/api/v1/hits/stream?since=0", headers=headers) as r:
        sse = Sse(r)
        assert (await sse.message())[1]["type"] == "hello"
        assert [(await sse.message())[0] for _ in range(2)] == [str(two.seq), str(three.seq)]
        (four,) = live.raise_hits(network_hit(4))
        assert (await sse.message())[0] == str(four.seq)
    await eventually(lambda: live.hub.subscribers == 0)  # the client left: nothing behind


# -- WebSocket --------------------------------------------------------------------------------
async def receive(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), within)
    doc: dict[str, Any] = json.loads(raw)
    return doc


async def news(ws: ClientConnection) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    while (message := await receive(ws))["type"] == "ping":
        pass
    return message


async def closed_with(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as info:
        await receive(ws)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def test_ws_refuses_a_bad_token_and_a_bad_query(live: Live) -> None:
    async with connect(live.ws_url("?access_token=nope")) as ws:
        assert await closed_with(ws) == 4401
    async with connect(live.ws_url()) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "nope"}))
        assert await closed_with(ws) == 4401
    async with connect(live.ws_url()) as ws:
        await ws.send("not json")
        assert await closed_with(ws) == 4401
    token = live.tokens["op-b"]
    async with connect(live.ws_url(f"?access_token={token}&since=-3")) as ws:
        assert await closed_with(ws) == 4400


async def test_ws_delivers_live_hits_to_the_zones_that_may_receive_them(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_api, "HEARTBEAT_S", 0.2)
    async with (
        connect(live.ws_url()) as brasschaat,
        connect(live.ws_url(f"?access_token={live.tokens['op-t']}")) as turnhout,
    ):
        await brasschaat.send(json.dumps({"type": "auth", "token": live.tokens["op-b"]}))
        assert (await receive(brasschaat))["zone_id"] == "pz5352"
        assert (await receive(turnhout))["zone_id"] == "pz5364"
        assert await receive(brasschaat) == {"type": "ping"}
        covert, net = live.raise_hits(
            network_hit(1, category=Category.INVESTIGATION), network_hit(2)
        )
        got = [await news(turnhout), await news(turnhout)]
        assert [m["seq"] for m in got] == [covert.seq, net.seq]  # the owner sees its covert hit
        message = await news(brasschaat)
        assert message["seq"] == net.seq and message["hit"]["own_list"] is False
        live.hub.publish_update(net)
        update = await news(brasschaat)
        assert update["type"] == "hit_update" and update["hit"]["id"] == net.id


async def test_ws_reconnect_with_since_gets_the_missed_hits_first(live: Live) -> None:
    token = live.tokens["op-b"]
    one, two = live.raise_hits(network_hit(1), network_hit(2))
    async with connect(live.ws_url(f"?access_token={token}&since={one.seq}")) as ws:
        assert (await receive(ws))["type"] == "hello"
        assert (await receive(ws))["seq"] == two.seq
        (three,) = live.raise_hits(network_hit(3))
        assert (await receive(ws))["seq"] == three.seq
    async with connect(live.ws_url(f"?access_token={token}&backlog=2")) as ws:
        assert (await receive(ws))["type"] == "hello"
        assert [(await receive(ws))["seq"] for _ in range(2)] == [two.seq, three.seq]
    await asyncio.sleep(0.1)
    assert live.hub.subscribers == 0  # closed connections leave nothing behind


# -- webhooks ---------------------------------------------------------------------------------
async def test_webhooks_api_for_zone_chiefs_and_admins(
    live: Live, client: httpx.AsyncClient
) -> None:
    receiver = Receiver()
    stop = serve(receiver)
    try:
        r = await client.post("/api/v1/webhooks", json={"url": receiver.url},
                              headers=live.auth("chief-b"))  # fmt: skip
        assert r.status_code == 201, r.text
        created = r.json()
        hook_id = created["webhook"]["id"]
        assert created["webhook"]["zone_id"] == "pz5352" and created["secret"].startswith("whsec_")
        receiver.secret = created["secret"]

        r = await client.get("/api/v1/webhooks", headers=live.auth("chief-b"))
        assert r.status_code == 200 and [w["webhook"]["id"] for w in r.json()] == [hook_id]
        assert created["secret"] not in r.text  # shown once
        r = await client.get("/api/v1/webhooks", headers=live.auth("chief-t"))
        assert r.json() == []
        r = await client.get("/api/v1/webhooks?zone_id=pz5352", headers=live.auth("chief-t"))
        assert r.status_code == 403
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        r = await client.get("/api/v1/webhooks", headers=admin)
        assert [w["webhook"]["id"] for w in r.json()] == [hook_id]

        for user, body, status in (
            ("op-b", {"url": receiver.url}, 403),  # operators do not manage webhooks
            ("chief-t", {"url": receiver.url, "zone_id": "pz5352"}, 403),
            ("chief-b", {"url": "ftp://x"}, 400),
            ("chief-b", {"url": receiver.url, "extra": 1}, 400),
        ):
            r = await client.post("/api/v1/webhooks", json=body, headers=live.auth(user))
            assert r.status_code == status, (user, body, r.text)
        r = await client.post("/api/v1/webhooks", json={"url": receiver.url})
        assert r.status_code == 401

        # The zone's hits reach it, signed (the receiver checks).
        (hit,) = live.raise_hits(network_hit(1))
        await eventually(lambda: bool(receiver.accepted))
        assert receiver.seqs() == [hit.seq] and receiver.bad_signatures == 0
        r = await client.get("/api/v1/webhooks", headers=live.auth("chief-b"))
        assert r.json()[0]["delivered"] == 1

        r = await client.delete(f"/api/v1/webhooks/{hook_id}", headers=live.auth("chief-t"))
        assert r.status_code == 403
        r = await client.delete(f"/api/v1/webhooks/{hook_id}", headers=live.auth("chief-b"))
        assert r.status_code == 204
        r = await client.delete(f"/api/v1/webhooks/{hook_id}", headers=admin)
        assert r.status_code == 404
        store = cast(SqlStore, live.node.store)
        actions = [a.action for a in read_audit(store.reader(), object_type="webhook")]
        assert actions == ["webhook.create", "webhook.delete"]
    finally:
        stop()


# -- the console ------------------------------------------------------------------------------
async def test_the_console_page_is_self_contained(live: Live, client: httpx.AsyncClient) -> None:
    r = await client.get("/console")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert '<svg class="map"' in html and 'data-camera="pz5364-c001"' in html
    assert 'id="hit-template"' in html and 'src="static/console.js"' in html
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    assert "<script>" not in html  # no inline script (the data block is JSON, not code)
    for asset in ("static/console.js", "static/console.css"):
        assert (await client.get(f"/{asset}")).status_code == 200


async def test_next_cameras_are_the_nearest_in_metres(
    live: Live, client: httpx.AsyncClient
) -> None:
    r = await client.get("/api/v1/cameras/pz5364-c001/next?limit=2")
    assert r.status_code == 200
    body = r.json()
    assert body["camera_id"] == "pz5364-c001"
    # c001 and pz5352-c001 stand at (4.9446, 51.3227): the same site is no "next" camera
    assert [c["camera_id"] for c in body["cameras"]] == ["pz5364-c002"]  # at (4.96, 51.33)
    assert 1300 < body["cameras"][0]["distance_m"] < 1400
    assert 40 < body["cameras"][0]["bearing_deg"] < 70  # to the north-east
    assert (await client.get("/api/v1/cameras/nope/next")).status_code == 404
    for limit in ("0", "x", "21"):
        r = await client.get(f"/api/v1/cameras/pz5364-c001/next?limit={limit}")
        assert r.status_code == 400
