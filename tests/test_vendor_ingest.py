"""POST /api/v1/ingest/{format}: vendor payloads through the native ingest path, on a node."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import httpx
import pytest

from kruispunt.ingest.adapters import REGISTRY, build
from kruispunt.ingest.validate import plate_info
from kruispunt.node import Node
from tests.conftest import on_both_engines

pytestmark = on_both_engines

FIXTURES = Path(__file__).parent / "fixtures" / "vendors"
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
