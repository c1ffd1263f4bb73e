"""The retention purge as one run: what a legal hold keeps survives the drop of its day and
is readable for its case only until the hold ends; everything else past the limit is gone
by every path (the store, the hits API, the images API, the holds API)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from kruispunt.access.holds import HoldStatus
from kruispunt.access.principals import Role, User
from kruispunt.audit import read_audit, verify_chain
from kruispunt.config import Config, ImagesConfig
from kruispunt.hits.store import HitStore
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import on_both_engines
from tests.test_hits_policy import make_hit
from tests.test_holds import (
    CASE,
    CHIEF_A,
    OTHER_CASE,
    PLATE,
    REASON,
    hold_on,
    make_read,
    store_reads,
)
from tests.test_images import JPEG

pytestmark = on_both_engines

HOUR = 3_600_000_000
DAY = 24 * HOUR
A = "pz5364"
CAM_A = "pz5364-c001"
PEOPLE = (
    ("inv-a", A, Role.INVESTIGATOR),
    ("op-a", A, Role.OPERATOR),
    ("chief-a", A, Role.ZONE_CHIEF),
)


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    images = ImagesConfig(directory=tmp_path / "images", fsync=False)
    return config.model_copy(update={"images": images})


@pytest.fixture
def tokens(node: Node) -> dict[str, str]:
    return {
        uid: node.users.create(User(id=uid, name=uid, zone_id=zone, role=role), actor=None)
        for uid, zone, role in PEOPLE
    }


def h(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def after(days: int) -> dt.date:
    """The date ``days`` from now: the purge runs at its midnight."""
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)


def purges(node: Node) -> list[dict[str, Any]]:
    assert isinstance(node.store, SqlStore)
    return [r.detail for r in read_audit(node.store.reader(), object_type="retention")]


READS_QUERY = {"purpose": "judicial_police", "case": CASE, "reason": REASON}


async def test_a_held_read_survives_its_day_for_its_case_then_goes_with_the_hold(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    now = node.holds.now()
    store_reads(
        node,
        make_read("held", now - 2 * HOUR),
        make_read("not-held", now - 2 * HOUR, plate="2XYZ789"),
    )
    hold = hold_on(node, since_us=now - DAY, until_us=now + DAY, expires_us=now + 400 * DAY)
    assert node.holds.held_count(hold.id) == 1
    # A covered read that arrives after the hold was put: the purge copies it before the drop.
    store_reads(node, make_read("late", now + HOUR))

    assert node.enforce_retention(today=after(370)) == 3  # the whole day(s) dropped
    assert node.store.reads_of_plate(PLATE, now - 2 * DAY, now + 2 * DAY) == []
    assert node.store.reads_of_plate("2XYZ789", now - 2 * DAY, now + 2 * DAY) == []
    (purge,) = purges(node)
    assert purge["reads"] == 3 and purge["held_reads_kept"] == 2
    assert purge["held_reads_copied"] == 1 and purge["holds_expired"] == 0

    url = f"/api/v1/holds/{hold.id}/reads"
    resp = await client.get(url, params=READS_QUERY, headers=h(tokens, "inv-a"))
    assert resp.status_code == 200, resp.text
    assert [r["read_id"] for r in resp.json()["reads"]] == ["held", "late"]
    for params, who, status in (
        ({**READS_QUERY, "case": OTHER_CASE}, "inv-a", 403),  # another case
        ({**READS_QUERY, "purpose": "administrative_police"}, "inv-a", 403),
        (READS_QUERY, "op-a", 403),  # an operator: not a reader of evidence (the guard)
    ):
        refused = await client.get(url, params=params, headers=h(tokens, who))
        assert refused.status_code == status, (params, who)

    # The hold expires: the next run deletes what it kept.
    node.enforce_retention(today=after(401))
    assert node.holds.get(hold.id, actor=CHIEF_A).status is HoldStatus.EXPIRED
    assert node.holds.held_count(hold.id) == 0
    gone = await client.get(url, params=READS_QUERY, headers=h(tokens, "inv-a"))
    assert gone.status_code == 409
    assert purges(node)[-1]["holds_expired"] == 1
    assert isinstance(node.store, SqlStore)
    assert verify_chain(read_audit(node.store.reader())) is None


async def test_past_the_limit_nothing_comes_back_by_any_path(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    now = node.holds.now()
    store_reads(node, make_read("r1", now - HOUR))
    hit = make_hit(id="h-old", seq=0, created_us=now - HOUR, camera_id=CAM_A,
                   camera_zone_id=A)  # fmt: skip
    store = node.store
    assert isinstance(store, SqlStore)

    def insert(_store: object) -> None:
        with store.transaction() as conn:
            HitStore(store).insert(conn, [hit])

    node.writer.call(insert).result()
    image, _ = node.images.put(CAM_A, "r1", now - HOUR, JPEG, "image/jpeg")
    # A hold for another case keeps nothing of this plate.
    other = hold_on(node, case=OTHER_CASE, plates=["9ZZZ999"], until_us=now,
                    expires_us=now + 400 * DAY)  # fmt: skip
    view = {"purpose": "judicial_police", "case": CASE, "reason": REASON}

    # Before: every path answers (so the checks below can fail).
    assert [r.read_id for r in store.reads_of_plate(PLATE, now - DAY, now)] == ["r1"]
    hits = await client.get("/api/v1/hits", headers=h(tokens, "op-a"))
    assert [x["id"] for x in hits.json()["hits"]] == ["h-old"]
    shown = await client.get(f"/api/v1/images/{image.id}", params=view, headers=h(tokens, "inv-a"))
    assert shown.status_code == 200 and shown.content == JPEG

    node.enforce_retention(today=after(367))

    assert store.reads_of_plate(PLATE, now - 2 * DAY, now + DAY) == []
    assert store.reads_after(0, 100) == []
    assert (await client.get("/api/v1/hits", headers=h(tokens, "op-a"))).json()["hits"] == []
    gone = await client.get(f"/api/v1/images/{image.id}", params=view, headers=h(tokens, "inv-a"))
    assert gone.status_code == 404
    assert list((node.config.images.directory or Path("-")).rglob("*.jpg")) == []
    held = await client.get(
        f"/api/v1/holds/{other.id}/reads", params={**view, "case": OTHER_CASE},
        headers=h(tokens, "inv-a"),
    )  # fmt: skip
    assert held.status_code == 200 and held.json()["reads"] == []
    (purge,) = purges(node)
    assert (purge["reads"], purge["hits"], purge["images"]) == (1, 1, 1)


def test_a_hold_keeps_the_image_of_its_read_until_it_is_released(node: Node) -> None:
    now = node.holds.now()
    at = now - 29 * DAY
    store_reads(node, make_read("held", at), make_read("free", at + 1, plate="2XYZ789"))
    held, _ = node.images.put(CAM_A, "held", at, JPEG, "image/jpeg")
    free, _ = node.images.put(CAM_A, "free", at + 1, JPEG, "image/jpeg")
    hold = hold_on(node, since_us=at - HOUR, until_us=now, expires_us=now + 400 * DAY)

    node.enforce_retention(today=after(3))  # past the month for both images
    assert node.images.files.get(held.day, held.name) == JPEG
    assert node.images.files.get(free.day, free.name) is None
    (purge,) = purges(node)
    assert purge["images"] == 1 and purge["images_kept_for_holds"] == 1

    node.holds.release(hold.id, actor=CHIEF_A, note="the suspect confessed, no trial")
    result = node.images.purge(now + 31 * DAY)
    assert (result.deleted, result.kept_for_hold) == (1, 0)
    assert node.images.files.days() == []  # the whole day folder went
