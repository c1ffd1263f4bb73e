"""POST /api/v1/ingest/{format}: vendor payloads through the native ingest path, on a node."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import kruispunt.ingest.adapters as adapters_pkg
from kruispunt.access.principals import Role, User
from kruispunt.domain.cameras import CameraIngest
from kruispunt.hotlists.models import HotlistList
from kruispunt.ingest.adapters import REGISTRY, build
from kruispunt.ingest.validate import plate_info
from kruispunt.node import Node
from tests.conftest import batch_json, make_camera, now, on_both_engines, read_json
from tests.test_hotlists_service import draft

pytestmark = on_both_engines

# The documented payloads shipped with the package (samples/SOURCES.md says which documents).
FIXTURES = Path(adapters_pkg.__file__).parent / "samples"
CAM = "pz5364-c001"
OTHER = "pz5352-c001"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) + b"\xff\xd9"

PAYLOADS = [
    ("onvif-profile-m", "onvif_scene.xml", "application/xml"),
    ("onvif-profile-m", "onvif_event.xml", "application/xml"),
    ("hikvision-isapi", "hikvision_anpr.xml", "application/xml"),
    ("axis-lpv", "axis_lpv.json", "application/json"),
    ("openalpr", "openalpr_group.json", "application/json"),
    ("openalpr", "openalpr_results.json", "application/json"),
    ("platerecognizer", "platerecognizer_stream.json", "application/json"),
    ("platerecognizer", "platerecognizer_snapshot.json", "application/json"),
    ("frigate", "frigate_end.json", "application/json"),
]


def fresh(name: str) -> bytes:
    """A fixture moved to yesterday (the node refuses captures older than a week)."""
    data = (FIXTURES / name).read_bytes()
    day = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    epoch = str(int(day.timestamp()))[:8].encode()
    return (
        data.replace(b"2024-05-17", day.strftime("%Y-%m-%d").encode())
        .replace(b"20240517", day.strftime("%Y%m%d").encode())
        .replace(b"17159532", epoch)
    )


def bearer(token: str, content_type: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": content_type}


def basic(user: str, password: str, content_type: str = "application/json") -> dict[str, str]:
    cred = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {cred}", "Content-Type": content_type}


def multipart(
    parts: list[tuple[str, str, bytes]], boundary: str = "XbOuNdArY"
) -> tuple[bytes, str]:
    body = b""
    for name, ctype, data in parts:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{name}"\r\nContent-Type: {ctype}\r\n\r\n'
        )
        body += head.encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def stored_ids(node: Node, plate: str, country: str | None) -> set[tuple[str, str]]:
    info = plate_info(plate, country)
    assert not isinstance(info, str), info
    now_us = int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)
    reads = node.store.reads_of_plate(info.plate, now_us - 8 * 86_400_000_000, now_us)
    return {(r.camera_id, r.read_id) for r in reads}


@pytest.mark.parametrize(("key", "name", "ctype"), PAYLOADS)
async def test_each_format_is_stored_as_reads_of_the_camera(
    client: httpx.AsyncClient, node: Node, key: str, name: str, ctype: str
) -> None:
    token = node.issue_token(CAM)
    payload = fresh(name)
    expected = build(key).decode(payload, ctype).reads
    assert expected
    resp = await client.post(f"/api/v1/ingest/{key}", content=payload, headers=bearer(token, ctype))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["camera_id"], body["format"]) == (CAM, key)
    assert (body["stored"], body["duplicates"], body["rejected"]) == (len(expected), 0, 0)
    assert [r["read_id"] for r in body["results"]] == [r.read_id for r in expected]
    for r in expected:
        assert (CAM, r.read_id) in stored_ids(node, r.plate, r.country)
    # A resend (a camera retrying) stores nothing new.
    again = await client.post(
        f"/api/v1/ingest/{key}", content=payload, headers=bearer(token, ctype)
    )
    assert again.status_code == 200, again.text
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, len(expected))
    assert node.store.count_reads() == len(expected)


async def test_basic_auth_with_camera_id_and_token(client: httpx.AsyncClient, node: Node) -> None:
    token = node.issue_token(CAM)
    resp = await client.post(
        "/api/v1/ingest/axis-lpv", content=fresh("axis_lpv.json"), headers=basic(CAM, token)
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["stored"] == 1 and node.store.count_reads() == 1


async def test_wrong_credentials_are_401_and_store_nothing(
    client: httpx.AsyncClient, node: Node
) -> None:
    token = node.issue_token(CAM)
    other = node.issue_token(OTHER)
    url, payload = "/api/v1/ingest/axis-lpv", fresh("axis_lpv.json")
    for headers in (
        bearer("not-a-token"),
        basic(CAM, "not-a-token"),
        basic(OTHER, token),  # the right token under another camera's id
        basic(CAM, other),
        basic("", token),
        {"Authorization": "Basic !!!not-base64"},
        {},
    ):
        resp = await client.post(url, content=payload, headers=headers)
        assert resp.status_code == 401, (headers, resp.text)
        assert resp.json()["error"]["code"] == "unauthorized"
        assert resp.headers["www-authenticate"].startswith("Basic")
    assert node.store.count_reads() == 0


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"<not xml",
        b"{}",
        fresh("hikvision_anpr.xml").replace(b"<eventType>ANPR", b"<eventType>VMD"),
    ],
)
async def test_malformed_payload_is_400_and_stores_nothing(
    client: httpx.AsyncClient, node: Node, payload: bytes
) -> None:
    token = node.issue_token(CAM)
    resp = await client.post(
        "/api/v1/ingest/hikvision-isapi", content=payload, headers=bearer(token, "application/xml")
    )
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "malformed_payload" and error["message"].startswith("hikvision-isapi:")
    assert node.store.count_reads() == 0


async def test_unknown_format_is_404_with_the_formats(
    client: httpx.AsyncClient, node: Node
) -> None:
    token = node.issue_token(CAM)
    resp = await client.post("/api/v1/ingest/nope", content=b"{}", headers=bearer(token))
    assert resp.status_code == 404, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unknown_format"
    assert all(key in error["message"] for key in REGISTRY)
    # ... but only to a camera: without credentials it is 401, whatever the path.
    assert (await client.post("/api/v1/ingest/nope", content=b"{}")).status_code == 401


async def test_hikvision_multipart_picture_is_kept(client: httpx.AsyncClient, node: Node) -> None:
    token = node.issue_token(CAM)
    body, ctype = multipart(
        [
            ("anpr.xml", "text/xml", fresh("hikvision_anpr.xml")),
            ("licensePlatePicture.jpg", "image/jpeg", JPEG),
            ("detectionPicture.jpg", "image/jpeg", JPEG + b"2"),
        ]
    )
    resp = await client.post(
        "/api/v1/ingest/hikvision-isapi", content=body, headers=basic(CAM, token, ctype)
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    (read,) = out["results"]
    assert out["stored"] == 1 and read["status"] == "stored"
    first, second = out["images"]
    assert (first["kind"], first["status"]) == ("licensePlatePicture", "stored")
    assert (second["status"], second["reason"]) == ("skipped", "one_image_per_read")
    record = node.images.get(first["image_id"])
    assert (record.camera_id, record.read_id) == (CAM, read["read_id"])
    assert record.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert node.images.files.get(record.day, record.name) == JPEG
    # Resent by the camera: the read is a duplicate and so is its picture.
    again = (
        await client.post(
            "/api/v1/ingest/hikvision-isapi", content=body, headers=basic(CAM, token, ctype)
        )
    ).json()
    assert again["duplicates"] == 1 and again["images"][0]["status"] == "duplicate"
    assert again["images"][0]["image_id"] == first["image_id"]


async def test_a_refused_picture_does_not_fail_the_read(
    client: httpx.AsyncClient, node: Node
) -> None:
    token = node.issue_token(CAM)
    body, ctype = multipart(
        [
            ("anpr.xml", "text/xml", fresh("hikvision_anpr.xml")),
            ("licensePlatePicture.jpg", "image/jpeg", b"not a jpeg at all"),
        ]
    )
    resp = await client.post(
        "/api/v1/ingest/hikvision-isapi", content=body, headers=bearer(token, ctype)
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["stored"] == 1 and node.store.count_reads() == 1
    (image,) = out["images"]
    assert (image["status"], image["reason"]) == ("failed", "not_an_image")


async def test_reads_naming_another_camera_are_refused(
    client: httpx.AsyncClient, node: Node
) -> None:
    token = node.issue_token(CAM)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    line = (
        f'{{"read_id": "r1", "captured_at": "{now.isoformat()}", "plate": "1ABC123", '
        f'"confidence": 0.9, "camera_id": "{OTHER}"}}\n'
    )
    resp = await client.post(
        "/api/v1/ingest/replay",
        content=line.encode(),
        headers=bearer(token, "application/x-ndjson"),
    )
    assert resp.status_code == 422, resp.text
    assert node.store.count_reads() == 0
    ok = line.replace(OTHER, CAM).encode()
    resp = await client.post(
        "/api/v1/ingest/replay", content=ok, headers=bearer(token, "application/x-ndjson")
    )
    assert resp.status_code == 200 and resp.json()["backfilled"] is True, resp.text


async def test_back_pressure_is_429(client: httpx.AsyncClient, node: Node) -> None:
    token = node.issue_token(CAM)
    node.ingest._inflight_bytes = node.ingest.config.max_inflight_bytes
    try:
        resp = await client.post(
            "/api/v1/ingest/axis-lpv", content=fresh("axis_lpv.json"), headers=bearer(token)
        )
    finally:
        node.ingest._inflight_bytes = 0
    assert resp.status_code == 429, resp.text
    assert resp.headers["retry-after"] and resp.json()["error"]["code"] == "saturated"
    assert node.store.count_reads() == 0


# -- the camera's registered format and settings ----------------------------------------------


def register(node: Node, camera_id: str, fmt: str, **settings: Any) -> str:
    """Register ``camera_id`` for ``fmt`` with ``settings``; its (new) token."""
    zone = camera_id.partition("-")[0]
    node.save_camera(
        make_camera(camera_id, zone=zone, ingest=CameraIngest(format=fmt, settings=settings))
    )
    return node.issue_token(camera_id)


def captured_of(node: Node, plate: str, read_id: str) -> int:
    info = plate_info(plate, None)
    assert not isinstance(info, str)
    now_us = int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)
    (read,) = [
        r
        for r in node.store.reads_of_plate(info.plate, now_us - 8 * 86_400_000_000, now_us)
        if r.read_id == read_id
    ]
    return read.captured_us


async def test_the_camera_settings_decode_its_payloads(
    client: httpx.AsyncClient, node: Node
) -> None:
    # A camera sending local time without an offset: its registered zone says which.
    token = register(node, CAM, "hikvision-isapi", local_timezone="Europe/Brussels")
    payload = re.sub(rb"(<dateTime>[^<+Z]*)[^<]*", rb"\1", fresh("hikvision_anpr.xml"))
    ctype = "application/xml"
    resp = await client.post(
        "/api/v1/ingest/hikvision-isapi", content=payload, headers=bearer(token, ctype)
    )
    assert resp.status_code == 200 and resp.json()["stored"] == 1, resp.text
    brussels = build("hikvision-isapi", {"local_timezone": "Europe/Brussels"})
    (expected,) = brussels.decode(payload, ctype).reads
    (utc,) = build("hikvision-isapi").decode(payload, ctype).reads
    assert expected.captured_at != utc.captured_at
    got = captured_of(node, expected.plate, expected.read_id)
    assert got == int(expected.captured_at.timestamp() * 1_000_000)


async def test_a_changed_setting_takes_effect_at_once(
    client: httpx.AsyncClient, node: Node
) -> None:
    token = register(node, CAM, "axis-lpv")
    payload = fresh("axis_lpv.json")  # carState "lost": a read by default
    resp = await client.post("/api/v1/ingest/axis-lpv", content=payload, headers=bearer(token))
    assert resp.json()["stored"] == 1, resp.text
    register(node, CAM, "axis-lpv", emit_on=["new"])  # the cached decoder is stale now
    token = node.issue_token(CAM)
    resp = await client.post("/api/v1/ingest/axis-lpv", content=payload, headers=bearer(token))
    assert resp.status_code == 200 and resp.json()["results"] == [], resp.text


async def test_a_camera_sends_only_its_own_format_and_replay(
    client: httpx.AsyncClient, node: Node
) -> None:
    token = register(node, CAM, "hikvision-isapi")
    resp = await client.post(
        "/api/v1/ingest/axis-lpv", content=fresh("axis_lpv.json"), headers=bearer(token)
    )
    assert resp.status_code == 403, resp.text
    error = resp.json()["error"]
    assert error["code"] == "wrong_format" and "/api/v1/ingest/hikvision-isapi" in error["message"]
    ok = await client.post(
        "/api/v1/ingest/hikvision-isapi",
        content=fresh("hikvision_anpr.xml"),
        headers=bearer(token, "application/xml"),
    )
    assert ok.status_code == 200 and ok.json()["stored"] == 1, ok.text
    # Replaying its own buffer is always allowed; an unknown format is still 404.
    line = json.dumps(read_json("replayed-1", captured_at=now() - dt.timedelta(minutes=3)))
    resp = await client.post(
        "/api/v1/ingest/replay", content=line.encode(), headers=bearer(token, "application/jsonl")
    )
    assert resp.status_code == 200 and resp.json()["stored"] == 1, resp.text
    resp = await client.post("/api/v1/ingest/nope", content=b"{}", headers=bearer(token))
    assert resp.status_code == 404
    assert node.store.count_reads() == 2


async def test_a_native_camera_sends_no_vendor_format(
    client: httpx.AsyncClient, node: Node
) -> None:
    token = register(node, CAM, "native")
    resp = await client.post(
        "/api/v1/ingest/frigate", content=fresh("frigate_end.json"), headers=bearer(token)
    )
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "wrong_format"
    assert "POST /api/v1/reads" in resp.json()["error"]["message"]
    resp = await client.post(
        "/api/v1/reads", content=batch_json(CAM, [read_json("n-1")]), headers=bearer(token)
    )
    assert resp.status_code == 200 and node.store.count_reads() == 1, resp.text


# -- back-fill: hits from replayed reads are late ---------------------------------------------

WANTED = "1-WNT-001"


def wanted_list(node: Node) -> None:
    token = node.users.create(
        User(id="chief", name="chief", zone_id="pz5364", role=Role.ZONE_CHIEF), actor=None
    )
    chief = node.users.principal_for_token(token)
    assert chief is not None
    node.hotlists.create_list(
        HotlistList(id="stolen", name="Stolen", owner_zone_id="pz5364"), actor=chief
    )
    since = (now() - dt.timedelta(hours=2)).isoformat()
    node.hotlists.create_entry("stolen", draft(WANTED, country="BE", valid_from=since), actor=chief)


def hits_by_read(node: Node, count: int) -> dict[str, bool]:
    """read id -> late, once ``count`` hits are stored."""
    deadline = time.monotonic() + 10
    while len(hits := node.hit_store.since(0, 100)) < count:
        assert time.monotonic() < deadline, f"{len(hits)} hits, expected {count}"
        time.sleep(0.05)
    return {h.read_id: h.late for h in hits}


async def test_replayed_reads_raise_late_hits_and_live_reads_do_not(
    client: httpx.AsyncClient, node: Node
) -> None:
    wanted_list(node)
    token = node.issue_token(CAM)
    lines = [
        read_json("hour-old", WANTED, country="BE", captured_at=now() - dt.timedelta(hours=1)),
        # A short outage: two minutes' lag, yet the vehicle is gone: late too.
        read_json("short-gap", WANTED, country="BE", captured_at=now() - dt.timedelta(minutes=2)),
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    resp = await client.post(
        "/api/v1/ingest/replay", content=body, headers=bearer(token, "application/x-ndjson")
    )
    assert resp.status_code == 200 and resp.json()["backfilled"] is True, resp.text
    live = batch_json(CAM, [read_json("live", WANTED, country="BE")])
    resp = await client.post("/api/v1/reads", content=live, headers=bearer(token))
    assert resp.status_code == 200, resp.text
    # A native camera replaying its buffer says so per read.
    own = batch_json(CAM, [read_json("native-replay", WANTED, country="BE", backfilled=True)])
    resp = await client.post("/api/v1/reads", content=own, headers=bearer(token))
    assert resp.status_code == 200, resp.text
    assert hits_by_read(node, 4) == {
        "hour-old": True, "short-gap": True, "live": False, "native-replay": True
    }  # fmt: skip
