"""Camera images: only JPEG and PNG are taken (nothing stored otherwise), a view goes through
the policy gate and is audited (refusals too), a case link keeps an image longer, and the
purge removes rows and files at the profile's limit (Belgium: one month)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from kruispunt.access.principals import Principal, Role, User
from kruispunt.audit import read_audit, verify_chain
from kruispunt.config import Config, ImagesConfig
from kruispunt.images.service import (
    ImageForbidden,
    ImageInvalid,
    ImageNotFound,
    ImageService,
    ImageTooLarge,
    check_image,
)
from kruispunt.images.store import (
    FilesystemImageStore,
    ImageStore,
    ImageStoreError,
    MemoryImageStore,
    build_image_store,
    image_directory,
)
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import make_config, on_both_engines

pytestmark = on_both_engines

HOUR = 3_600_000_000
DAY = 24 * HOUR
A, B = "pz5364", "pz5352"
CAM_A, CAM_B = "pz5364-c001", "pz5352-c001"
CASE = "TU.12.LB.001234/25"
REASON = "Getaway car of the armed robbery in Turnhout on 3 May, driver identification"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
PEOPLE = (
    ("inv-a", A, Role.INVESTIGATOR),
    ("op-a", A, Role.OPERATOR),
    ("chief-a", A, Role.ZONE_CHIEF),
    ("op-b", B, Role.OPERATOR),
    ("inv-b", B, Role.INVESTIGATOR),
    ("adm", "network", Role.ADMIN),
    ("dpo", "network", Role.DPO),
)
INV_A = Principal(user_id="inv-a", zone_id=A, role=Role.INVESTIGATOR)


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    """Image files under the test's own folder, on either engine."""
    images = ImagesConfig(directory=tmp_path / "images", fsync=False)
    return config.model_copy(update={"images": images})


@pytest.fixture
def tokens(node: Node) -> dict[str, str]:
    made = {
        uid: node.users.create(User(id=uid, name=uid, zone_id=zone, role=role), actor=None)
        for uid, zone, role in PEOPLE
    }
    made.update({cam: node.issue_token(cam) for cam in (CAM_A, CAM_B)})
    return made


def h(tokens: dict[str, str], who: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}", **extra}


def upload_headers(
    tokens: dict[str, str], camera: str, read_id: str, at_us: int, kind: str = "image/jpeg"
) -> dict[str, str]:
    return h(tokens, camera, **{"X-Read-Id": read_id, "X-Captured-At": str(at_us),
                                "Content-Type": kind})  # fmt: skip


def image_rows(node: Node) -> int:
    assert isinstance(node.store, SqlStore)
    return int(node.store.reader().execute("SELECT count(*) FROM images").fetchone()[0])


def files_on_disk(node: Node) -> list[Path]:
    root = image_directory(node.config)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def audit_actions(node: Node) -> list[tuple[str, str, int | None]]:
    assert isinstance(node.store, SqlStore)
    return [
        (r.action, r.actor, r.results)
        for r in read_audit(node.store.reader())
        if r.action.startswith("image.")
    ]


def view_params(**kw: str) -> dict[str, str]:
    return {"purpose": "judicial_police", "case": CASE, "reason": REASON, **kw}


# -- the rules, without a node -----------------------------------------------------------------
def test_only_jpeg_and_png_bytes_as_declared_are_images() -> None:
    assert check_image(JPEG, "image/jpeg", max_bytes=10_000) == "image/jpeg"
    assert check_image(PNG, "image/png; charset=binary", max_bytes=10_000) == "image/png"
    refusals = [
        (b"hello, this is text", "image/jpeg", "not_an_image"),
        (JPEG, "image/png", "not_an_image"),  # declared PNG, the bytes are JPEG
        (b"\xff\xd8\xff", "image/jpeg", "not_an_image"),  # the magic alone
        (b"GIF89a" + bytes(32), "image/gif", "unsupported_type"),
        (JPEG, "", "unsupported_type"),
        (JPEG, "application/octet-stream", "unsupported_type"),
    ]
    for data, kind, code in refusals:
        with pytest.raises(ImageInvalid) as exc:
            check_image(data, kind, max_bytes=10_000)
        assert exc.value.code == code, (kind, data[:8])
    with pytest.raises(ImageTooLarge):
        check_image(JPEG, "image/jpeg", max_bytes=len(JPEG) - 1)


