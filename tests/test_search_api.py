"""Investigation searches through the API, on SQLite and on PostgreSQL: each query on a seeded
store, the access gate applied (reason, zones, windows, approvals), every consultation and
refusal audited with its counts and plate tokens, bad input answered with a clear 4xx."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kruispunt.access.principals import Role, User
from kruispunt.audit import AuditRecord, read_audit
from kruispunt.config import Config
from kruispunt.domain.cameras import Purpose
from kruispunt.domain.reads import Read
from kruispunt.node import Node
from kruispunt.search.patterns import PlatePattern, parse_pattern, plan_for
from kruispunt.search.queries import Caps, Filters, _Run
from kruispunt.store.sql import SqlStore
from kruispunt.store.sqlite import SqliteStore, day_of_us, day_table
from tests.backends import require_postgres, unique_name
from tests.conftest import drop_pg_schema, make_camera, make_config, on_both_engines

pytestmark = on_both_engines

S = 1_000_000
MIN = 60 * S
HOUR = 3600 * S
DAY = 24 * HOUR
A, B = "pz5364", "pz5352"
C1, C2, C3, FAR, B1 = "pz5364-c001", "pz5364-c002", "pz5364-c003", "pz5364-c009", "pz5352-c001"
WHY = {
    "purpose": "judicial_police",
    "case": "TU.12.LB.001234/25",
    "reason": "ANPR trail of the getaway car of the robbery in Turnhout on 3 May",
}
PLATE = "1ABC123"


@pytest.fixture
def config(tmp_path: Path, engine: str) -> Iterator[Config]:
    """The conftest's config, with images kept in memory (the evidence package has some)."""
    images = {"store": "memory"}
    if engine == "sqlite":
        yield make_config(tmp_path, images=images)
        return
    url = require_postgres()
    schema = unique_name("kp_test")
    yield make_config(tmp_path, store={"url": url, "pg_schema": schema}, images=images)
    drop_pg_schema(url, schema)


@pytest.fixture
def setup(node: Node) -> dict[str, str]:
    """Cameras one kilometre apart on a north-south road (and one far away), the people."""
    node.upsert_cameras([
        make_camera(C2, lat=51.3317), make_camera(C3, lat=51.3407),
        make_camera(FAR, lat=51.2000, lon=4.4000),
    ])  # fmt: skip
    people = [("inv-a", A, Role.INVESTIGATOR), ("op-b", B, Role.OPERATOR),
              ("traffic-a", A, Role.TRAFFIC_OFFICER)]  # fmt: skip
    return {
        uid: node.users.create(User(id=uid, name=uid, zone_id=zone, role=role), actor=None)
        for uid, zone, role in people
    }


