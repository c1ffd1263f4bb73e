"""Cross-zone grants: need-to-know access to another zone's reads, approved by that zone's
chief, limited in time, audited at every step; the service on a real store (SQLite and
PostgreSQL) and the API in-process."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kruispunt.access.grants import (
    Grant,
    GrantConflict,
    GrantForbidden,
    GrantInvalid,
    GrantNotFound,
    GrantService,
    GrantStatus,
)
from kruispunt.access.principals import Principal, Role
from kruispunt.api import grants as grants_api
from kruispunt.api.app import create_app
from kruispunt.audit import iter_audit, read_audit, verify_chain
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import on_both_engines
from tests.people import Clock, accounts, p

pytestmark = on_both_engines

HOUR = 3_600_000_000
DAY = 24 * HOUR
A, B, C = "pz5364", "pz5352", "pz5369"  # requester's zone, data zone, a third zone
REASON = "ANPR trail of the getaway car of the robbery in Turnhout on 3 May"


INV_A = p("inv-a", A, Role.INVESTIGATOR)
ANALYST_A = p("ana-a", A, Role.ANALYST)
CHIEF_A = p("chief-a", A, Role.ZONE_CHIEF)
CHIEF_B = p("chief-b", B, Role.ZONE_CHIEF)
CHIEF_C = p("chief-c", C, Role.ZONE_CHIEF)
OP_B = p("op-b", B, Role.OPERATOR)
ADMIN_U = p("adm", "network", Role.ADMIN)
AUDITOR = p("aud", "network", Role.AUDITOR)
DPO = p("dpo", "network", Role.DPO)
PEOPLE = (INV_A, ANALYST_A, CHIEF_A, CHIEF_B, CHIEF_C, OP_B, ADMIN_U, AUDITOR, DPO)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(node: Node) -> dict[str, str]:
    """The people of these tests as users of the node, with their API tokens."""
    return accounts(node, PEOPLE)


@pytest.fixture
def grants(node: Node, clock: Clock, tokens: dict[str, str]) -> GrantService:
    assert isinstance(node.store, SqlStore)
    service = GrantService(
        node.store, node.writer, zone_ids=node.network_zone_ids, clock=clock,
        cameras=node.registry,
    )  # fmt: skip
    node.grants = service  # type: ignore[attr-defined]
    return service


def ask(service: GrantService, who: Principal = INV_A, **kw: Any) -> Grant:
    now = service.now()
    fields: dict[str, Any] = {
        "data_zone": B,
        "purpose": "judicial_police",
        "case": "TU.12.LB.001234/25",
        "reason": REASON,
        "valid_until_us": now + 2 * DAY,
    }
    fields.update(kw)
    return service.request(who, **fields)


def audit_of(node: Node, grant_id: str | None = None) -> list[Any]:
    assert isinstance(node.store, SqlStore)
    return read_audit(node.store.reader(), object_type="grant", object_id=grant_id)


# -- the life of a grant ---------------------------------------------------------------------
def test_an_approved_grant_opens_the_zone_to_the_grantee_for_its_validity_only(
    grants: GrantService, clock: Clock
) -> None:
    start = clock.us + HOUR
    grant = ask(grants, valid_from_us=start, valid_until_us=start + 2 * DAY)
    assert grant.status is GrantStatus.REQUESTED and grant.grantee_id == "inv-a"
    assert grants.visible_zones(INV_A, start + 1) == {A}  # asked, not approved
    assert grants.grants_for("inv-a", B, start + 1) == []

    approved = grants.approve(grant.id, actor=CHIEF_B, note="ok, case known to us")
    assert approved.status is GrantStatus.APPROVED and approved.decided_by == "chief-b"
    assert grants.visible_zones(INV_A, start - 1) == {A}  # not valid yet
    assert grants.visible_zones(INV_A, start) == {A, B}
    assert [g.id for g in grants.grants_for("inv-a", B, start + DAY)] == [grant.id]
    assert grants.grants_for("inv-a", C, start + DAY) == []
    assert grants.visible_zones(INV_A, start + 2 * DAY - 1) == {A, B}
    assert grants.visible_zones(INV_A, start + 2 * DAY) == {A}  # the end is exclusive
    assert grants.grants_for("inv-a", B, start + 2 * DAY) == []
    # Need-to-know: a named user, not the requester's zone.
    assert grants.visible_zones(ANALYST_A, start + DAY) == {A}
    assert grants.visible_zones(CHIEF_A, start + DAY) == {A}
    # The holder counts only in the zone and role they had: a principal of another zone
    # (or role) carrying the same user id gets nothing.
    assert grants.visible_zones(p("inv-a", C, Role.INVESTIGATOR), start + DAY) == {C}
    assert grants.visible_zones(p("inv-a", A, Role.ZONE_CHIEF), start + DAY) == {A}


def test_a_grant_for_a_named_colleague(grants: GrantService, clock: Clock) -> None:
    grant = ask(grants, grantee_id="ana-a")
    grants.approve(grant.id, actor=CHIEF_B)
    assert grants.visible_zones(ANALYST_A, clock.us) == {A, B}
    assert grants.visible_zones(INV_A, clock.us) == {A}
    for bad in ("chief-a", "op-b", "nobody"):  # a chief, another zone, no such user
        with pytest.raises(GrantInvalid) as exc:
            ask(grants, grantee_id=bad)
        assert exc.value.code == "invalid_grantee"


def test_only_a_chief_of_the_data_zone_approves_and_every_other_attempt_is_audited(
    grants: GrantService, node: Node, clock: Clock
) -> None:
    grant = ask(grants)
    # A chief of a third zone, the requester's own chief, the requester, an admin (no
    # single admin switches access on), the oversight roles, the data zone's operator.
    for who in (CHIEF_C, CHIEF_A, INV_A, ADMIN_U, AUDITOR, DPO, OP_B):
        with pytest.raises(GrantForbidden) as exc:
            grants.approve(grant.id, actor=who, note="let me in")
        assert exc.value.status == 403
        with pytest.raises(GrantForbidden):
            grants.refuse(grant.id, actor=who, note="no")
    assert grants.get(grant.id, actor=AUDITOR).status is GrantStatus.REQUESTED
    assert grants.visible_zones(INV_A, clock.us) == {A}
    attempts = [r for r in audit_of(node, grant.id) if r.action == "grant.forbidden"]
    assert len(attempts) == 14
    admin_try = next(r for r in attempts if r.actor == "adm")
    assert admin_try.detail["attempted"] == "grant.approve"
    assert admin_try.role == "admin" and admin_try.actor_zone == "network"
    assert admin_try.detail["data_zone"] == B and admin_try.detail["status"] == "requested"
    # The chief of the data zone can, once.
    grants.approve(grant.id, actor=CHIEF_B, note="")
    with pytest.raises(GrantConflict):
        grants.approve(grant.id, actor=CHIEF_B)
    with pytest.raises(GrantNotFound):
        grants.approve("gr-does-not-exist", actor=CHIEF_B)


def test_admins_and_the_network_role_have_no_blanket_access(
    grants: GrantService, clock: Clock
) -> None:
    grants.approve(ask(grants).id, actor=CHIEF_B)
    for who in (ADMIN_U, AUDITOR, DPO, p("net", "network", Role.ANALYST)):
        assert grants.visible_zones(who, clock.us) == {"network"}
        with pytest.raises(GrantForbidden):
            ask(grants, who)
    for role in (Role.ZONE_CHIEF, Role.MAGISTRATE, Role.MUNICIPALITY, Role.AUDITOR):
        with pytest.raises(GrantForbidden):
            ask(grants, p("x", A, role))


def test_revoked_and_expired_grants_give_nothing(
    grants: GrantService, node: Node, clock: Clock
) -> None:
    revoked = ask(grants)
    grants.approve(revoked.id, actor=CHIEF_B)
    with pytest.raises(GrantForbidden):  # only the data zone's chief or the requester
        grants.revoke(revoked.id, actor=CHIEF_C, note="not mine to revoke")
    with pytest.raises(GrantInvalid):
        grants.revoke(revoked.id, actor=CHIEF_B, note=" ")
    done = grants.revoke(revoked.id, actor=CHIEF_B, note="case closed")
    assert done.status is GrantStatus.REVOKED and done.revoked_by == "chief-b"
    assert grants.visible_zones(INV_A, clock.us) == {A}
    assert grants.grants_for("inv-a", B, clock.us) == []
    with pytest.raises(GrantConflict):
        grants.approve(revoked.id, actor=CHIEF_B)

    withdrawn = ask(grants)  # the requester withdraws a pending request
    assert grants.revoke(withdrawn.id, actor=INV_A, note="no longer needed").status == "revoked"

    expiring = ask(grants, valid_until_us=clock.us + HOUR)
    grants.approve(expiring.id, actor=CHIEF_B)
    pending = ask(grants, valid_until_us=clock.us + HOUR)
    assert grants.visible_zones(INV_A, clock.us) == {A, B}
    clock.us += HOUR
    # Time alone ends access: nothing needs to run.
    assert grants.visible_zones(INV_A, clock.us) == {A}
    assert grants.get(expiring.id, actor=INV_A).status is GrantStatus.EXPIRED
    with pytest.raises(GrantConflict):
        grants.approve(pending.id, actor=CHIEF_B)
    with pytest.raises(GrantConflict):
        grants.revoke(expiring.id, actor=CHIEF_B, note="too late")
    # expire_due records it (once) and audits it.
    recorded = grants.expire_due()
    assert sorted(g.id for g in recorded) == sorted([expiring.id, pending.id])
    assert grants.expire_due() == []
    expired = [r for r in audit_of(node) if r.action == "grant.expire"]
    assert {r.object_id for r in expired} == {expiring.id, pending.id}
    assert {r.detail["was"] for r in expired} == {"approved", "requested"}
    assert all(r.actor == "system" and r.case == "TU.12.LB.001234/25" for r in expired)


def test_a_chief_refuses_with_a_reason(grants: GrantService, clock: Clock) -> None:
    grant = ask(grants)
    with pytest.raises(GrantInvalid):
        grants.refuse(grant.id, actor=CHIEF_B, note="")
    refused = grants.refuse(grant.id, actor=CHIEF_B, note="no link with our zone")
    assert refused.status is GrantStatus.REFUSED
    assert refused.decision_note == "no link with our zone"
    with pytest.raises(GrantConflict):
        grants.approve(grant.id, actor=CHIEF_B)
    with pytest.raises(GrantConflict):
        grants.revoke(grant.id, actor=INV_A, note="withdraw")
    assert grants.visible_zones(INV_A, clock.us) == {A}


def test_approval_may_shorten_the_validity_never_lengthen_it(
    grants: GrantService, clock: Clock
) -> None:
    grant = ask(grants, valid_until_us=clock.us + 2 * DAY)
    with pytest.raises(GrantInvalid):
        grants.approve(grant.id, actor=CHIEF_B, valid_until_us=clock.us + 3 * DAY)
    approved = grants.approve(grant.id, actor=CHIEF_B, valid_until_us=clock.us + DAY)
    assert approved.valid_until_us == clock.us + DAY
    assert grants.visible_zones(INV_A, clock.us + DAY) == {A}


def test_bad_requests_are_refused(grants: GrantService, node: Node, clock: Clock) -> None:
    now = clock.us
    cases: list[tuple[dict[str, Any], str]] = [
        ({"purpose": " "}, "purpose"),
        ({"case": ""}, "case"),
        ({"reason": "because"}, "reason"),
        ({"data_zone": A}, "own zone"),
        ({"data_zone": "network"}, "unknown zone"),
        ({"data_zone": "pz0000"}, "unknown zone"),
        ({"valid_until_us": now + 31 * DAY}, "at most 30 days"),
        ({"valid_until_us": now}, "after valid_from"),
        ({"valid_from_us": now - DAY}, "in the past"),
        ({"valid_from_us": now + 40 * DAY, "valid_until_us": now + 41 * DAY}, "ahead"),
        ({"cameras": ["pz5364-c001"]}, "not a camera of"),  # the requester's own camera
        ({"cameras": ["nope"]}, "not a camera of"),
        ({"plates": ["--"]}, "plates"),
    ]
    for fields, words in cases:
        with pytest.raises(GrantInvalid) as exc:
            ask(grants, **fields)
        assert words in exc.value.message, (fields, exc.value.message)
    with pytest.raises(GrantInvalid) as exc:
        ask(grants, data_zone="pz0000")
    assert exc.value.code == "unknown_zone"
    assert grants.list(AUDITOR) == []
    assert audit_of(node) == []
    # A scope within the data zone is fine; plates are kept normalised, never audited.
    scoped = ask(grants, cameras=["pz5352-c001"], plates=["1-abc-123", "1ABC123"])
    assert scoped.cameras == ("pz5352-c001",) and scoped.plates == ("1ABC123",)
    (record,) = audit_of(node, scoped.id)
    assert record.scope == {"zones": [B], "cameras": ["pz5352-c001"], "plate_count": 1}
    assert "1ABC123" not in str(record.detail) + str(record.context)


def test_a_law_check_can_refuse_a_request(node: Node, clock: Clock, tokens: Any) -> None:
    assert isinstance(node.store, SqlStore)
    seen: list[tuple[str, str, str]] = []

    def law(purpose: str, case: str, reason: str) -> list[str]:
        seen.append((purpose, case, reason))
        return [] if purpose == "judicial_police" else [f"purpose: {purpose!r} is not one"]

    service = GrantService(
        node.store, node.writer, zone_ids=node.network_zone_ids, clock=clock, validate=law
    )
    with pytest.raises(GrantInvalid, match="is not one"):
        ask(service, purpose="statistics")
    assert ask(service).status is GrantStatus.REQUESTED
    assert seen[-1] == ("judicial_police", "TU.12.LB.001234/25", REASON)


def test_who_sees_which_grants(grants: GrantService, clock: Clock) -> None:
    a_to_b = ask(grants)
    clock.us += 1
    a_to_c = ask(grants, ANALYST_A, data_zone=C)
    clock.us += 1
    b_to_c = ask(grants, OP_B, data_zone=C)
    grants.approve(a_to_b.id, actor=CHIEF_B)

    def ids(who: Principal, **kw: Any) -> set[str]:
        return {g.id for g in grants.list(who, **kw)}

    everything = {a_to_b.id, a_to_c.id, b_to_c.id}
    for oversight in (AUDITOR, DPO, ADMIN_U):
        assert ids(oversight) == everything
    assert ids(CHIEF_A) == {a_to_b.id, a_to_c.id}  # of their zone
    assert ids(CHIEF_B) == {a_to_b.id, b_to_c.id}  # of and for their zone
    assert ids(CHIEF_C) == {a_to_c.id, b_to_c.id}  # for their zone
    assert ids(INV_A) == {a_to_b.id}  # their own only
    assert ids(ANALYST_A) == {a_to_c.id}
    assert ids(OP_B) == {b_to_c.id}
    assert ids(p("mun", A, Role.MUNICIPALITY)) == set()
    # Filters.
    assert ids(AUDITOR, zone=C) == {a_to_c.id, b_to_c.id}
    assert ids(AUDITOR, status=GrantStatus.APPROVED) == {a_to_b.id}
    assert ids(AUDITOR, status=GrantStatus.REQUESTED) == {a_to_c.id, b_to_c.id}
    clock.us += 3 * DAY
    assert ids(AUDITOR, status=GrantStatus.EXPIRED) == everything
    assert ids(AUDITOR, status=GrantStatus.REQUESTED) == set()
    assert {g.status for g in grants.list(AUDITOR)} == {GrantStatus.EXPIRED}
    assert [g.id for g in grants.list(AUDITOR, limit=1)] == [b_to_c.id]  # newest first
    # One grant: only for those who may see it.
    assert grants.get(a_to_b.id, actor=CHIEF_B).id == a_to_b.id
    for stranger in (CHIEF_C, ANALYST_A, OP_B):
        with pytest.raises(GrantNotFound):
            grants.get(a_to_b.id, actor=stranger)


def test_every_step_is_audited_and_the_chain_holds(grants: GrantService, node: Node) -> None:
    assert isinstance(node.store, SqlStore)
    first = ask(grants)
    grants.approve(first.id, actor=CHIEF_B, note="known case")
    with pytest.raises(GrantForbidden):
        grants.approve(first.id, actor=ADMIN_U)
    grants.revoke(first.id, actor=INV_A, note="suspect arrested")
    second = ask(grants, data_zone=C, valid_until_us=grants.now() + HOUR)
    grants.refuse(second.id, actor=CHIEF_C, note="not in our zone")
    third = ask(grants, valid_until_us=grants.now() + HOUR)
    grants.expire_due(grants.now() + HOUR)

    assert [r.action for r in audit_of(node, first.id)] == [
        "grant.request", "grant.approve", "grant.forbidden", "grant.revoke",
    ]  # fmt: skip
    assert [r.action for r in audit_of(node, second.id)] == ["grant.request", "grant.refuse"]
    assert [r.action for r in audit_of(node, third.id)] == ["grant.request", "grant.expire"]
    request, approve, _, revoke = audit_of(node, first.id)
    for record in (request, approve, revoke):
        assert record.object_type == "grant"
        assert record.purpose == "judicial_police"
        assert record.case == "TU.12.LB.001234/25"
        assert record.reason == REASON
        assert record.detail["data_zone"] == B and record.detail["requester_zone"] == A
        assert record.detail["grantee"] == "inv-a"
        assert record.detail["valid_until_us"] == first.valid_until_us
    assert (request.actor, request.actor_zone, request.role) == ("inv-a", A, "investigator")
    assert (approve.actor, approve.actor_zone, approve.role) == ("chief-b", B, "zone_chief")
    assert approve.detail["status"] == "approved" and approve.detail["note"] == "known case"
    assert revoke.detail["status"] == "revoked" and revoke.detail["note"] == "suspect arrested"
    assert verify_chain(iter_audit(node.store.reader())) is None
    # Grants per data zone, as the transparency report counts them.
    approved = [r.detail["data_zone"] for r in audit_of(node) if r.action == "grant.approve"]
    assert approved == [B]


# -- the API ----------------------------------------------------------------------------------
@pytest.fixture
async def api(node: Node, grants: GrantService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(node, manage_node=False)
    app.include_router(grants_api.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kp") as c:
        yield c


def h(tokens: dict[str, str], user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user_id]}"}


def iso(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


async def test_the_api_from_request_to_revocation(
    api: httpx.AsyncClient, tokens: dict[str, str], grants: GrantService, node: Node
) -> None:
    body = {
        "data_zone": B,
        "purpose": "judicial_police",
        "case": "TU.12.LB.001234/25",
        "reason": REASON,
        "valid_until": iso(grants.now() + DAY),
    }
    resp = await api.post("/api/v1/grants", json=body, headers=h(tokens, "inv-a"))
    assert resp.status_code == 201, resp.text
    grant = resp.json()
    assert grant["status"] == "requested" and grant["live"] is False
    assert grant["grantee_id"] == "inv-a" and grant["requester_zone"] == A
    gid = grant["id"]
    # Who may not request: a chief, an admin (the guard).
    for who in ("chief-a", "adm"):
        resp = await api.post("/api/v1/grants", json=body, headers=h(tokens, who))
        assert resp.status_code == 403
    bad = await api.post(
        "/api/v1/grants", json={**body, "reason": "short"}, headers=h(tokens, "inv-a")
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_grant"
    naive = await api.post(
        "/api/v1/grants", json={**body, "valid_until": "2030-01-01T00:00:00"},
        headers=h(tokens, "inv-a"),
    )  # fmt: skip
    assert naive.status_code == 400
    unknown = await api.post(
        "/api/v1/grants", json={**body, "data_zone": "pz0000"}, headers=h(tokens, "inv-a")
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_zone"

    # The admin, a chief of another zone and the requester cannot approve (audited).
    for who in ("adm", "chief-c", "inv-a"):
        resp = await api.post(
            f"/api/v1/grants/{gid}/approve", json={"note": "x"}, headers=h(tokens, who)
        )
        assert resp.status_code == 403, who
        assert resp.json()["error"]["code"] == "forbidden"
    forbidden = [r.actor for r in audit_of(node, gid) if r.action == "grant.forbidden"]
    assert forbidden == ["adm", "chief-c", "inv-a"]

    resp = await api.post(f"/api/v1/grants/{gid}/approve", headers=h(tokens, "chief-b"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "approved" and resp.json()["live"] is True
    assert grants.visible_zones(INV_A) == {A, B}
    again = await api.post(f"/api/v1/grants/{gid}/approve", headers=h(tokens, "chief-b"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "grant_closed"

    # Reading: the requester and the chiefs concerned; not a stranger (404, no probing).
    for who in ("inv-a", "chief-a", "chief-b", "aud", "dpo", "adm"):
        resp = await api.get(f"/api/v1/grants/{gid}", headers=h(tokens, who))
        assert resp.status_code == 200 and resp.json()["id"] == gid, who
    for who in ("ana-a", "chief-c", "op-b"):
        resp = await api.get(f"/api/v1/grants/{gid}", headers=h(tokens, who))
        assert resp.status_code == 404, who
    listed = await api.get("/api/v1/grants", headers=h(tokens, "chief-b"))
    assert [g["id"] for g in listed.json()] == [gid]
    assert (await api.get("/api/v1/grants", headers=h(tokens, "chief-c"))).json() == []
    filtered = await api.get(
        "/api/v1/grants", params={"status": "refused"}, headers=h(tokens, "aud")
    )
    assert filtered.status_code == 200 and filtered.json() == []
    wrong = await api.get("/api/v1/grants", params={"status": "maybe"}, headers=h(tokens, "aud"))
    assert wrong.status_code == 400

    # Revoking needs a note; the requester withdraws.
    resp = await api.post(f"/api/v1/grants/{gid}/revoke", headers=h(tokens, "inv-a"))
    assert resp.status_code == 400
    resp = await api.post(
        f"/api/v1/grants/{gid}/revoke", json={"note": "done"}, headers=h(tokens, "inv-a")
    )
    assert resp.status_code == 200 and resp.json()["status"] == "revoked"
    assert resp.json()["live"] is False and resp.json()["revoked_by"] == "inv-a"
    assert grants.visible_zones(INV_A) == {A}
    missing = await api.post(
        "/api/v1/grants/gr-nope/refuse", json={"note": "no"}, headers=h(tokens, "chief-b")
    )
    assert missing.status_code == 404


async def test_the_api_refuses_a_request(
    api: httpx.AsyncClient, tokens: dict[str, str], grants: GrantService
) -> None:
    gid = ask(grants).id
    resp = await api.post(
        f"/api/v1/grants/{gid}/refuse",
        json={"note": "no link with our zone", "valid_until": iso(grants.now() + HOUR)},
        headers=h(tokens, "chief-b"),
    )
    assert resp.status_code == 400  # a validity belongs to an approval only
    resp = await api.post(
        f"/api/v1/grants/{gid}/refuse",
        json={"note": "no link with our zone"},
        headers=h(tokens, "chief-b"),
    )
    assert resp.status_code == 200 and resp.json()["status"] == "refused"
    assert resp.json()["decision_note"] == "no link with our zone"
    assert grants.visible_zones(INV_A) == {A}
