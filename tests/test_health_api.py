"""Camera health over HTTP: the heartbeat takes a camera's own token only; the health list
and the alarm history show a zone its own (and managed) cameras, every camera to the
network's administrator, nothing to another zone, and never a plate."""

from __future__ import annotations

import time

import httpx
import pytest

from kruispunt.access.principals import Role, User
from kruispunt.domain.reads import Read
from kruispunt.node import Node
from tests.conftest import ADMIN, make_camera
from tests.people import Clock

A, B = "pz5364", "pz5352"
CAM_A, CAM_B = "pz5364-c001", "pz5352-c001"
SECRET = "9ZZZ999"
SECOND = 1_000_000


@pytest.fixture
def people(node: Node) -> dict[str, str]:
    # B's camera is B's to manage (the default test camera says Turnhout manages it).
    node.save_camera(make_camera(CAM_B, zone=B, manager="PZ Brasschaat"))
    who = {
        "op-a": (A, Role.OPERATOR), "op-b": (B, Role.OPERATOR), "chief-b": (B, Role.ZONE_CHIEF),
        "inv-b": (B, Role.INVESTIGATOR), "aud": ("network", Role.AUDITOR),
    }  # fmt: skip
    return {
        uid: node.users.create(User(id=uid, name=uid, zone_id=z, role=r), actor=None)
        for uid, (z, r) in who.items()
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def feed(node: Node, cam: str, zone: str, n: int) -> None:
    now = time.time_ns() // 1000
    node.writer.submit_reads([
        Read(seq=0, read_id=f"{cam}-{i}", camera_id=cam, zone_id=zone,
             captured_us=now - (i + 1) * SECOND, received_us=now, plate_raw=SECRET,
             plate=SECRET, country="BE", country_inferred=False, plate_format=None,
             confidence=0.9)
        for i in range(n)
    ]).result()  # fmt: skip
    deadline = time.monotonic() + 10
    while sum(c.reads for c in node.store.traffic_counts(now - 3600 * SECOND, cam)) < n:
        assert time.monotonic() < deadline, "the traffic counts did not catch up"
        time.sleep(0.05)


async def test_a_heartbeat_takes_the_cameras_own_token(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    url = f"/api/v1/cameras/{CAM_A}/heartbeat"
    resp = await client.post(url, headers=bearer(tokens[CAM_A]))
    assert resp.status_code == 200 and resp.json()["camera_id"] == CAM_A
    snap = node.health.tracker.snapshot(CAM_A, since_us=0)
    assert snap is not None and snap.last_heartbeat_us == resp.json()["received_us"]
    assert snap.arrivals == ()
    body = {"camera_time": "2026-11-22T08:15:02.120+01:00"}
    resp = await client.post(url, headers=bearer(tokens[CAM_A]), json=body)
    assert resp.status_code == 200
    snap = node.health.tracker.snapshot(CAM_A, since_us=0)
    assert snap is not None and len(snap.arrivals) == 1
    assert (await client.post(url)).status_code == 401
    other = await client.post(url, headers=bearer(tokens[CAM_B]))
    assert other.status_code == 403 and other.json()["error"]["code"] == "camera_mismatch"
    bad = await client.post(url, headers=bearer(tokens[CAM_A]), json={"camera_time": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_heartbeat"
    naive = {"camera_time": "2026-11-22T08:15:02"}
    resp = await client.post(url, headers=bearer(tokens[CAM_A]), json=naive)
    assert resp.status_code == 400


async def test_a_zone_sees_its_own_cameras_and_no_plate(
    client: httpx.AsyncClient, node: Node, people: dict[str, str]
) -> None:
    feed(node, CAM_B, B, 12)
    node.health.tick()

    async def listed(token: str, **params: str) -> httpx.Response:
        return await client.get("/api/v1/health/cameras", headers=bearer(token), params=params)

    resp = await listed(people["op-b"])
    assert resp.status_code == 200
    body = resp.json()
    assert [c["camera_id"] for c in body["cameras"]] == [CAM_B]
    cam = body["cameras"][0]
    assert cam["manager_zone_id"] == B and cam["state"] == "unknown"
    assert cam["status"] == "learning" and len(cam["reads"]) == 96 and sum(cam["reads"]) == 12
    assert cam["last_read_age_s"] is not None and cam["last_read_age_s"] < 60
    assert SECRET not in resp.text
    a = await listed(people["op-a"])
    assert [c["camera_id"] for c in a.json()["cameras"]] == [CAM_A]
    assert CAM_B not in a.text and SECRET not in a.text
    for token in (ADMIN, people["aud"]):
        everything = await listed(token)
        assert {c["camera_id"] for c in everything.json()["cameras"]} == {CAM_A, CAM_B}
    # Filters; another zone is refused, not answered empty.
    assert (await listed(people["op-b"], state="alarm")).json()["cameras"] == []
    assert len((await listed(people["op-b"], state="unknown")).json()["cameras"]) == 1
    assert (await listed(people["op-b"], state="bad")).status_code == 400
    refused = await listed(people["op-a"], zone=B)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "zone_not_visible"
    assert (await listed(ADMIN, zone="nowhere")).status_code == 400
    assert [c["camera_id"] for c in (await listed(ADMIN, zone=B)).json()["cameras"]] == [CAM_B]
    # An investigator works on cases, not on cameras.
    assert (await listed(people["inv-b"])).status_code == 403


async def test_the_alarm_history_shows_a_zone_its_own_alarms(
    client: httpx.AsyncClient, node: Node, people: dict[str, str]
) -> None:
    clock = Clock()
    node.health.clock = clock
    node.health.heartbeat(CAM_B)
    clock.us += 300 * SECOND
    assert [e.alarm.kind for e in node.health.tick()] == ["heartbeat_lost"]

    async def history(token: str, **params: str) -> httpx.Response:
        return await client.get("/api/v1/health/alarms", headers=bearer(token), params=params)

    resp = await history(people["chief-b"])
    assert resp.status_code == 200
    (event,) = resp.json()["events"]
    assert event["camera_id"] == CAM_B and event["event"] == "raised"
    assert event["kind"] == "heartbeat_lost" and "no heartbeat" in event["explanation"]
    assert (await history(people["op-a"])).json()["events"] == []
    assert (await history(people["op-a"], camera=CAM_B)).json()["events"] == []
    assert (await history(people["op-a"], zone=B)).status_code == 403
    assert len((await history(ADMIN, camera=CAM_B)).json()["events"]) == 1
    assert (await history(ADMIN, since="2999-01-01")).json()["events"] == []
    assert (await history(ADMIN, since="yesterday")).status_code == 400
    assert (await history(ADMIN, limit="0")).status_code == 400
    # The page shows the same camera, its state and its alarm.
    page = await client.get("/camera-health-list", params={"access_token": people["op-b"]})
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    assert f'data-camera="{CAM_B}"' in page.text and 'data-state="alarm"' in page.text
    assert CAM_A not in page.text and '<svg class="spark"' in page.text
    form = await client.get("/camera-health")
    assert form.status_code == 200 and "access_token" in form.text