@pytest.mark.parametrize("kind", ["filesystem", "memory"])
def test_the_image_stores_keep_files_by_day(kind: str, tmp_path: Path) -> None:
    cfg = make_config(tmp_path, images={"store": kind, "fsync": True})
    store: ImageStore = build_image_store(cfg)
    assert isinstance(store, FilesystemImageStore if kind == "filesystem" else MemoryImageStore)
    d1, d2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
    store.put(d1, "im-0a1b2c3d4e.jpg", JPEG)
    store.put(d1, "im-1111111111.png", PNG)
    store.put(d2, "im-2222222222.jpg", JPEG)
    assert store.get(d1, "im-0a1b2c3d4e.jpg") == JPEG and store.get(d2, "im-0a1b2c3d4e.jpg") is None
    assert store.days() == [d1, d2]
    for bad in ("../../etc/passwd", "im-0a1b2c3d4e.jpg/../x", "x.jpg", "im-ZZZZZZZZZZ.jpg"):
        with pytest.raises(ImageStoreError):
            store.put(d1, bad, JPEG)
    assert store.delete(d2, "im-2222222222.jpg") and not store.delete(d2, "im-2222222222.jpg")
    assert store.drop_day(d1) == 2 and d1 not in store.days()
    assert store.get(d1, "im-1111111111.png") is None
    if kind == "filesystem":
        folder = tmp_path / "images" / "20261001"
        assert not folder.exists() and (tmp_path / "images").is_dir()
        assert not list((tmp_path / "images").rglob("*.tmp"))  # written atomically


# -- taking images -------------------------------------------------------------------------------
async def test_a_camera_sends_an_image_and_anything_else_is_refused(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    now = node.images.now()
    url = "/api/v1/images"
    refused = [
        (b"not an image at all", upload_headers(tokens, CAM_A, "r1", now, "text/plain"), 400,
         "unsupported_type"),
        (b"not an image at all", upload_headers(tokens, CAM_A, "r1", now), 400, "not_an_image"),
        (JPEG, upload_headers(tokens, CAM_A, "r1", now, "image/png"), 400, "not_an_image"),
        (JPEG, upload_headers(tokens, CAM_A, "r1", now - 31 * DAY), 400, "image_expired"),
        (JPEG, upload_headers(tokens, CAM_A, "r1", now + DAY), 400, "bad_capture_time"),
        (JPEG, {**upload_headers(tokens, CAM_A, "r1", now), "X-Captured-At": "yesterday"}, 400,
         "bad_capture_time"),
        (JPEG, {**upload_headers(tokens, CAM_A, "", now)}, 400, "bad_read_id"),
        (JPEG, {**upload_headers(tokens, CAM_A, "r1", now), "Authorization": "Bearer nope"},
         401, "unauthorized"),
        (JPEG, {**upload_headers(tokens, CAM_A, "r1", now),
                "Authorization": f"Bearer {tokens['inv-a']}"}, 401, "unauthorized"),
        (bytes(node.images.max_bytes + 1), upload_headers(tokens, CAM_A, "r1", now), 413,
         "image_too_large"),
    ]  # fmt: skip
    for body, headers, status, code in refused:
        resp = await client.post(url, content=body, headers=headers)
        assert resp.status_code == status, (code, resp.text)
        assert resp.json()["error"]["code"] == code
    assert image_rows(node) == 0 and files_on_disk(node) == []  # nothing stored

    at = now - HOUR
    resp = await client.post(url, content=JPEG, headers=upload_headers(tokens, CAM_A, "r1", at))
    assert resp.status_code == 201, resp.text
    image_id = resp.json()["id"]
    assert resp.json()["duplicate"] is False
    keep_until = dt.datetime.fromisoformat(resp.json()["keep_until"])
    assert keep_until == dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        microseconds=at + 30 * DAY
    )
    # The same image again is harmless; other bytes for the same read are not.
    again = await client.post(url, content=JPEG, headers=upload_headers(tokens, CAM_A, "r1", at))
    assert again.status_code == 200 and again.json() == {**resp.json(), "duplicate": True}
    other = await client.post(url, content=PNG, headers=upload_headers(tokens, CAM_A, "r1", at,
                                                                       "image/png"))  # fmt: skip
    assert other.status_code == 409
    # Query parameters work as well as headers; ISO 8601 capture times too.
    iso_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    png = await client.post(
        url, content=PNG, params={"read_id": "r2", "captured_at": iso_at},
        headers={"Authorization": f"Bearer {tokens[CAM_B]}", "Content-Type": "image/png"},
    )  # fmt: skip
    assert png.status_code == 201, png.text
    assert image_rows(node) == 2
    day = dt.date(1970, 1, 1) + dt.timedelta(microseconds=at)
    assert files_on_disk(node)[0].parent.name == f"{day:%Y%m%d}"
    assert {p.name for p in files_on_disk(node)} == {f"{image_id}.jpg", f"{png.json()['id']}.png"}
    assert node.images.get(image_id).zone_id == A


