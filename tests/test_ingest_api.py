"""The native ingest endpoint against a real node on a real SQLite file."""

from __future__ import annotations

import datetime as dt
import threading

import httpx
import pytest

from kruispunt.node import Node
from kruispunt.store.base import StoreError
from tests.conftest import batch_json, now, on_both_engines, read_json

pytestmark = on_both_engines

URL = "/api/v1/reads"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def test_batch_is_stored_and_acknowledged_per_read(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    reads = [read_json(f"r{i}", plate=f"1-ABC-{i:03d}") for i in range(10)]
    resp = await client.post(
        URL, content=batch_json("pz5364-c001", reads), headers=auth(tokens["pz5364-c001"])
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["stored"], body["duplicates"], body["rejected"]) == (10, 0, 0)
    seqs = [r["seq"] for r in body["results"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10
    assert [r["read_id"] for r in body["results"]] == [f"r{i}" for i in range(10)]
    stored = node.store.reads_after(0, 100)
    assert [r.read_id for r in stored] == [f"r{i}" for i in range(10)]
    first = stored[0]
    assert first.plate == "1ABC000" and first.plate_raw == "1-ABC-000"
    assert first.country == "BE" and first.country_inferred
    assert first.zone_id == "pz5364" and first.camera_id == "pz5364-c001"


async def test_resend_is_idempotent(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    body = batch_json("pz5364-c001", [read_json("a"), read_json("b")])
    first = (await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))).json()
    again = (await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))).json()
    assert again["stored"] == 0 and again["duplicates"] == 2
    assert [r["seq"] for r in again["results"]] == [r["seq"] for r in first["results"]]
    assert {r["status"] for r in again["results"]} == {"duplicate"}
    assert node.store.count_reads() == 2


async def test_same_read_id_twice_in_one_batch_is_stored_once(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    body = batch_json("pz5364-c001", [read_json("x"), read_json("x")])
    resp = (await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))).json()
    assert [r["status"] for r in resp["results"]] == ["stored", "duplicate"]
    assert resp["results"][0]["seq"] == resp["results"][1]["seq"]
    assert node.store.count_reads() == 1


async def test_same_read_id_from_two_cameras_are_two_reads(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    for cam in ("pz5364-c001", "pz5352-c001"):
        resp = await client.post(
            URL, content=batch_json(cam, [read_json("same")]), headers=auth(tokens[cam])
        )
        assert resp.json()["stored"] == 1
    assert node.store.count_reads() == 2


async def test_bad_reads_are_rejected_with_reasons_and_good_ones_kept(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    reads = [
        read_json("ok"),
        read_json("future", captured_at=now() + dt.timedelta(hours=2)),
        read_json("old", captured_at=now() - dt.timedelta(days=30)),
        read_json("empty", plate=" - "),
        read_json("long", plate="A" * 40),
        read_json("weird", plate="1-AB💥-123"),
        read_json("conf", confidence=1.5),
        read_json("country", country="Belgium"),
        read_json("other-cam", camera_id="pz5352-c001"),
    ]
    resp = await client.post(
        URL, content=batch_json("pz5364-c001", reads), headers=auth(tokens["pz5364-c001"])
    )
    assert resp.status_code == 200
    reasons = {r["read_id"]: r.get("reason") for r in resp.json()["results"]}
    assert reasons == {
        "ok": None,
        "future": "captured_in_future",
        "old": "captured_too_old",
        "empty": "plate_empty",
        "long": "plate_too_long",
        "weird": "plate_invalid_characters",
        "conf": "confidence_out_of_range",
        "country": "country_invalid",
        "other-cam": "camera_mismatch",
    }
    assert [r.read_id for r in node.store.reads_after(0, 100)] == ["ok"]


async def test_all_rejected_is_422_and_stores_nothing(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    body = batch_json("pz5364-c001", [read_json("f", captured_at=now() + dt.timedelta(days=1))])
    resp = await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))
    assert resp.status_code == 422
    assert resp.json()["results"][0]["reason"] == "captured_in_future"
    assert node.store.count_reads() == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_batch"),
        (b'{"version": 2, "camera_id": "pz5364-c001", "reads": []}', 400, "malformed_batch"),
        (b'{"version": 1, "camera_id": "pz5364-c001", "reads": {}}', 400, "malformed_batch"),
        (b'{"version": 1, "reads": []}', 400, "malformed_batch"),
        (b'{"version": 1, "camera_id": "nope", "reads": []}', 404, "unknown_camera"),
        (b'{"version": 1, "camera_id": "pz5352-c001", "reads": []}', 403, "camera_mismatch"),
    ],
)
async def test_refused_batches(
    client: httpx.AsyncClient,
    node: Node,
    tokens: dict[str, str],
    body: bytes,
    status: int,
    code: str,
) -> None:
    resp = await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert node.store.count_reads() == 0


