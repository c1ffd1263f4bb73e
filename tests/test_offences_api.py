"""Offence records through the API: purpose limitation between modules and zones, filters and
paging, one record with its evidence, status changes, the back office's exports, the
dashboards' figures, and the audit of each (SQLite and PostgreSQL); the pure rules beside."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zoneinfo
from typing import Any

import httpx
import msgspec
import pytest

from kruispunt.access.principals import Principal, Role, User
from kruispunt.audit import AuditRecord, read_audit
from kruispunt.config import EnforcementConfig
from kruispunt.enforcement import export, stats
from kruispunt.enforcement.offences import (
    Offence,
    OffenceCategory,
    OffenceStatus,
    OffenceStore,
    offence_id,
)
from kruispunt.enforcement.service import (
    OffenceFilter,
    OffenceRefused,
    OffenceService,
    check_filter,
    check_transition,
    parse_filter,
    visibility,
)
from kruispunt.node import Node
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore
from kruispunt.web.charts import nice_step, stacked_bars
from tests.conftest import make_camera, on_both_engines

pytestmark = on_both_engines

A, B, CITY = "pz5364", "pz5352", "pz5345"
BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")
DAYS = ("2026-03-02", "2026-03-03", "2026-03-04")
SC, LEZ = "section_control", "lez"


def at(day: str, hour: int, minute: int = 0) -> int:
    moment = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), BRUSSELS)
    return int(moment.timestamp()) * 1_000_000


def speeding(
    n: int,
    zone: str,
    day: str,
    *,
    kmh: float = 88.0,
    section: str = "n12-oost",
    hour: int = 8,
    minute: int = 0,
    status: OffenceStatus = OffenceStatus.NEW,
) -> Offence:
    occurred = at(day, hour, minute)
    return Offence(
        id=offence_id(SC, zone, str(n)), module=SC, category=OffenceCategory.SPEEDING,
        plate=f"1ABC{n:03d}", country="BE", day=day, occurred_us=occurred,
        created_us=occurred + 1000, zone_id=zone,
        camera_ids=(f"{zone}-c001", f"{zone}-c002"), status=status, fine_eur=None,
        evidence={
            "section_id": section, "section_name": f"N12 {section}", "length_m": 2400.0,
            "average_kmh": kmh, "limit_kmh": 70, "limit_rule": "section",
            "margin": {"jurisdiction": "BE", "rule": "6 km/h up to 100 km/h, 6% above"},
            "corrected_kmh": kmh - 6, "excess_kmh": kmh - 76,
            "entry": {"camera_id": f"{zone}-c001", "read_id": f"r{n}a"},
            "exit": {"camera_id": f"{zone}-c002", "read_id": f"r{n}b"},
        },
    )  # fmt: skip


def lez_offence(
    n: int, day: str, *, fine: int | None = 150, camera: str = "pz5345-lez01", hour: int = 9
) -> Offence:
    occurred = at(day, hour)
    return Offence(
        id=offence_id(LEZ, str(n)), module=LEZ, category=OffenceCategory.ACCESS_RESTRICTION,
        plate=f"2LEZ{n:03d}", country="NL" if n % 2 else "BE", day=day, occurred_us=occurred,
        created_us=occurred + 1000, zone_id=CITY, camera_ids=(camera,),
        status=OffenceStatus.WARNING if fine is None else OffenceStatus.NEW, fine_eur=fine,
        evidence={"rule": "=diesel euro 5 from 2020", "reads": [{"read_id": f"l{n}"}]},
    )  # fmt: skip


def seed(node: Node, offences: list[Offence]) -> None:
    def insert(store: ReadStore) -> None:
        assert isinstance(store, SqlStore)
        with store.transaction() as conn:
            OffenceStore.insert(conn, offences)

    node.writer.call(insert).result()


def user(node: Node, uid: str, zone: str, role: Role = Role.TRAFFIC_OFFICER) -> dict[str, str]:
    token = node.users.create(User(id=uid, name=uid, zone_id=zone, role=role), actor=None)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(node: Node) -> dict[str, Any]:
    return make_world(node)


def make_world(node: Node) -> dict[str, Any]:
    """Section control in A (5: two sections, a cancelled one) and B (2); the LEZ (4: one
    warning); one section-control offence in the city's own zone."""
    node.upsert_cameras([
        make_camera("pz5364-c002", name="N12 Oost exit"),
        make_camera("pz5345-lez01", zone=CITY, name="LEZ Noorderlaan"),
        make_camera("pz5345-lez02", zone=CITY, name="LEZ Kennedytunnel"),
    ])  # fmt: skip
    a = [
        speeding(1, A, DAYS[0], kmh=81.0), speeding(2, A, DAYS[0], kmh=93.5, minute=5),
        speeding(3, A, DAYS[1], kmh=104.0, section="e34-west"),
        speeding(4, A, DAYS[2], kmh=88.0),
        speeding(5, A, DAYS[2], kmh=79.0, minute=5, status=OffenceStatus.CANCELLED),
    ]  # fmt: skip
    b = [speeding(11, B, DAYS[0]), speeding(12, B, DAYS[1])]
    lez = [
        lez_offence(21, DAYS[0], fine=None), lez_offence(22, DAYS[0]),
        lez_offence(23, DAYS[1], camera="pz5345-lez02"), lez_offence(24, DAYS[2]),
    ]  # fmt: skip
    city = [speeding(31, CITY, DAYS[1])]
    seed(node, [*a, *b, *lez, *city])
    return {
        "a": a, "b": b, "lez": lez, "city": city,
        "officer_a": user(node, "officer-a", A),
        "chief_b": user(node, "chief-b", B, Role.ZONE_CHIEF),
        "officer_city": user(node, "officer-city", CITY),
        "investigator_a": user(node, "inv-a", A, Role.INVESTIGATOR),
    }  # fmt: skip


