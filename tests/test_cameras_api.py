"""The camera registry through the API: anyone may look, only an admin may change."""

from __future__ import annotations

import httpx
import msgspec

from kruispunt.camera_files import dump_cameras_csv, dump_cameras_geojson
from kruispunt.domain.cameras import CameraIngest
from kruispunt.node import Node
from tests.conftest import ADMIN, make_camera, on_both_engines

pytestmark = on_both_engines

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


async def test_list_and_get(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    listed = (await client.get("/api/v1/cameras")).json()
    assert [c["camera"]["id"] for c in listed] == ["pz5352-c001", "pz5364-c001"]
    assert all(c["has_token"] for c in listed)
    one = (await client.get("/api/v1/cameras/pz5364-c001")).json()
    assert one["camera"]["zone_id"] == "pz5364" and one["camera"]["purposes"] == [
        "police",
        "statistics",
    ]
    assert (await client.get("/api/v1/cameras/nope")).status_code == 404


async def test_put_creates_and_replaces(client: httpx.AsyncClient, node: Node) -> None:
    cam = make_camera("pz5369-c007", zone="pz5369", road="N13", lanes=2)
    resp = await client.put(
        "/api/v1/cameras/pz5369-c007", content=msgspec.json.encode(cam), headers=ADMIN_H
    )
    assert resp.status_code == 200 and resp.json()["has_token"] is False
    moved = msgspec.structs.replace(cam, lon=4.83, road="N153")
    await client.put(
        "/api/v1/cameras/pz5369-c007", content=msgspec.json.encode(moved), headers=ADMIN_H
    )
    assert node.registry.get("pz5369-c007") == moved
    assert {c.camera.id: c.camera for c in node.store.cameras()}["pz5369-c007"] == moved


async def test_changes_need_the_admin_token(client: httpx.AsyncClient, node: Node) -> None:
    body = msgspec.json.encode(make_camera("pz5369-c008", zone="pz5369"))
    for headers in ({}, {"Authorization": "Bearer nope"}):
        resp = await client.put("/api/v1/cameras/pz5369-c008", content=body, headers=headers)
        assert resp.status_code == 401
        assert (
            await client.delete("/api/v1/cameras/pz5364-c001", headers=headers)
        ).status_code == 401
        resp = await client.post("/api/v1/cameras/pz5364-c001/token", headers=headers)
        assert resp.status_code == 401
    assert node.registry.get("pz5369-c008") is None


async def test_invalid_cameras_are_refused_with_reasons(client: httpx.AsyncClient) -> None:
    bad = make_camera("pz5369-c009", zone="pz9999", lon=200.0)
    resp = await client.put(
        "/api/v1/cameras/pz5369-c009", content=msgspec.json.encode(bad), headers=ADMIN_H
    )
    assert resp.status_code == 400
    message = resp.json()["error"]["message"]
    assert "zone_id" in message and "position" in message
    resp = await client.put("/api/v1/cameras/x", content=b'{"id": "x"}', headers=ADMIN_H)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_camera"
    cam = msgspec.json.encode(make_camera("pz5369-c010", zone="pz5369"))
    resp = await client.put("/api/v1/cameras/other", content=cam, headers=ADMIN_H)
    assert resp.status_code == 400


async def test_delete_revokes_the_token_and_keeps_the_reads(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    resp = await client.delete("/api/v1/cameras/pz5364-c001", headers=ADMIN_H)
    assert resp.status_code == 204
    assert (await client.get("/api/v1/cameras/pz5364-c001")).status_code == 404
    assert node.registry.camera_for_token(tokens["pz5364-c001"]) is None
    assert (await client.delete("/api/v1/cameras/pz5364-c001", headers=ADMIN_H)).status_code == 404


async def test_import_geojson_and_csv(client: httpx.AsyncClient, node: Node) -> None:
    cams = [make_camera(f"pz5355-c{i:03d}", zone="pz5355") for i in range(3)]
    resp = await client.post(
        "/api/v1/cameras/import", content=dump_cameras_geojson(cams), headers=ADMIN_H
    )
    assert resp.status_code == 200 and resp.json()["imported"] == 3
    more = [make_camera("pz5355-c100", zone="pz5355")]
    resp = await client.post(
        "/api/v1/cameras/import",
        content=dump_cameras_csv(more),
        headers={**ADMIN_H, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 200
    assert {c.id for c in node.registry.all()} >= {c.id for c in cams + more}


async def test_a_corrupt_import_loads_nothing(client: httpx.AsyncClient, node: Node) -> None:
    cams = [make_camera("pz5355-c200", zone="pz5355"), make_camera("pz5355-c201", zone="nowhere")]
    resp = await client.post(
        "/api/v1/cameras/import", content=dump_cameras_geojson(cams), headers=ADMIN_H
    )
    assert resp.status_code == 400
    assert "nowhere" in resp.json()["error"]["message"]
    assert node.registry.get("pz5355-c200") is None


async def test_the_ingest_setting_is_registered_and_checked(
    client: httpx.AsyncClient, node: Node
) -> None:
    setting = CameraIngest(format="axis-lpv", settings={"local_timezone": "Europe/Brussels"})
    cam = make_camera("pz5369-c011", zone="pz5369", ingest=setting)
    resp = await client.put(
        "/api/v1/cameras/pz5369-c011", content=msgspec.json.encode(cam), headers=ADMIN_H
    )
    assert resp.status_code == 200, resp.text
    got = (await client.get("/api/v1/cameras/pz5369-c011")).json()["camera"]["ingest"]
    assert got == {"format": "axis-lpv", "settings": {"local_timezone": "Europe/Brussels"}}
    assert {c.camera.id: c.camera for c in node.store.cameras()}["pz5369-c011"] == cam
    # Each bad setting is named: unknown format, a vendor option's bad value, a camera id.
    for ingest, expected in (
        ({"format": "betamax"}, "ingest.format: unknown format 'betamax'"),
        ({"format": "axis-lpv", "settings": {"emit_on": ["gone"]}}, "ingest.settings.emit_on"),
        ({"format": "frigate", "settings": {"local_timezone": "Mars/Olympus"}}, "Mars/Olympus"),
        ({"format": "frigate", "settings": {"colour": "red"}}, "ingest.settings.colour"),
        ({"format": "replay", "settings": {"camera_id": "pz5364-c001"}}, "camera_id"),
        ({"format": "native", "settings": {"max_bytes": 2048}}, "native format has no"),
    ):
        body = msgspec.to_builtins(msgspec.structs.replace(cam, ingest=None)) | {"ingest": ingest}
        resp = await client.put(
            "/api/v1/cameras/pz5369-c011", content=msgspec.json.encode(body), headers=ADMIN_H
        )
        assert resp.status_code == 400, (ingest, resp.text)
        error = resp.json()["error"]
        assert error["code"] == "invalid_camera" and expected in error["message"], error
    assert node.registry.get("pz5369-c011") == cam  # nothing changed
