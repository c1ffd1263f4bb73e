"""Legal holds: who puts them, what they keep, who reads what they keep (for its case only),
release and expiry; every step audited. The service on a real store (SQLite and PostgreSQL)
and the API in-process."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from kruispunt.access.holds import (
    HoldClosed,
    HoldForbidden,
    HoldInvalid,
    HoldNotFound,
    HoldStatus,
    LegalHold,
    LegalHoldService,
)
from kruispunt.access.principals import Principal, Role
from kruispunt.audit import read_audit, verify_chain
from kruispunt.domain.reads import Read
from kruispunt.law.purpose import validate_case
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import on_both_engines
from tests.people import accounts, p

pytestmark = on_both_engines

HOUR = 3_600_000_000
DAY = 24 * HOUR
A, B = "pz5364", "pz5352"
CAM_A, CAM_B = "pz5364-c001", "pz5352-c001"
CASE = "TU.12.LB.001234/25"
OTHER_CASE = "TU.12.LB.009999/25"
REASON = "Getaway car of the armed robbery in Turnhout on 3 May, evidence for trial"
PLATE = "1ABC123"


CHIEF_A = p("chief-a", A, Role.ZONE_CHIEF)
MAG_A = p("mag-a", A, Role.MAGISTRATE)
CHIEF_B = p("chief-b", B, Role.ZONE_CHIEF)
INV_A = p("inv-a", A, Role.INVESTIGATOR)
ANA_A = p("ana-a", A, Role.ANALYST)
OP_A = p("op-a", A, Role.OPERATOR)
INV_B = p("inv-b", B, Role.INVESTIGATOR)
DPO = p("dpo", "network", Role.DPO)
AUDITOR = p("aud", "network", Role.AUDITOR)
ADMIN_U = p("adm", "network", Role.ADMIN)
PEOPLE = (CHIEF_A, MAG_A, CHIEF_B, INV_A, ANA_A, OP_A, INV_B, DPO, AUDITOR, ADMIN_U)


@pytest.fixture
def tokens(node: Node) -> dict[str, str]:
    """The people of these tests as users of the node, with their API tokens."""
    return accounts(node, PEOPLE)


def h(tokens: dict[str, str], user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user_id]}"}


def iso(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


def make_read(
    read_id: str, at_us: int, *, plate: str = PLATE, camera: str = CAM_A, zone: str = A
) -> Read:
    return Read(
        0, read_id, camera, zone, at_us, at_us + 1000, plate, plate, "BE", True, "BE.current", 0.9
    )


def store_reads(node: Node, *reads: Read) -> None:
    node.writer.submit_reads(list(reads)).result()


def hold_on(node: Node, who: Principal = CHIEF_A, **kw: Any) -> LegalHold:
    now = node.holds.now()
    fields: dict[str, Any] = {
        "case": CASE,
        "reason": REASON,
        "since_us": now - 3 * DAY,
        "until_us": now,
        "expires_us": now + 400 * DAY,
        "plates": [PLATE],
    }
    fields.update(kw)
    return node.holds.create(who, **fields)


def held_ids(node: Node, hold_id: str) -> list[str]:
    assert isinstance(node.store, SqlStore)
    rows = node.store.reader().execute(
        "SELECT seq FROM held_reads WHERE hold_id=? ORDER BY seq", (hold_id,)
    )
    seqs = {int(r[0]) for r in rows}
    return [r.read_id for r in node.store.reads_after(0, 1000) if r.seq in seqs]


def hold_audit(node: Node, hold_id: str | None = None) -> list[Any]:
    assert isinstance(node.store, SqlStore)
    return read_audit(node.store.reader(), object_type="hold", object_id=hold_id)


# -- creating a hold ---------------------------------------------------------------------------
def test_a_chief_or_magistrate_holds_the_covered_reads_of_their_zone(node: Node) -> None:
    now = node.holds.now()
    store_reads(
        node,
        make_read("kept-1", now - 2 * DAY),
        make_read("kept-2", now - HOUR),
        make_read("other-plate", now - HOUR, plate="2XYZ789"),
        make_read("before-period", now - 5 * DAY),
        make_read("other-zone", now - HOUR, camera=CAM_B, zone=B),
    )
    hold = hold_on(node, plates=["1-abc-123"])
    assert hold.status is HoldStatus.OPEN and hold.zone_id == A and hold.plates == (PLATE,)
    assert hold.case == validate_case(node.law, CASE)  # the profile's normalised form
    assert held_ids(node, hold.id) == ["kept-1", "kept-2"]
    assert node.holds.held_count(hold.id) == 2

    # Without plates: everything the named cameras saw in the period.
    by_camera = hold_on(node, MAG_A, plates=[], cameras=[CAM_A], since_us=now - 2 * HOUR)
    assert held_ids(node, by_camera.id) == ["kept-2", "other-plate"]

    (created,) = [r for r in hold_audit(node, hold.id) if r.action == "hold.create"]
    assert (created.actor, created.role, created.case) == ("chief-a", "zone_chief", hold.case)
    assert created.detail["held_reads"] == 2 and created.detail["zone"] == A
    assert created.scope is not None and created.scope["plates"][0].startswith("pt:")
    assert PLATE not in json.dumps(created.detail) + json.dumps(created.context)
    assert isinstance(node.store, SqlStore)
    assert verify_chain(read_audit(node.store.reader())) is None


def test_what_a_hold_needs(node: Node) -> None:
    now = node.holds.now()
    for who in (INV_A, OP_A, DPO, ADMIN_U):
        with pytest.raises(HoldForbidden):
            hold_on(node, who)
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"case": "12345"}, "invalid_case"),
        ({"reason": "onderzoek"}, "invalid_hold"),
        ({"plates": []}, "invalid_hold"),  # neither plates nor cameras
        ({"plates": ["--"]}, "invalid_hold"),
        ({"cameras": [CAM_B]}, "invalid_hold"),  # another zone's camera
        ({"expires_us": now - 1}, "invalid_hold"),
        ({"expires_us": now + 1100 * DAY}, "invalid_hold"),  # max_days: 1096
        ({"until_us": now - 4 * DAY}, "invalid_hold"),  # ends before it starts
        ({"until_us": now + 500 * DAY}, "invalid_hold"),  # keeps reads after its expiry
    ]
    for fields, code in refusals:
        with pytest.raises(HoldInvalid) as refused:
            hold_on(node, **fields)
        assert refused.value.code == code, fields
    assert node.holds.list(CHIEF_A) == []
    assert hold_audit(node) == []  # nothing was created


def test_who_sees_and_who_releases_a_hold(node: Node) -> None:
    now = node.holds.now()
    store_reads(node, make_read("r1", now - HOUR))
    hold = hold_on(node)
    for who in (CHIEF_A, MAG_A, DPO, AUDITOR):
        assert node.holds.get(hold.id, actor=who).id == hold.id
    for who in (CHIEF_B, INV_A, ADMIN_U):
        with pytest.raises(HoldNotFound):
            node.holds.get(hold.id, actor=who)
    assert [x.id for x in node.holds.list(MAG_A)] == [hold.id]
    assert node.holds.list(CHIEF_B) == []
    assert [x.id for x in node.holds.list(DPO, status=HoldStatus.OPEN, case=CASE)] == [hold.id]
    assert node.holds.list(AUDITOR, status=HoldStatus.RELEASED) == []
    with pytest.raises(HoldForbidden):
        node.holds.list(INV_A)

    with pytest.raises(HoldInvalid):
        node.holds.release(hold.id, actor=CHIEF_A, note="  ")
    with pytest.raises(HoldNotFound):
        node.holds.release(hold.id, actor=CHIEF_B, note="not ours")
    with pytest.raises(HoldForbidden):
        node.holds.release(hold.id, actor=DPO, note="oversight cannot release")
    assert node.holds.held_count(hold.id) == 1

    released = node.holds.release(hold.id, actor=MAG_A, note="the case was dismissed")
    assert released.status is HoldStatus.RELEASED and released.closed_by == "mag-a"
    assert node.holds.held_count(hold.id) == 0
    with pytest.raises(HoldClosed):
        node.holds.release(hold.id, actor=CHIEF_A, note="again")
    actions = [(r.action, r.actor) for r in hold_audit(node, hold.id)]
    assert actions == [
        ("hold.create", "chief-a"), ("hold.forbidden", "dpo"), ("hold.release", "mag-a")
    ]  # fmt: skip
    release = hold_audit(node, hold.id)[-1]
    assert release.detail["held_reads_deleted"] == 1
    assert release.detail["note"] == "the case was dismissed"


def test_a_hold_expires_by_itself_and_its_reads_go(node: Node) -> None:
    now = node.holds.now()
    store_reads(node, make_read("r1", now - HOUR))
    hold = hold_on(node, expires_us=now + 10 * DAY)
    assert node.holds.expire_due(now + 10 * DAY - 1) == []
    (gone,) = node.holds.expire_due(now + 10 * DAY)
    assert gone.id == hold.id and gone.status is HoldStatus.EXPIRED
    assert node.holds.held_count(hold.id) == 0
    assert node.holds.get(hold.id, actor=CHIEF_A).status is HoldStatus.EXPIRED
    assert node.holds.expire_due(now + 20 * DAY) == []  # once
    (expiry,) = [r for r in hold_audit(node, hold.id) if r.action == "hold.expire"]
    assert expiry.actor == "system" and expiry.detail["held_reads_deleted"] == 1


# -- reading held reads -------------------------------------------------------------------------
def test_held_reads_are_read_for_the_holds_case_only(node: Node) -> None:
    now = node.holds.now()
    store_reads(node, make_read("r1", now - 2 * HOUR), make_read("r2", now - HOUR))
    hold = hold_on(node)
    page = node.holds.reads(
        hold.id, actor=INV_A, purpose="judicial_police", case=CASE, reason=REASON
    )
    assert [r.read_id for r in page.reads] == ["r1", "r2"]
    assert node.holds.reads(
        hold.id, actor=ANA_A, purpose="serious_crime", case=CASE, reason=REASON
    ).reads

    def refused(who: Principal, **kw: Any) -> str:
        fields = {"purpose": "judicial_police", "case": CASE, "reason": REASON, **kw}
        with pytest.raises((HoldForbidden, HoldInvalid, HoldClosed)) as exc:
            node.holds.reads(hold.id, actor=who, **fields)
        return exc.value.code

    assert refused(INV_A, case=OTHER_CASE) == "case_mismatch"
    assert refused(INV_A, purpose="administrative_police") == "role_not_allowed"
    assert refused(OP_A, purpose="fugitive_arrest") == "forbidden"  # not a reader of evidence
    assert refused(INV_B) == "forbidden"  # another zone
    assert refused(CHIEF_A) == "forbidden"  # holds, does not read
    assert refused(INV_A, reason="onderzoek") == "vague_reason"
    assert refused(INV_A, purpose="curiosity") == "invalid_purpose"
    assert refused(INV_A, case="nope") == "invalid_case"
    with pytest.raises(HoldNotFound):
        node.holds.reads("lh-nope", actor=INV_A, purpose="judicial_police", case=CASE,
                         reason=REASON)  # fmt: skip

    records = hold_audit(node, hold.id)
    reads = [r for r in records if r.action == "hold.reads"]
    assert [(r.actor, r.results, r.purpose) for r in reads] == [
        ("inv-a", 2, "judicial_police"), ("ana-a", 2, "serious_crime")
    ]  # fmt: skip
    refusals = [r for r in records if r.action == "hold.reads.refused"]
    assert len(refusals) == 8 and all(r.results == 0 for r in refusals)
    assert refusals[0].detail["code"] == "case_mismatch" and refusals[0].case == OTHER_CASE

    node.holds.release(hold.id, actor=CHIEF_A, note="evidence handed to the court")
    assert refused(INV_A) == "hold_closed"


# -- the API -------------------------------------------------------------------------------------
async def test_the_api_from_creation_to_release(
    client: httpx.AsyncClient, node: Node, tokens: dict[str, str]
) -> None:
    now = node.holds.now()
    store_reads(node, make_read("r1", now - HOUR))
    body = {
        "case": CASE,
        "reason": REASON,
        "since": iso(now - DAY),
        "until": iso(now),
        "expires": iso(now + 365 * DAY),
        "plates": ["1-ABC-123"],
    }
    for who in ("inv-a", "dpo", "adm"):
        resp = await client.post("/api/v1/holds", json=body, headers=h(tokens, who))
        assert resp.status_code == 403, who
    bad = await client.post(
        "/api/v1/holds", json={**body, "case": "x"}, headers=h(tokens, "chief-a")
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_case"
    naive = await client.post(
        "/api/v1/holds", json={**body, "expires": "2030-01-01T00:00:00"},
        headers=h(tokens, "chief-a"),
    )  # fmt: skip
    assert naive.status_code == 400
    resp = await client.post("/api/v1/holds", json=body, headers=h(tokens, "chief-a"))
    assert resp.status_code == 201, resp.text
    hold = resp.json()
    assert hold["status"] == "open" and hold["live"] and hold["held_reads"] == 1
    assert hold["plates"] == [PLATE] and hold["zone_id"] == A
    hid = hold["id"]

    dpo = await client.get(f"/api/v1/holds/{hid}", headers=h(tokens, "dpo"))
    assert dpo.status_code == 200
    assert dpo.json()["plates"] == [] and dpo.json()["plate_count"] == 1  # oversight: no plates
    assert (
        await client.get(f"/api/v1/holds/{hid}", headers=h(tokens, "chief-b"))
    ).status_code == 404
    listed = await client.get(
        "/api/v1/holds", params={"status": "open"}, headers=h(tokens, "mag-a")
    )
    assert [x["id"] for x in listed.json()] == [hid]
    assert (await client.get("/api/v1/holds", headers=h(tokens, "chief-b"))).json() == []
    wrong = await client.get("/api/v1/holds", params={"status": "x"}, headers=h(tokens, "aud"))
    assert wrong.status_code == 400

    query = {"purpose": "judicial_police", "case": CASE, "reason": REASON}
    reads = await client.get(f"/api/v1/holds/{hid}/reads", params=query, headers=h(tokens, "inv-a"))
    assert reads.status_code == 200, reads.text
    page = reads.json()
    assert page["count"] == 1 and page["reads"][0]["read_id"] == "r1"
    assert page["reads"][0]["plate"] == PLATE and page["case"] == hold["case"]
    other = await client.get(
        f"/api/v1/holds/{hid}/reads", params={**query, "case": OTHER_CASE},
        headers=h(tokens, "inv-a"),
    )  # fmt: skip
    assert other.status_code == 403 and other.json()["error"]["code"] == "case_mismatch"
    chief = await client.get(
        f"/api/v1/holds/{hid}/reads", params=query, headers=h(tokens, "chief-a")
    )
    assert chief.status_code == 403  # the guard: a chief holds, does not read

    no_note = await client.post(f"/api/v1/holds/{hid}/release", headers=h(tokens, "chief-a"))
    assert no_note.status_code == 400
    released = await client.post(
        f"/api/v1/holds/{hid}/release", json={"note": "case closed"}, headers=h(tokens, "mag-a")
    )
    assert released.status_code == 200 and released.json()["status"] == "released"
    again = await client.post(
        f"/api/v1/holds/{hid}/release", json={"note": "again"}, headers=h(tokens, "mag-a")
    )
    assert again.status_code == 409
    gone = await client.get(f"/api/v1/holds/{hid}/reads", params=query, headers=h(tokens, "inv-a"))
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "hold_closed"


def test_the_service_is_built_by_the_node(node: Node) -> None:
    assert isinstance(node.holds, LegalHoldService)
    assert node.holds.max_days == node.config.holds.max_days == 1096