async def ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    resp = await client.get("/api/v1/offences", headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    return [o["id"] for o in resp.json()["offences"]]


def offence_ids(offences: list[Offence]) -> list[str]:
    return [o.id for o in sorted(offences, key=lambda o: (o.occurred_us, o.id))]


def audit_of(node: Node, action: str) -> list[AuditRecord]:
    return [r for r in read_audit(node.store.reader(), object_type="offence") if r.action == action]


# -- purpose limitation ----------------------------------------------------------------------
async def test_each_reads_their_own_module_and_zone(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    assert await ids(client, world["officer_a"]) == offence_ids(world["a"])
    assert await ids(client, world["chief_b"]) == offence_ids(world["b"])
    # The LEZ's zone: the city's LEZ offences, and its own section control, nobody else's.
    city = await ids(client, world["officer_city"])
    assert city == offence_ids([*world["lez"], *world["city"]])
    assert await ids(client, world["officer_city"], module=LEZ) == offence_ids(world["lez"])
    resp = await client.get("/api/v1/offences", headers=world["investigator_a"])
    assert resp.status_code == 403  # investigators do not browse fines


@pytest.mark.parametrize(
    ("who", "params", "code"),
    [
        ("officer_a", {"module": LEZ}, "module_not_visible"),
        ("officer_a", {"zone": B}, "zone_not_visible"),
        ("chief_b", {"zone": A, "module": SC}, "zone_not_visible"),
        ("officer_city", {"zone": A, "module": SC}, "zone_not_visible"),
    ],
)
async def test_asking_for_another_business_is_refused(
    client: httpx.AsyncClient, world: dict[str, Any], who: str, params: dict[str, str], code: str
) -> None:
    for path in ("/api/v1/offences", "/api/v1/offences/export"):
        resp = await client.get(path, headers=world[who], params=params)
        assert resp.status_code == 403 and resp.json()["error"]["code"] == code, (path, resp.text)


async def test_another_business_record_is_as_if_it_did_not_exist(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    b_one, lez_one, a_one = world["b"][0].id, world["lez"][0].id, world["a"][0].id
    for who, oid in [("officer_a", b_one), ("officer_a", lez_one), ("chief_b", a_one),
                     ("officer_city", a_one), ("officer_a", "o-nothing")]:  # fmt: skip
        resp = await client.get(f"/api/v1/offences/{oid}", headers=world[who])
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_offence"
        resp = await client.post(
            f"/api/v1/offences/{oid}/status", headers=world[who],
            json={"status": "cancelled", "note": "not ours"},
        )  # fmt: skip
        assert resp.status_code == 404
    resp = await client.get(
        "/api/v1/offences/stats", headers=world["officer_a"], params={"module": LEZ}
    )
    assert resp.status_code == 403
    resp = await client.get("/enforcement/lez", headers=world["chief_b"])
    assert resp.status_code == 403


def test_the_purpose_rules_are_pure() -> None:
    officer = visibility(Principal(user_id="o", zone_id=A, role=Role.TRAFFIC_OFFICER),
                         lez_zone_id=CITY)  # fmt: skip
    assert officer.sees(SC, A) and not officer.sees(SC, B) and not officer.sees(LEZ, CITY)
    city = visibility(Principal(user_id="c", zone_id=CITY, role=Role.ZONE_CHIEF), lez_zone_id=CITY)
    assert city.sees(LEZ, CITY) and city.sees(SC, CITY) and not city.sees(SC, A)
    for role in (Role.INVESTIGATOR, Role.ADMIN, Role.DPO, Role.MUNICIPALITY):
        nobody = visibility(Principal(user_id="x", zone_id=CITY, role=role), lez_zone_id=CITY)
        assert nobody.modules == () and not nobody.sees(LEZ, CITY)
    assert not officer.sees("registry_checks", A)  # an unknown module: nobody's
    with pytest.raises(OffenceRefused) as refused:
        check_filter(officer, OffenceFilter(module=LEZ))
    assert refused.value.status == 403
    check_filter(city, OffenceFilter(zone=B, module=LEZ))  # narrows the LEZ's own records


# -- filters and paging ----------------------------------------------------------------------
async def test_filters_narrow_the_list(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    a, officer = world["a"], world["officer_a"]
    assert await ids(client, officer, since=DAYS[1]) == offence_ids(a[2:])
    assert await ids(client, officer, until=DAYS[0]) == offence_ids(a[:2])
    assert await ids(client, officer, since=DAYS[1], until=DAYS[1]) == [a[2].id]
    assert await ids(client, officer, status="cancelled") == [a[4].id]
    assert await ids(client, officer, category="speeding", zone=A) == offence_ids(a)
    assert await ids(client, officer, category="drink_driving") == []
    lez = world["lez"]
    assert await ids(client, world["officer_city"], module=LEZ, status="warning") == [lez[0].id]
    for bad in ({"since": "yesterday"}, {"status": "paid"}, {"module": "radar"},
                {"category": "parking"}, {"since": DAYS[2], "until": DAYS[0]}, {"limit": "0"},
                {"after": "nonsense"}):  # fmt: skip
        resp = await client.get("/api/v1/offences", headers=officer, params=bad)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_query", bad


async def test_pages_follow_each_other_without_loss(
    client: httpx.AsyncClient, node: Node, world: dict[str, Any]
) -> None:
    # Three more at the very same moment as the first: the cursor breaks ties by id.
    twins = [
        msgspec.structs.replace(speeding(40 + i, A, DAYS[0]), occurred_us=world["a"][0].occurred_us)
        for i in range(3)
    ]
    seed(node, twins)
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"after": after} if after else {})
        body = (
            await client.get("/api/v1/offences", headers=world["officer_a"], params=params)
        ).json()
        seen += [o["id"] for o in body["offences"]]
        pages += 1
        after = body["next"]
        if after is None:
            break
    assert seen == offence_ids([*world["a"], *twins]) and pages == 4


# -- one record, status changes ----------------------------------------------------------------
async def test_one_offence_carries_its_evidence_and_its_history(
    client: httpx.AsyncClient, node: Node, world: dict[str, Any]
) -> None:
    one = world["a"][0]
    url = f"/api/v1/offences/{one.id}"
    body = (await client.get(url, headers=world["officer_a"])).json()
    assert body["offence"]["plate"] == one.plate and body["offence"]["category"] == "speeding"
    assert body["evidence"]["average_kmh"] == 81.0
    assert body["place"] == "Test camera pz5364-c001 → N12 Oost exit"
    assert body["history"] == []

    exported = await client.post(
        f"{url}/status", headers=world["officer_a"], json={"status": "exported"}
    )
    assert exported.status_code == 200 and exported.json()["status"] == "exported"
    chief = user(node, "chief-a", A, Role.ZONE_CHIEF)
    no_note = await client.post(f"{url}/status", headers=chief, json={"status": "cancelled"})
    assert no_note.status_code == 400 and no_note.json()["error"]["code"] == "note_required"
    note = "Holder proved the vehicle was stolen that day"
    cancelled = await client.post(
        f"{url}/status", headers=chief, json={"status": "cancelled", "note": note}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await client.post(
        f"{url}/status", headers=chief, json={"status": "exported", "note": "oops"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "transition_refused"
    for bad in ({"status": "new"}, {"status": "paid"}, {"status": "exported", "extra": 1}):
        resp = await client.post(f"{url}/status", headers=chief, json=bad)
        assert resp.status_code == 400, bad

    history = (await client.get(url, headers=world["officer_a"])).json()["history"]
    assert [(h["from_status"], h["to_status"], h["actor"]) for h in history] == [
        ("new", "exported", "officer-a"), ("exported", "cancelled", "chief-a"),
    ]  # fmt: skip
    assert history[1]["note"] == note and history[1]["role"] == "zone_chief"
    changes = audit_of(node, "offence.status")
    assert len(changes) == 2
    token = node.plate_tokens.token(one.plate)
    assert all(r.scope == {"plates": [token]} for r in changes)


def test_the_status_rules_are_pure() -> None:
    new, warning, exported, cancelled = (
        OffenceStatus.NEW, OffenceStatus.WARNING, OffenceStatus.EXPORTED, OffenceStatus.CANCELLED,
    )  # fmt: skip
    check_transition(new, exported, "")
    check_transition(warning, exported, "")
    check_transition(exported, cancelled, "dropped by the back office")
    for current, target, note, code in [
        (new, cancelled, " ", "note_required"), (cancelled, exported, "x", "transition_refused"),
        (exported, exported, "", "transition_refused"), (new, warning, "", "bad_query"),
    ]:  # fmt: skip
        with pytest.raises(OffenceRefused) as refused:
            check_transition(current, target, note)
        assert refused.value.code == code


# -- exports -----------------------------------------------------------------------------------
async def test_the_csv_export_has_the_documented_columns(
    client: httpx.AsyncClient, node: Node, world: dict[str, Any]
) -> None:
    resp = await client.get(
        "/api/v1/offences/export",
        headers=world["officer_city"],
        params={"format": "csv", "module": LEZ},
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["x-kruispunt-truncated"] == "false"
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert tuple(rows[0]) == export.COLUMNS == (
        "offence_id", "module", "eu_category", "occurred_at", "day", "zone_id", "place",
        "camera_ids", "plate", "country", "rule", "fine_eur", "status", "evidence",
    )  # fmt: skip
    by_id = {r[0]: dict(zip(export.COLUMNS, r, strict=True)) for r in rows[1:]}
    assert list(by_id) == offence_ids(world["lez"])
    first = by_id[world["lez"][0].id]
    assert first["eu_category"] == "access_restriction" and first["fine_eur"] == ""
    assert first["status"] == "warning" and first["place"] == "LEZ Noorderlaan"
    assert first["plate"] == "2LEZ021" and first["country"] == "NL"
    assert first["occurred_at"] == "2026-03-02T08:00:00.000000Z"  # 09:00 in Brussels
    assert first["rule"] == "'=diesel euro 5 from 2020"  # a formula would not run
    assert first["evidence"] == "reads=1"
    assert by_id[world["lez"][1].id]["fine_eur"] == "150"
    records = audit_of(node, "offence.export")
    assert len(records) == 1 and records[0].results == 4 and records[0].detail["format"] == "csv"
    tokens = sorted(str(node.plate_tokens.token(o.plate)) for o in world["lez"])
    assert records[0].scope is not None and records[0].scope["plates"] == tokens
    assert "2LEZ0" not in json.dumps(records[0].detail) + json.dumps(records[0].context)


async def test_the_json_export_carries_the_same_rows_and_the_evidence(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    resp = await client.get(
        "/api/v1/offences/export", headers=world["officer_a"], params={"format": "json"}
    )
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert doc["format"] == "kruispunt-offences/1" and doc["columns"] == list(export.COLUMNS)
    assert doc["count"] == 5 and doc["truncated"] is False
    row = doc["offences"][0]
    assert list(row)[: len(export.COLUMNS)] == list(export.COLUMNS)
    assert row["offence_id"] == world["a"][0].id and row["eu_category"] == "speeding"
    assert row["rule"] == "speed limit 70 km/h; margin (BE): 6 km/h up to 100 km/h, 6% above"
    assert "average_kmh=81" in row["evidence"] and "reads=2" in row["evidence"]
    assert row["evidence_detail"]["section_id"] == "n12-oost"
    assert {r["zone_id"] for r in doc["offences"]} == {A}
    bad = await client.get(
        "/api/v1/offences/export", headers=world["officer_a"], params={"format": "xml"}
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_format"


def test_an_export_stops_at_the_nodes_cap(node: Node, world: dict[str, Any]) -> None:
    service = OffenceService(
        store=node.store, writer=node.writer, registry=node.registry,
        plate_tokens=node.plate_tokens, config=EnforcementConfig(export_max=2),
    )  # fmt: skip
    officer = Principal(user_id="officer-a", zone_id=A, role=Role.TRAFFIC_OFFICER)
    offences, truncated = service.export(officer, OffenceFilter(), fmt="csv")
    assert [o.id for o in offences] == offence_ids(world["a"])[:2] and truncated


# -- dashboards --------------------------------------------------------------------------------
async def test_the_section_dashboard_counts_days_sections_and_speeds(
    client: httpx.AsyncClient, node: Node, world: dict[str, Any]
) -> None:
    params = {"module": SC, "since": DAYS[0], "until": DAYS[2]}
    resp = await client.get("/api/v1/offences/stats", headers=world["officer_a"], params=params)
    assert resp.status_code == 200, resp.text
    board = resp.json()
    assert board["zones"] == [A] and board["total"] == 5 and board["cancelled"] == 1
    assert [(d["day"], d["offences"], d["cancelled"]) for d in board["per_day"]] == [
        (DAYS[0], 2, 0), (DAYS[1], 1, 0), (DAYS[2], 2, 1),
    ]  # fmt: skip
    assert [(t["id"], t["offences"], t["max_kmh"]) for t in board["top"]] == [
        ("n12-oost", 4, 93.5), ("e34-west", 1, 104.0),
    ]  # fmt: skip
    assert board["top"][0]["name"] == "N12 n12-oost"
    # Until section control stores its passages: the (live) offences' measured speeds.
    assert board["speeds_source"] == "offences"
    assert {b["from_kmh"]: b["count"] for b in board["speeds"] if b["count"]} == {
        80: 1, 85: 1, 90: 1, 100: 1,
    }  # fmt: skip
    assert board["speeds"][0]["from_kmh"] == 80 and board["speeds"][-1]["to_kmh"] == 105

    passages = [
        stats.SectionPassage("n12-oost", A, DAYS[0], kmh) for kmh in (48.0, 52.5, 54.9, 55.0, 71.0)
    ] + [stats.SectionPassage("n12-oost", B, DAYS[0], 120.0)]  # another zone's: not counted

    def commit(store: ReadStore) -> None:
        assert isinstance(store, SqlStore)
        with store.transaction() as conn:
            stats.SpeedStatsStore.commit(conn, stats.add_passages({}, passages))
            stats.SpeedStatsStore.commit(conn, stats.add_passages({}, passages[:1]))

    node.writer.call(commit).result()
    board = (
        await client.get("/api/v1/offences/stats", headers=world["officer_a"], params=params)
    ).json()
    assert board["speeds_source"] == "passages"
    assert {b["from_kmh"]: b["count"] for b in board["speeds"] if b["count"]} == {
        45: 2, 50: 2, 55: 1, 70: 1,
    }  # fmt: skip
    assert len(audit_of(node, "offence.stats")) == 2


async def test_the_lez_dashboard_counts_warnings_fines_and_entry_cameras(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    params = {"module": LEZ, "since": DAYS[0], "until": DAYS[2]}
    resp = await client.get("/api/v1/offences/stats", headers=world["officer_city"], params=params)
    board = resp.json()
    assert board["zones"] == [CITY] and board["total"] == 4
    assert (board["warnings"], board["fines"], board["fines_eur"]) == (1, 3, 450)
    assert [(t["id"], t["name"], t["offences"]) for t in board["top"]] == [
        ("pz5345-lez01", "LEZ Noorderlaan", 3), ("pz5345-lez02", "LEZ Kennedytunnel", 1),
    ]  # fmt: skip
    assert board["speeds"] == [] and board["speeds_source"] == "none"
    assert board["categories"] == {"access_restriction": 4}
    for bad in ({"module": "radar"}, {"module": LEZ, "since": "2020-01-01", "until": DAYS[2]},
                {"module": LEZ, "since": DAYS[2], "until": DAYS[0]}):  # fmt: skip
        resp = await client.get("/api/v1/offences/stats", headers=world["officer_city"], params=bad)
        assert resp.status_code == 400, bad


async def test_reading_is_audited_with_plate_tokens(
    client: httpx.AsyncClient, node: Node, world: dict[str, Any]
) -> None:
    await client.get("/api/v1/offences", headers=world["officer_a"], params={"until": DAYS[0]})
    await client.get(f"/api/v1/offences/{world['a'][2].id}", headers=world["officer_a"])
    (listed,) = audit_of(node, "offence.list")
    assert listed.actor == "officer-a" and listed.role == "traffic_officer"
    assert listed.results == 2 and listed.detail["until_day"] == DAYS[0]
    assert listed.scope == {
        "modules": [SC],
        "plates": sorted(str(node.plate_tokens.token(o.plate)) for o in world["a"][:2]),
    }
    (read,) = audit_of(node, "offence.read")
    assert read.object_id == world["a"][2].id
    assert read.scope is not None and read.scope["plates"] == [node.plate_tokens.token("1ABC003")]
    for record in (listed, read):
        assert "1ABC" not in json.dumps(record.detail) + json.dumps(record.context)


# -- the pure figures ----------------------------------------------------------------------------
def test_speed_bins_and_passages_are_pure() -> None:
    assert [stats.speed_bin(v) for v in (0.0, 4.99, 5.0, 72.4, -3.0, 1e9, float("nan"))] == [
        0, 0, 5, 70, 0, stats.MAX_BIN_KMH, 0,
    ]  # fmt: skip
    first = stats.add_passages({}, [stats.SectionPassage("s1", A, DAYS[0], 71.0)])
    both = stats.add_passages(first, [stats.SectionPassage("s1", A, DAYS[0], 74.0)])
    assert first == {stats.SpeedKey(A, DAYS[0], "s1", 70): 1}  # left as it was
    assert both == {stats.SpeedKey(A, DAYS[0], "s1", 70): 2}
    assert stats.histogram({}) == []
    assert [(b.from_kmh, b.count) for b in stats.histogram({60: 2, 70: 1})] == [
        (60, 2), (65, 0), (70, 1),
    ]  # fmt: skip


def test_filters_and_charts_are_pure() -> None:
    f = parse_filter({"module": SC, "since": DAYS[0], "status": "new", "zone": A})
    assert (f.module, f.since_day, f.status, f.zone) == (SC, DAYS[0], OffenceStatus.NEW, A)
    assert [nice_step(v) for v in (0, 1, 3, 7, 12, 260)] == [1, 1, 5, 10, 20, 500]
    chart = stacked_bars(
        [("d1", "1", {"fine": 3, "warning": 1}), ("d2", "2", {})], ("fine", "warning")
    )
    assert chart.axis_max == 4 and [b.total for b in chart.bars] == [4, 0]
    fine, warning = chart.bars[0].segments
    assert fine.kind == "fine" and warning.y + warning.height == pytest.approx(fine.y)
    assert fine.y + fine.height == pytest.approx(chart.bottom)
    assert chart.bars[1].segments == ()


def test_export_rows_read_each_modules_evidence() -> None:
    o = lez_offence(1, DAYS[0])
    lez = msgspec.structs.replace(o, evidence={
        "reads": [{"read_id": "a"}, {"read_id": "b"}], "earlier_fines": 1,
        "decision": {"outcome": "refused", "reason": "emissions", "rule": "diesel-2020",
                     "fuel_class": "diesel", "euro": "euro4"},
        "rules": {"rules": "Antwerpen LEZ", "version": "2025.1"},
    })  # fmt: skip
    row = export.row(lez, {"pz5345-lez01": "LEZ Noorderlaan"})
    assert row["rule"] == "LEZ emissions: rule diesel-2020 (diesel euro4); Antwerpen LEZ v2025.1"
    assert row["evidence"] == "earlier_fines=1; reads=2" and row["place"] == "LEZ Noorderlaan"
    assert list(row) == list(export.COLUMNS)
    bare = msgspec.structs.replace(o, evidence={})
    assert export.rule_of(bare) == "access restriction" and export.evidence_summary(bare) == ""
    assert export.iso(0) == "1970-01-01T00:00:00.000000Z"