# -- viewing images ------------------------------------------------------------------------------
@pytest.fixture
def image_id(node: Node) -> str:
    record, _ = node.images.put(CAM_A, "r-view", node.images.now() - HOUR, JPEG, "image/jpeg")
    return record.id


async def test_a_view_goes_through_the_gate_and_is_audited(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str], image_id: str
) -> None:
    url = f"/api/v1/images/{image_id}"
    resp = await client.get(url, params=view_params(), headers=h(tokens, "inv-a"))
    assert resp.status_code == 200, resp.text
    assert resp.content == JPEG and resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["cache-control"] == "no-store"
    admin_route = await client.get(url, params=view_params(), headers=h(tokens, "adm"))
    assert admin_route.status_code == 403  # the guard: an admin never sees plates
    assert audit_actions(node) == [("image.view", "inv-a", 1)]

    # A refused reason shows nothing and leaves a refusal in the audit.
    vague = await client.get(
        url, params=view_params(reason="onderzoek"), headers=h(tokens, "inv-a")
    )
    assert vague.status_code == 400 and vague.json()["error"]["code"] == "vague_reason"
    assert JPEG not in vague.content
    # An operator of another zone: the image's zone is not visible to them.
    stranger = await client.get(
        url, params=view_params(purpose="administrative_police"), headers=h(tokens, "op-b")
    )
    assert stranger.status_code == 403, stranger.text
    assert stranger.json()["error"]["code"] == "zone_not_visible"
    # An operator does not consult for judicial purposes.
    wrong_purpose = await client.get(url, params=view_params(), headers=h(tokens, "op-a"))
    assert wrong_purpose.status_code == 403
    assert wrong_purpose.json()["error"]["code"] == "role_not_allowed"
    ok = await client.get(
        url, params=view_params(purpose="administrative_police"), headers=h(tokens, "op-a")
    )
    assert ok.status_code == 200 and ok.content == JPEG
    missing = await client.get(
        "/api/v1/images/im-00000000000000000000", params=view_params(), headers=h(tokens, "inv-a")
    )
    assert missing.status_code == 404

    assert audit_actions(node) == [
        ("image.view", "inv-a", 1),
        ("image.view.refused", "inv-a", 0),
        ("image.view.refused", "op-b", 0),
        ("image.view.refused", "op-a", 0),
        ("image.view", "op-a", 1),
    ]
    assert isinstance(node.store, SqlStore)
    (view,) = [r for r in read_audit(node.store.reader(), object_type="image")][:1]
    assert view.object_id == image_id and view.case and view.reason == REASON
    assert view.scope is not None and view.scope["cameras"] == [CAM_A]
    assert verify_chain(read_audit(node.store.reader())) is None