async def test_a_malformed_read_is_rejected_alone_with_its_path(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    reads = [
        read_json("a"),
        read_json("b", confidence="high"),
        read_json("c", captured_at=now().replace(tzinfo=None)),
        read_json("d", direction="sideways"),
        read_json("e", colour="x" * 65),
        {**read_json("f"), "speed_kmh": 50},
        read_json("g"),
    ]
    resp = await client.post(
        URL, content=batch_json("pz5364-c001", reads), headers=auth(tokens["pz5364-c001"])
    )
    assert resp.status_code == 200
    body = resp.json()
    assert (body["stored"], body["rejected"]) == (2, 5)
    results = body["results"]
    assert [r["status"] for r in results] == ["stored"] + ["rejected"] * 5 + ["stored"]
    assert {r["reason"] for r in results[1:6]} == {"read_malformed"}
    assert [r["read_id"] for r in results] == list("abcdefg")
    assert "$.reads[1].confidence" in results[1]["detail"]
    assert "$.reads[2].captured_at" in results[2]["detail"]
    assert "speed_kmh" in results[5]["detail"]
    assert {r.read_id for r in node.store.reads_after(0, 10)} == {"a", "g"}


async def test_only_malformed_reads_is_422(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    body = batch_json("pz5364-c001", [read_json("a", confidence="high")])
    resp = await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))
    assert resp.status_code == 422
    assert resp.json()["results"][0]["reason"] == "read_malformed"
    assert node.store.count_reads() == 0


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer "])
async def test_wrong_or_missing_token(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str], header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    resp = await client.post(
        URL, content=batch_json("pz5364-c001", [read_json("a")]), headers=headers
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    assert node.store.count_reads() == 0


async def test_new_token_revokes_the_old_one(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    old = tokens["pz5364-c001"]
    new = node.issue_token("pz5364-c001")
    body = batch_json("pz5364-c001", [read_json("a")])
    assert (await client.post(URL, content=body, headers=auth(old))).status_code == 401
    assert (await client.post(URL, content=body, headers=auth(new))).status_code == 200


async def test_oversized_batches_are_refused(
    tmp_path: object, tokens: dict[str, str], client: httpx.AsyncClient, node: Node
) -> None:
    limit = node.config.ingest.max_batch_reads
    reads = [read_json(f"r{i}") for i in range(limit + 1)]
    resp = await client.post(
        URL, content=batch_json("pz5364-c001", reads), headers=auth(tokens["pz5364-c001"])
    )
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "batch_too_large"
    huge = (
        b'{"version": 1, "camera_id": "pz5364-c001", "reads": ['
        + b" " * node.config.ingest.max_body_bytes
        + b"]}"
    )
    resp = await client.post(URL, content=huge, headers=auth(tokens["pz5364-c001"]))
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "body_too_large"
    assert node.store.count_reads() == 0


async def test_saturated_node_answers_429_with_retry_after(
    tmp_path: object, tokens: dict[str, str], client: httpx.AsyncClient, node: Node
) -> None:
    # Hold the writer busy so accepted reads pile up, then exceed the bound.
    release = threading.Event()
    node.writer.call(lambda _s: release.wait(10))
    limit = node.config.ingest.max_pending_reads
    node.writer._max_pending = 5  # the configured bound, shrunk for the test
    try:
        import asyncio

        first = asyncio.create_task(
            client.post(
                URL,
                content=batch_json("pz5364-c001", [read_json(f"a{i}") for i in range(5)]),
                headers=auth(tokens["pz5364-c001"]),
            )
        )
        while node.writer.pending_reads < 5:  # noqa: ASYNC110 (state lives on another thread)
            await asyncio.sleep(0.01)
        resp = await client.post(
            URL,
            content=batch_json("pz5364-c001", [read_json("b")]),
            headers=auth(tokens["pz5364-c001"]),
        )
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "1"
        assert resp.json()["error"]["code"] == "saturated"
    finally:
        release.set()
        node.writer._max_pending = limit
    assert (await first).json()["stored"] == 5
    assert {r.read_id for r in node.store.reads_after(0, 100)} == {f"a{i}" for i in range(5)}


async def test_store_failure_acknowledges_nothing(
    tmp_path: object, client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    real_append = node.store.append

    def broken(reads: object) -> object:
        raise StoreError("disk full")

    node.store.append = broken  # type: ignore[method-assign]
    body = batch_json("pz5364-c001", [read_json("a"), read_json("b")])
    try:
        resp = await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))
    finally:
        node.store.append = real_append  # type: ignore[method-assign]
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "store_unavailable"
    assert "Retry-After" in resp.headers
    assert node.store.count_reads() == 0
    # The camera resends and now everything is stored once.
    resp = await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))
    assert resp.json()["stored"] == 2