def h(tokens: dict[str, str], who: str = "inv-a") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def iso(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


_n = iter(range(1, 10**9))


def rd(plate: str, camera: str, at_us: int, **kw: Any) -> Read:
    zone = B if camera.startswith(B) else A
    fields: dict[str, Any] = {
        "country": "BE", "direction": "approaching", "vehicle_class": "car",
        "make": "Volkswagen", "colour": "grey", "image_ref": None,
    }  # fmt: skip
    fields.update(kw)
    return Read(
        0, f"r{next(_n)}", camera, zone, at_us, at_us + S, plate, plate, fields["country"],
        False, "BE.current", 0.9, fields["direction"], 1, fields["vehicle_class"],
        fields["make"], fields["colour"], fields["image_ref"],
    )  # fmt: skip


def seed(node: Node, reads: list[Read]) -> None:
    node.writer.call(lambda s: s.append(reads)).result()


def audit(node: Node, action: str | None = None) -> list[AuditRecord]:
    assert isinstance(node.store, SqlStore)
    records = read_audit(node.store.reader())
    return [r for r in records if action is None or r.action == action]


def body(
    plate: str = PLATE, since: int | None = None, until: int | None = None, **kw: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {**WHY, "plate": plate, **kw}
    if since is not None:
        doc["since"] = iso(since)
    if until is not None:
        doc["until"] = iso(until)
    return doc


# -- plate search ---------------------------------------------------------------------------
async def test_exact_plate_history_is_a_timeline_of_the_readable_zones_only(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    seed(node, [
        rd(PLATE, C2, now - 2 * HOUR), rd(PLATE, C1, now - 3 * DAY), rd(PLATE, C3, now - HOUR),
        rd(PLATE, B1, now - 2 * DAY),  # another zone: no grant, never shown
        rd("1ABC124", C1, now - HOUR),
    ])  # fmt: skip
    resp = await client.post(
        "/api/v1/search/plates", json=body("1-abc-123", now - 5 * DAY, now), headers=h(setup)
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["plate"] == PLATE and out["kind"] == "exact"
    assert [(r["camera_id"], r["match"]) for r in out["reads"]] == [
        (C1, "exact"), (C2, "exact"), (C3, "exact")
    ]  # fmt: skip
    assert {c["id"] for c in out["cameras"]} == {C1, C2, C3}
    assert all(c["lat"] and c["lon"] for c in out["cameras"])  # on the map
    assert out["decision"]["zones"] == [A] and out["decision"]["complete"] is True
    assert out["next_cursor"] is None
    [record] = audit(node, "search.plate")
    assert record.actor == "inv-a" and record.results == 3 and record.reason == WHY["reason"]
    scope = record.scope or {}
    assert scope["plates"] == [node.plate_tokens.token(PLATE)]
    assert PLATE not in json.dumps(record.detail) + json.dumps(record.context)


async def test_partial_plates_with_wildcards(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    seed(node, [
        rd("1ABC123", C1, now - HOUR), rd("1ABD12", C2, now - 2 * HOUR),
        rd("1ABC223", C1, now - HOUR), rd("1ACC123", C1, now - HOUR),
        rd("1ABX12ZZ", C3, now - 3 * HOUR),
    ])  # fmt: skip
    resp = await client.post(
        "/api/v1/search/plates", json=body("1-AB?-12*", now - DAY, now), headers=h(setup)
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["kind"] == "pattern" and out["plate"] == "1AB?12*"
    assert [r["plate"] for r in out["reads"]] == ["1ABX12ZZ", "1ABD12", "1ABC123"]
    assert {r["match"] for r in out["reads"]} == {"pattern"}
    [record] = audit(node, "search.partial")
    assert record.results == 3 and (record.scope or {})["patterns"] == ["###?##*"]


async def test_confusable_characters_are_tolerated_on_request(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    seed(node, [rd("1ABC123", C1, now - 3 * HOUR), rd("IABC123", C2, now - 2 * HOUR),
                rd("1A8C1Z3", C3, now - HOUR), rd("1ABC128", C1, now - HOUR)])  # fmt: skip
    strict = await client.post(
        "/api/v1/search/plates", json=body(PLATE, now - DAY, now), headers=h(setup)
    )
    assert [r["plate"] for r in strict.json()["reads"]] == ["1ABC123"]
    tolerant = await client.post(
        "/api/v1/search/plates", json=body(PLATE, now - DAY, now, confusable=True),
        headers=h(setup),
    )  # fmt: skip
    assert [(r["plate"], r["match"]) for r in tolerant.json()["reads"]] == [
        ("1ABC123", "exact"), ("IABC123", "confusable"), ("1A8C1Z3", "confusable")
    ]  # fmt: skip
    partial = await client.post(
        "/api/v1/search/plates", json=body("1AB?12*", now - DAY, now, confusable=True),
        headers=h(setup),
    )  # fmt: skip
    assert [(r["plate"], r["match"]) for r in partial.json()["reads"]] == [
        ("1ABC123", "pattern"), ("IABC123", "confusable"), ("1A8C1Z3", "confusable"),
        ("1ABC128", "pattern"),
    ]  # fmt: skip


async def test_filters_cameras_area_and_country(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    seed(node, [
        rd(PLATE, C1, now - 4 * HOUR, direction="receding", colour="RED"),
        rd(PLATE, C2, now - 3 * HOUR, vehicle_class="van", make="Ford"),
        rd(PLATE, C3, now - 2 * HOUR, country="NL", make=None, colour=None),
    ])  # fmt: skip
    window = {"since": now - DAY, "until": now}

    async def cams(**kw: Any) -> list[str]:
        resp = await client.post("/api/v1/search/plates", json=body(PLATE, **window, **kw),
                                 headers=h(setup))  # fmt: skip
        assert resp.status_code == 200, resp.text
        return [r["camera_id"] for r in resp.json()["reads"]]

    assert await cams(direction="receding") == [C1]
    assert await cams(colour="red") == [C1]
    assert await cams(vehicle_class="van", make="ford") == [C2]
    assert await cams(country="NL") == [C3]
    assert await cams(make="volkswagen") == [C1]  # reads without a make are left out
    assert await cams(cameras=[C2, C3]) == [C2, C3]
    box = {"type": "Polygon", "coordinates": [[[4.94, 51.329], [4.95, 51.329], [4.95, 51.334],
                                               [4.94, 51.334], [4.94, 51.329]]]}  # fmt: skip
    assert await cams(area=box) == [C2]


async def test_pages_follow_a_cursor(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    at = now - 2 * DAY  # over two day tables
    seed(node, [rd(PLATE, C1, at + i * 7 * HOUR) for i in range(7)])
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        extra = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        resp = await client.post(
            "/api/v1/search/plates", json=body(PLATE, now - 3 * DAY, now, **extra), headers=h(setup)
        )
        out = resp.json()  # fmt: skip
        seen += [r["captured_us"] for r in out["reads"]]
        pages += 1
        cursor = out["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == sorted(seen) and len(set(seen)) == 7
    assert len(audit(node, "search.plate")) == 3  # each page is a consultation
    bad = await client.post("/api/v1/search/plates", json=body(PLATE, cursor="x.1"),
                            headers=h(setup))  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_cursor"


# -- the gate -------------------------------------------------------------------------------
async def test_the_gate_refuses_a_vague_reason_and_an_ungranted_zone_and_audits_it(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    seed(node, [rd(PLATE, B1, now - HOUR)])
    vague = await client.post(
        "/api/v1/search/plates", json={**body(PLATE), "reason": "onderzoek"}, headers=h(setup)
    )
    assert vague.status_code == 400 and vague.json()["error"]["code"] == "vague_reason"
    missing = await client.post("/api/v1/search/plates", json={"plate": PLATE, "case": "x"},
                                headers=h(setup))  # fmt: skip
    assert missing.status_code == 400
    hidden = await client.post(
        "/api/v1/search/plates", json=body(PLATE, zones=[B]), headers=h(setup)
    )
    assert hidden.status_code == 403
    error = hidden.json()["error"]
    assert error["code"] == "zone_not_visible" and error["zones"] == [B]
    refusals = audit(node, "search.plate.refused")
    assert [r.detail["code"] for r in refusals] == ["vague_reason", "zone_not_visible"]
    assert all(r.results == 0 for r in refusals)
    # The operator of that zone sees it; a traffic officer only for traffic purposes.
    own = await client.post("/api/v1/search/plates",
                            json={**body(PLATE), "purpose": "administrative_police"},
                            headers=h(setup, "op-b"))  # fmt: skip
    assert [r["camera_id"] for r in own.json()["reads"]] == [B1]
    traffic = await client.post("/api/v1/search/plates", json=body(PLATE),
                                headers=h(setup, "traffic-a"))  # fmt: skip
    assert traffic.status_code == 403 and traffic.json()["error"]["code"] == "role_not_allowed"


async def test_the_window_cut_by_the_law_is_reported(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    seed(node, [rd(PLATE, C1, now - 32 * DAY), rd(PLATE, C1, now - 29 * DAY)])
    resp = await client.post(
        "/api/v1/search/plates", json=body(PLATE, now - 35 * DAY, now - 28 * DAY),
        headers=h(setup),
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert [r["captured_us"] for r in out["reads"]] == [now - 29 * DAY]
    decision = out["decision"]
    assert decision["complete"] is False
    [cut] = decision["refused"]
    assert cut["code"] == "authorisation_required" and cut["needs"] == "prosecutor"
    [record] = audit(node, "search.plate")
    assert record.results == 1 and record.detail["cut"][0]["code"] == "authorisation_required"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"plate": "1AB%"}, 400, "invalid_pattern"),
        ({"plate": "?*"}, 400, "invalid_pattern"),
        ({"since": "future"}, 400, "invalid_period"),
        ({"since": "ancient"}, 403, "nothing_readable"),
        ({"area": {"type": "Polygon", "coordinates": [[[3, 50], [6, 50], [6, 52], [3, 50]]]}},
         400, "area_too_large"),
        ({"area": {"type": "LineString", "coordinates": [[4, 51], [5, 51]]}}, 400,
         "invalid_area"),
        ({"cameras": ["no-such-camera"]}, 400, "unknown_camera"),
        ({"limit": 0}, 400, "invalid_search"),
        ({"unknown_field": 1}, 400, "invalid_search"),
        ({"plate": "?AB12*"}, 403, "approval_required"),  # a leading wildcard is wide
    ],
)  # fmt: skip
async def test_bad_input_is_a_clear_4xx(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str],
    change: dict[str, Any], status: int, code: str,
) -> None:  # fmt: skip
    now = node.policy.now()
    doc = body(PLATE, now - DAY, now) | change
    if change.get("since") == "future":
        doc |= {"since": iso(now + 3 * DAY), "until": iso(now + 4 * DAY)}
    if change.get("since") == "ancient":
        doc |= {"since": iso(now - 500 * DAY), "until": iso(now - 490 * DAY)}
    resp = await client.post("/api/v1/search/plates", json=doc, headers=h(setup))
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


async def test_a_search_too_broad_for_the_node_is_refused_and_audited(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    seed(node, [rd(f"1AB{i:04d}", C1, now - HOUR + i) for i in range(50)])
    node.search.queries.caps = Caps(max_scan_rows=20)
    resp = await client.post("/api/v1/search/plates", json=body("1AB0*", now - DAY, now),
                             headers=h(setup))  # fmt: skip
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "query_too_broad"
    [refusal] = audit(node, "search.partial.refused")
    assert refusal.detail["code"] == "query_too_broad"
    node.search.queries.caps = Caps(max_scan_rows=60)
    ok = await client.post("/api/v1/search/plates", json=body("1AB0*", now - DAY, now),
                           headers=h(setup))  # fmt: skip
    assert ok.status_code == 200 and len(ok.json()["reads"]) == 50


# -- place and time -------------------------------------------------------------------------
async def test_place_and_time_gives_counts_first_and_the_list_within_the_cap(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    t = now - 2 * HOUR
    seed(node, [
        rd("1AAA111", C1, t), rd("1AAA111", C2, t + MIN), rd("1BBB222", C1, t + 2 * MIN),
        rd("1CCC333", C2, t + 3 * MIN), rd("1DDD444", C1, t - 3 * HOUR),  # before the window
        rd("1EEE555", C3, t),  # another camera
    ])  # fmt: skip
    doc = {**WHY, "since": iso(t - 10 * MIN), "until": iso(t + 30 * MIN), "cameras": [C1, C2]}
    counts = await client.post("/api/v1/search/place-time", json=doc, headers=h(setup))
    assert counts.status_code == 200, counts.text
    out = counts.json()
    assert out["counts"] == {"reads": 4, "vehicles": 3, "cameras": [
        {"camera_id": C1, "reads": 2, "vehicles": 2}, {"camera_id": C2, "reads": 2, "vehicles": 2},
    ]}  # fmt: skip
    assert out["vehicles"] is None and out["withheld"] is None and out["not_visible"] == []
    seed(node, [rd("1FFF666", B1, t)])  # another zone's camera: named, never read
    other = (await client.post("/api/v1/search/place-time", json={**doc, "cameras": [C1, B1]},
                               headers=h(setup))).json()  # fmt: skip
    assert other["not_visible"] == [B1]
    assert [c["camera_id"] for c in other["counts"]["cameras"]] == [C1]
    listed = (await client.post("/api/v1/search/place-time", json={**doc, "list": True},
                                headers=h(setup))).json()  # fmt: skip
    assert [(v["plate"], v["reads"], v["cameras"]) for v in listed["vehicles"]] == [
        ("1AAA111", 2, [C1, C2]), ("1BBB222", 1, [C1]), ("1CCC333", 1, [C2])
    ]  # fmt: skip
    paged = (
        await client.post(
            "/api/v1/search/place-time", json={**doc, "list": True, "limit": 2}, headers=h(setup)
        )
    ).json()
    rest = (await client.post(
        "/api/v1/search/place-time",
        json={**doc, "list": True, "limit": 2, "cursor": paged["next_cursor"]}, headers=h(setup),
    )).json()  # fmt: skip
    assert [v["plate"] for v in paged["vehicles"] + rest["vehicles"]] == [
        "1AAA111", "1BBB222", "1CCC333"
    ]  # fmt: skip
    node.search.config = node.search.config.model_copy(update={"place_time_list_max": 2})
    capped = (await client.post("/api/v1/search/place-time", json={**doc, "list": True},
                                headers=h(setup))).json()  # fmt: skip
    assert capped["vehicles"] is None and "3 vehicles" in capped["withheld"]
    assert capped["counts"]["vehicles"] == 3
    records = audit(node, "search.place_time")
    assert [r.results for r in records] == [0, 0, 3, 2, 1, 0]
    assert records[-1].detail["withheld"] is True and records[-1].detail["vehicles"] == 3
    # An area instead of cameras; a window over the caps needs approval; no place is 400.
    box = {"type": "Polygon", "coordinates": [[[4.94, 51.329], [4.95, 51.329], [4.95, 51.334],
                                               [4.94, 51.334], [4.94, 51.329]]]}  # fmt: skip
    area = await client.post(
        "/api/v1/search/place-time", json={**doc, "cameras": [], "area": box}, headers=h(setup)
    )
    assert area.json()["counts"]["cameras"] == [{"camera_id": C2, "reads": 2, "vehicles": 2}]
    wide = await client.post(
        "/api/v1/search/place-time", json={**doc, "since": iso(t - 6 * HOUR)}, headers=h(setup)
    )  # fmt: skip
    assert wide.status_code == 403 and wide.json()["error"]["code"] == "approval_required"
    nowhere = await client.post("/api/v1/search/place-time", json={**doc, "cameras": []},
                                headers=h(setup))  # fmt: skip
    assert nowhere.status_code == 400 and nowhere.json()["error"]["code"] == "no_place"
    empty = {"type": "Polygon", "coordinates": [[[3.0, 50.0], [3.01, 50.0], [3.01, 50.01],
                                                 [3.0, 50.0]]]}  # fmt: skip
    no_cams = await client.post(
        "/api/v1/search/place-time", json={**doc, "cameras": [], "area": empty}, headers=h(setup)
    )
    assert no_cams.status_code == 422  # fmt: skip


# -- multi-site -----------------------------------------------------------------------------
async def test_vehicles_seen_at_several_incident_sites_are_ranked(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    t1, t2, t3 = now - 3 * DAY, now - 2 * DAY, now - DAY
    seed(node, [
        rd("1AAA111", C1, t1), rd("1AAA111", C2, t2), rd("1AAA111", C3, t3 + MIN),
        rd("1BBB222", C1, t1 + MIN), rd("1BBB222", C3, t3),
        rd("1CCC333", C2, t2), rd("1CCC333", C2, t1),  # at C2, but not in site 1's window
    ])  # fmt: skip

    def site(cam: str, at: int, label: str) -> dict[str, Any]:
        return {"label": label, "cameras": [cam], "since": iso(at - 30 * MIN),
                "until": iso(at + 30 * MIN)}  # fmt: skip

    doc = {**WHY, "sites": [site(C1, t1, "Kasterlee"), site(C2, t2, "Lille"),
                            site(C3, t3, "Turnhout")]}  # fmt: skip
    resp = await client.post("/api/v1/search/multi-site", json=doc, headers=h(setup))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert [(v["plate"], v["sites"]) for v in out["vehicles"]] == [("1AAA111", 3), ("1BBB222", 2)]
    assert [s["label"] for s in out["vehicles"][0]["sightings"]] == [
        "Kasterlee", "Lille", "Turnhout"
    ]  # fmt: skip
    assert [(s["reads"], s["vehicles"]) for s in out["sites"]] == [(2, 2), (2, 2), (2, 2)]
    records = audit(node, "search.multi_site")
    assert [(r.detail["site"], r.results) for r in records] == [(0, 2), (1, 2), (2, 2)]
    three = await client.post("/api/v1/search/multi-site", json={**doc, "min_sites": 3},
                              headers=h(setup))  # fmt: skip
    assert [v["plate"] for v in three.json()["vehicles"]] == ["1AAA111"]
    hidden = {**doc, "sites": [*doc["sites"][:2], {**site(B1, t3, "x"), "cameras": [],
                                                   "zones": [B]}]}  # fmt: skip
    refused = await client.post("/api/v1/search/multi-site", json=hidden, headers=h(setup))
    assert refused.status_code == 403 and refused.json()["error"]["site"] == 2
    one = await client.post("/api/v1/search/multi-site", json={**doc, "sites": doc["sites"][:1]},
                            headers=h(setup))  # fmt: skip
    assert one.status_code == 400


# -- convoy and journey ---------------------------------------------------------------------
async def test_convoy_finds_the_vehicle_that_travels_with_the_target(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    reads = []
    for day in (3, 2, 1):
        t = now - day * DAY
        for k, cam in enumerate((C1, C2, C3)):
            at = t + k * MIN
            reads += [rd(PLATE, cam, at), rd("2FOL999", cam, at + 20 * S)]
            reads.append(rd(f"1RND{day}{k}0", cam, at - 30 * S))  # chance, once each
        reads.append(rd("1SOM000", C1, t + 10 * S))  # twice with the target, same camera
    reads.append(rd("1FAR000", C1, now - 2 * DAY + 10 * MIN))  # outside the gap
    seed(node, reads)
    doc = {**WHY, "plate": PLATE, "since": iso(now - 4 * DAY), "until": iso(now), "gap_s": 60}
    resp = await client.post("/api/v1/search/convoy", json=doc, headers=h(setup))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["passages"] == 9 and out["truncated"] is False
    ranked = [(c["plate"], c["together"], c["cameras"]) for c in out["companions"]]
    assert ranked == [("2FOL999", 9, 3), ("1SOM000", 3, 1)]
    follow = out["companions"][0]
    assert follow["after"] == 9 and {e["delta_s"] for e in follow["evidence"]} == {20.0}
    assert {c["id"] for c in out["cameras"]} == {C1, C2, C3}
    strict = await client.post("/api/v1/search/convoy", json={**doc, "min_together": 4},
                               headers=h(setup))  # fmt: skip
    assert [c["plate"] for c in strict.json()["companions"]] == ["2FOL999"]
    [first, _] = audit(node, "search.convoy")
    assert first.results == 2 and first.detail["passages"] == 9
    assert (first.scope or {})["plates"] == [node.plate_tokens.token(PLATE)]
    partial = await client.post("/api/v1/search/convoy", json={**doc, "plate": "1AB*"},
                                headers=h(setup))  # fmt: skip
    assert partial.status_code == 400 and partial.json()["error"]["code"] == "invalid_pattern"


async def test_journey_gives_trips_legs_and_average_speeds(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    t = now - 5 * HOUR
    seed(node, [
        rd(PLATE, C1, t), rd(PLATE, C2, t + MIN), rd(PLATE, C3, t + 2 * MIN),
        rd(PLATE, C3, t + 3 * HOUR), rd(PLATE, FAR, t + 3 * HOUR + 2 * MIN),
    ])  # fmt: skip
    doc = {**WHY, "plate": "1-abc-123", "since": iso(now - DAY), "until": iso(now)}
    resp = await client.post("/api/v1/search/journey", json=doc, headers=h(setup))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["reads"] == 5 and [trip["cameras"] for trip in out["trips"]] == [
        [C1, C2, C3], [C3, FAR]
    ]  # fmt: skip
    legs = out["trips"][0]["legs"]
    assert [round(leg["distance_m"], -1) for leg in legs] == [1000, 1000]
    assert [round(leg["avg_kmh"]) for leg in legs] == [60, 60]
    far = out["trips"][1]["legs"][0]
    assert far["distance_m"] > 30_000 and far["implausible"] is True  # ~40 km in 2 minutes
    [record] = audit(node, "search.journey")
    assert record.results == 5 and record.detail["trips"] == 2


# -- exports --------------------------------------------------------------------------------
async def test_exports_are_files_of_the_search_and_audited_with_their_hash(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    seed(node, [rd(PLATE, C1, now - 2 * HOUR), rd(PLATE, C2, now - HOUR),
                rd(PLATE, B1, now - HOUR)])  # fmt: skip
    doc = body(PLATE, now - DAY, now)
    as_csv = await client.post("/api/v1/search/plates/export?format=csv", json=doc,
                               headers=h(setup))  # fmt: skip
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["camera_id"], r["plate"], r["match"]) for r in rows] == [
        (C1, PLATE, "exact"), (C2, PLATE, "exact")
    ]  # fmt: skip
    geo = await client.post("/api/v1/search/plates/export?format=geojson", json=doc,
                            headers=h(setup))  # fmt: skip
    fc = geo.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 2
    assert fc["features"][0]["geometry"] == {"type": "Point", "coordinates": [4.9446, 51.3227]}
    assert fc["kruispunt"]["decision"]["zones"] == [A]
    link = await client.get(
        "/api/v1/search/plates/export",
        params={**WHY, "plate": PLATE, "since": iso(now - DAY), "until": iso(now),
                "format": "csv", "cameras": C2},
        headers=h(setup),
    )  # fmt: skip
    assert link.status_code == 200, link.text
    assert [r["camera_id"] for r in csv.DictReader(io.StringIO(link.text))] == [C2]
    bad = await client.post("/api/v1/search/plates/export?format=xls", json=doc, headers=h(setup))
    assert bad.status_code == 400
    exports = audit(node, "export.csv") + audit(node, "export.geojson")
    assert sorted(r.results or 0 for r in exports) == [1, 2, 2]
    hashes = {r.detail["sha256"] for r in exports}
    assert hashlib.sha256(as_csv.content).hexdigest() in hashes
    assert hashlib.sha256(geo.content).hexdigest() in hashes


async def test_an_evidence_package_holds_each_read_its_camera_image_and_hashes(
    client: httpx.AsyncClient, node: Node, setup: dict[str, str]
) -> None:
    now = node.policy.now()
    first, second = rd(PLATE, C1, now - 2 * HOUR), rd(PLATE, C2, now - HOUR)
    seed(node, [first, second])
    jpeg = b"\xff\xd8\xff\xe0" + b"kruispunt test image" * 10
    node.images.put(C2, second.read_id, second.captured_us, jpeg, "image/jpeg")
    resp = await client.post("/api/v1/search/plates/evidence", json=body(PLATE, now - DAY, now),
                             headers=h(setup))  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(resp.content))
    top = json.loads(z.read("manifest.json"))
    assert top["images"] == 1 and top["case"] == "TU.12.LB.001234/2025"
    for path, digest in top["files"].items():
        assert hashlib.sha256(z.read(path)).hexdigest() == digest, path
    folders = sorted({p.split("/")[1] for p in top["files"]})
    assert len(folders) == 2
    manifests = [json.loads(z.read(f"reads/{f}/manifest.json")) for f in folders]
    with_image = [m for m in manifests if "image.jpg" in m["files"]]
    assert len(with_image) == 1 and with_image[0]["camera"]["id"] == C2
    image_path = f"reads/{with_image[0]['read']['seq']}/image.jpg"
    assert z.read(image_path) == jpeg
    assert all(m["decision"]["zones"] == [A] and m["read"]["plate"] == PLATE for m in manifests)
    [record] = audit(node, "export.evidence")
    assert record.results == 2 and record.detail["images"] == 1
    assert record.detail["sha256"] == hashlib.sha256(resp.content).hexdigest()
    picked = await client.post(
        "/api/v1/search/plates/evidence",
        json=body(PLATE, now - DAY, now, seqs=[manifests[0]["read"]["seq"]]), headers=h(setup),
    )  # fmt: skip
    names = zipfile.ZipFile(io.BytesIO(picked.content)).namelist()
    assert len([n for n in names if n.endswith("/read.json")]) == 1


# -- the store: the camera-time index --------------------------------------------------------
def test_every_day_table_has_the_camera_time_index(node: Node, setup: dict[str, str]) -> None:
    now = node.policy.now()
    seed(node, [rd(PLATE, C1, now - 3 * DAY), rd(PLATE, C1, now)])
    store = node.store
    if isinstance(store, SqliteStore):
        sql = "SELECT tbl_name FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%_cam_time'"
    else:
        sql = "SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%(cam, captured_us)'"
    tables = {r[0] for r in store.reader().execute(sql).fetchall()}
    days = {f"reads_{s.day:%Y%m%d}" for s in store.segments()}
    assert len(days) == 2 and days <= tables


def test_sqlite_v9_indexes_the_day_tables_a_v8_store_already_has(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "old.sqlite", synchronous="NORMAL")
    store.open()
    store.upsert_camera(make_camera(C1), None)
    store.append([rd(PLATE, C1, 1_780_000_000 * S), rd(PLATE, C1, 1_780_100_000 * S)])
    store.close()
    raw = sqlite3.connect(store.path)
    names = raw.execute("SELECT name FROM sqlite_master WHERE name LIKE 'ix_%_cam_time'")
    for (name,) in names.fetchall():
        raw.execute(f"DROP INDEX {name}")
    raw.execute("DROP INDEX ix_audit_at")  # schema v10, which a v8 store has not either
    raw.execute("UPDATE meta SET value='8' WHERE key='schema_version'")
    raw.commit()
    assert not raw.execute("SELECT 1 FROM sqlite_master WHERE name LIKE 'ix_%_cam_time'").fetchall()
    raw.close()
    store.open()
    indexed = (
        store.reader()
        .execute("SELECT tbl_name FROM sqlite_master WHERE name LIKE 'ix_%_cam_time'")
        .fetchall()
    )
    version = store.reader().execute("SELECT value FROM meta WHERE key='schema_version'")
    assert sorted(r[0] for r in indexed) == sorted(
        day_table(day_of_us(t)) for t in (1_780_000_000 * S, 1_780_100_000 * S)
    )
    assert int(version.fetchone()[0]) >= 9
    store.close()


# -- purpose limitation: only cameras registered for the police serve investigations ---------
LEZ_CAM, MIXED = "pz5364-c020", "pz5364-c021"


@pytest.fixture
def lez(node: Node, setup: dict[str, str]) -> dict[str, str]:
    """A city camera registered for the LEZ alone, and one for the police and the LEZ."""
    node.upsert_cameras([
        make_camera(LEZ_CAM, lat=51.3500, purposes=(Purpose.LEZ,)),
        make_camera(MIXED, lat=51.3600, purposes=(Purpose.POLICE, Purpose.LEZ)),
    ])  # fmt: skip
    return setup


async def test_a_lez_only_camera_never_serves_a_police_search(
    client: httpx.AsyncClient, node: Node, lez: dict[str, str]
) -> None:
    now = node.policy.now()
    t = now - 3 * HOUR
    seed(node, [
        rd(PLATE, C1, t), rd("2FOL999", C1, t + 20 * S),
        rd(PLATE, LEZ_CAM, t + 5 * MIN), rd("2FOL999", LEZ_CAM, t + 5 * MIN + 20 * S),
        rd("1LEZ000", LEZ_CAM, t + 5 * MIN + 10 * S),  # with the target at the LEZ camera only
        rd(PLATE, MIXED, t + 10 * MIN), rd("2FOL999", MIXED, t + 10 * MIN + 20 * S),
    ])  # fmt: skip
    doc = body(PLATE, now - DAY, now)
    plates = await client.post("/api/v1/search/plates", json=doc, headers=h(lez))
    assert plates.status_code == 200, plates.text
    assert [r["camera_id"] for r in plates.json()["reads"]] == [C1, MIXED]
    partial = await client.post("/api/v1/search/plates", json={**doc, "plate": "1AB?123"},
                                headers=h(lez))  # fmt: skip
    assert partial.status_code == 200, partial.text
    assert [r["camera_id"] for r in partial.json()["reads"]] == [C1, MIXED]
    # Named with a police camera: left out and said so; named alone: refused.
    named = (await client.post("/api/v1/search/plates", json={**doc, "cameras": [C1, LEZ_CAM]},
                               headers=h(lez))).json()  # fmt: skip
    assert [r["camera_id"] for r in named["reads"]] == [C1] and named["not_police"] == [LEZ_CAM]
    assert audit(node, "search.plate")[-1].detail["not_police"] == [LEZ_CAM]
    alone = await client.post("/api/v1/search/plates", json={**doc, "cameras": [LEZ_CAM]},
                              headers=h(lez))  # fmt: skip
    error = alone.json()["error"]
    assert alone.status_code == 422 and error["code"] == "not_police_cameras"
    assert error["cameras"] == [LEZ_CAM]
    # Place and time: named, in the zone, or alone.
    place = {**WHY, "since": iso(t - MIN), "until": iso(t + HOUR)}
    cams = (await client.post("/api/v1/search/place-time",
                              json={**place, "cameras": [C1, LEZ_CAM, MIXED], "list": True},
                              headers=h(lez))).json()  # fmt: skip
    assert [c["camera_id"] for c in cams["counts"]["cameras"]] == [C1, MIXED]
    assert cams["not_police"] == [LEZ_CAM] and cams["counts"]["reads"] == 4
    assert "1LEZ000" not in [v["plate"] for v in cams["vehicles"]]
    zone = (await client.post("/api/v1/search/place-time", json={**place, "zones": [A]},
                              headers=h(lez))).json()  # fmt: skip
    assert [c["camera_id"] for c in zone["counts"]["cameras"]] == [C1, MIXED]
    assert zone["not_police"] == [LEZ_CAM]
    only = await client.post("/api/v1/search/place-time", json={**place, "cameras": [LEZ_CAM]},
                             headers=h(lez))  # fmt: skip
    assert only.status_code == 422 and only.json()["error"]["code"] == "not_police_cameras"
    assert only.json()["error"]["cameras"] == [LEZ_CAM]
    sites = [{"cameras": [C1], "since": iso(t - MIN), "until": iso(t + MIN)},
             {"cameras": [LEZ_CAM], "since": iso(t), "until": iso(t + HOUR)}]  # fmt: skip
    multi = await client.post("/api/v1/search/multi-site", json={**WHY, "sites": sites},
                              headers=h(lez))  # fmt: skip
    assert multi.status_code == 422 and multi.json()["error"]["site"] == 1
    assert multi.json()["error"]["code"] == "not_police_cameras"
    # Convoy and journey see the target's police passages only.
    convoy = (await client.post("/api/v1/search/convoy", json={**doc, "gap_s": 60},
                                headers=h(lez))).json()  # fmt: skip
    assert convoy["passages"] == 2
    assert [(c["plate"], c["together"]) for c in convoy["companions"]] == [("2FOL999", 2)]
    assert {c["id"] for c in convoy["cameras"]} == {C1, MIXED}
    trip = (await client.post("/api/v1/search/journey", json=doc, headers=h(lez))).json()
    assert trip["reads"] == 2 and [t["cameras"] for t in trip["trips"]] == [[C1, MIXED]]
    # Exports.
    as_csv = await client.post("/api/v1/search/plates/export?format=csv", json=doc,
                               headers=h(lez))  # fmt: skip
    assert [r["camera_id"] for r in csv.DictReader(io.StringIO(as_csv.text))] == [C1, MIXED]
    geo = await client.post("/api/v1/search/plates/export?format=geojson", json=doc,
                            headers=h(lez))  # fmt: skip
    assert len(geo.json()["features"]) == 2
    evidence = await client.post("/api/v1/search/plates/evidence", json=doc, headers=h(lez))
    assert evidence.status_code == 200, evidence.text
    z = zipfile.ZipFile(io.BytesIO(evidence.content))
    cameras = {json.loads(z.read(n))["camera"]["id"] for n in z.namelist()
               if n.startswith("reads/") and n.endswith("/manifest.json")}  # fmt: skip
    assert cameras == {C1, MIXED}


def test_the_purpose_filter_keeps_the_plate_index(node: Node, lez: dict[str, str]) -> None:
    """The exclusion is a residual ``+cam NOT IN``: the plate index still drives the search."""
    now = node.policy.now()
    seed(node, [rd(PLATE, C1, now - HOUR), rd(PLATE, LEZ_CAM, now - HOUR + MIN)])
    queries = node.search.queries
    seen: list[tuple[str, list[Any]]] = []
    rows = _Run.rows

    def spy(run: _Run, sql: str, args: Any) -> list[Any]:
        seen.append((sql, list(args)))
        return rows(run, sql, args)

    filters = Filters(zones=frozenset({A}), exclude=(LEZ_CAM,))
    plan = plan_for(PlatePattern(PLATE), confusable=False)
    _Run.rows = spy  # type: ignore[method-assign]
    try:
        reads, more = queries.plate_reads(plan, [(now - DAY, now)], filters)
    finally:
        _Run.rows = rows  # type: ignore[method-assign]
    assert [r.camera_id for r in reads] == [C1] and more is False
    scan, _ = queries.plate_reads(
        plan_for(parse_pattern("?ABC123"), confusable=False), [(now - DAY, now)], filters
    )
    assert plan_for(parse_pattern("?ABC123"), confusable=False).time_scan
    assert [r.camera_id for r in scan] == [C1]
    assert any("NOT IN" in sql for sql, _ in seen)
    if isinstance(node.store, SqliteStore):
        for sql, args in seen:
            plan_rows = node.store.reader().execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall()
            detail = " ".join(str(r[-1]) for r in plan_rows)
            assert "_plate_time" in detail, detail