# -- cases and the purge -------------------------------------------------------------------------
def test_a_case_link_keeps_an_image_past_the_month_the_purge_removes_the_rest(
    node: Node, tokens: dict[str, str]
) -> None:
    now = node.images.now()
    at = now - 29 * DAY  # inside the month: accepted
    kept, _ = node.images.put(CAM_A, "r-kept", at, JPEG, "image/jpeg")
    gone, _ = node.images.put(CAM_A, "r-gone", at + 1, PNG, "image/png")
    lone, _ = node.images.put(CAM_A, "r-lone", at + DAY, JPEG, "image/jpeg")  # another day
    other, _ = node.images.put(CAM_B, "r-other", at, JPEG, "image/jpeg")
    recent, _ = node.images.put(CAM_A, "r-recent", now - HOUR, JPEG, "image/jpeg")
    assert len(files_on_disk(node)) == 5

    inv_b = Principal(user_id="inv-b", zone_id=B, role=Role.INVESTIGATOR)
    with pytest.raises(ImageForbidden, match="not visible"):
        node.images.link_case(kept.id, case=CASE, reason=REASON, principal=inv_b)
    with pytest.raises(ImageInvalid):
        node.images.link_case(kept.id, case=CASE, reason="onderzoek", principal=INV_A)
    linked = node.images.link_case(kept.id, case=CASE, reason=REASON, principal=INV_A)
    assert linked.case and linked.linked_by == "inv-a"
    assert linked.keep_until_us(node.law) == at + 365 * DAY
    assert node.images.link_case(kept.id, case=CASE, reason=REASON, principal=INV_A) == linked

    # Three days on (at midnight), the month has passed for the images of 28 and 29 days ago.
    today = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)
    node.enforce_retention(today=today)
    assert node.images.get(kept.id).case == linked.case
    assert node.images.get(recent.id).id == recent.id
    for image in (gone, lone, other):
        with pytest.raises(ImageNotFound):
            node.images.get(image.id)
    names = {p.name for p in files_on_disk(node)}
    assert names == {kept.name, recent.name}  # the files are gone from disk
    assert not (image_directory(node.config) / f"{lone.day:%Y%m%d}").exists()  # a whole day

    assert isinstance(node.store, SqlStore)
    (purge,) = read_audit(node.store.reader(), object_type="retention")
    assert purge.detail["images"] == 3 and purge.detail["images_kept_for_cases"] == 1
    assert purge.detail["image_days"] == 1
    (link,) = [r for r in read_audit(node.store.reader()) if r.action == "image.link_case"]
    assert (link.actor, link.case, link.reason) == ("inv-a", linked.case, REASON)

    # A year on, the case link no longer keeps it either.
    result = node.images.purge(now + 366 * DAY)
    assert (result.deleted, result.kept_for_case, result.kept_for_hold) == (2, 0, 0)
    assert files_on_disk(node) == [] and image_rows(node) == 0


async def test_the_case_link_api(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str], image_id: str
) -> None:
    url = f"/api/v1/images/{image_id}/case"
    body = {"case": CASE, "reason": REASON}
    for who, status in (("op-b", 403), ("adm", 403), ("dpo", 403)):
        resp = await client.post(url, json=body, headers=h(tokens, who))
        assert resp.status_code == status, who
    bad = await client.post(url, json={"case": "x", "reason": REASON}, headers=h(tokens, "chief-a"))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_case"
    resp = await client.post(url, json=body, headers=h(tokens, "chief-a"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["case"] and resp.json()["zone_id"] == A
    assert resp.json()["keep_until"] > resp.json()["captured_at"]
    other = await client.post(
        url, json={"case": "TU.12.LB.000001/25", "reason": REASON}, headers=h(tokens, "inv-a")
    )
    assert other.status_code == 409


def test_the_service_is_built_by_the_node(node: Node) -> None:
    assert isinstance(node.images, ImageService)
    assert isinstance(node.images.files, FilesystemImageStore)
    assert node.images.files.directory == node.config.images.directory