async def test_openapi_documents_the_ingest_format(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"]["/api/v1/reads"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ReadBatchIn")
    read_in = spec["components"]["schemas"]["ReadIn"]
    assert {"read_id", "captured_at", "plate", "confidence"} <= set(read_in["required"])
    assert {"200", "400", "401", "413", "429", "503"} <= set(op["responses"])


async def test_api_docs_are_served_by_the_node_itself(client: httpx.AsyncClient) -> None:
    html = (await client.get("/docs")).text
    assert "cdn." not in html and "https://" not in html
    for asset in ("/docs-static/swagger-ui-bundle.js", "/docs-static/swagger-ui.css"):
        assert asset in html
        assert (await client.get(asset)).status_code == 200


async def test_switched_off_camera_is_refused(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    import msgspec

    cam = node.registry.get("pz5364-c001")
    assert cam is not None
    node.save_camera(msgspec.structs.replace(cam, active=False))
    body = batch_json("pz5364-c001", [read_json("a")])
    resp = await client.post(URL, content=body, headers=auth(tokens["pz5364-c001"]))
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "camera_inactive"
    assert node.store.count_reads() == 0


async def test_one_failing_batch_does_not_fail_the_others_in_its_group(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    import asyncio

    real_append = node.store.append

    def poisoned(reads: object) -> object:
        if any(r.read_id == "poison" for r in reads):  # type: ignore[attr-defined]
            raise StoreError("constraint failed")
        return real_append(reads)  # type: ignore[arg-type]

    node.store.append = poisoned  # type: ignore[method-assign,assignment]
    release = threading.Event()
    node.writer.call(lambda _s: release.wait(10))  # let both batches queue into one group
    try:
        good = asyncio.create_task(
            client.post(URL, content=batch_json("pz5364-c001", [read_json("fine")]),
                        headers=auth(tokens["pz5364-c001"]))
        )  # fmt: skip
        bad = asyncio.create_task(
            client.post(URL, content=batch_json("pz5352-c001", [read_json("poison")]),
                        headers=auth(tokens["pz5352-c001"]))
        )  # fmt: skip
        while node.writer.pending_reads < 2:  # noqa: ASYNC110 (state lives on another thread)
            await asyncio.sleep(0.01)
        release.set()
        good_resp, bad_resp = await good, await bad
    finally:
        release.set()
        node.store.append = real_append  # type: ignore[method-assign]
    assert good_resp.status_code == 200 and good_resp.json()["stored"] == 1
    assert bad_resp.status_code == 503
    assert [r.read_id for r in node.store.reads_after(0, 10)] == ["fine"]


async def test_bodies_in_flight_are_bounded(tmp_path: object) -> None:
    """Many big concurrent bodies: once the byte budget is spent the node answers 429 at
    once, before reading the body, instead of holding them all in memory."""
    import asyncio
    from pathlib import Path

    from kruispunt.api.app import create_app
    from tests.conftest import make_camera, make_config

    node = Node(make_config(Path(str(tmp_path)), ingest={"max_inflight_bytes": 20_000}))
    node.start()
    try:
        node.upsert_cameras([make_camera("pz5364-c001")])
        token = node.issue_token("pz5364-c001")
        release = threading.Event()
        node.writer.call(lambda _s: release.wait(10))
        transport = httpx.ASGITransport(app=create_app(node, manage_node=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://kp") as c:
            reads = [read_json(f"r{i}") for i in range(100)]  # ~15 kB
            first = asyncio.create_task(
                c.post(URL, content=batch_json("pz5364-c001", reads), headers=auth(token))
            )
            while node.writer.pending_reads < 100:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            more = [read_json(f"s{i}") for i in range(100)]
            resp = await c.post(URL, content=batch_json("pz5364-c001", more), headers=auth(token))
            assert resp.status_code == 429 and resp.headers["Retry-After"]
            release.set()
            assert (await first).json()["stored"] == 100
        assert node.ingest._inflight_bytes == 0
    finally:
        release.set()
        node.stop()
