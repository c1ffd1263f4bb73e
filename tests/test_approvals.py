"""Supervisors' approvals of wide searches: who asks and who decides, what an approval covers
through the policy gate, and what is audited; the service on a real store (SQLite and
PostgreSQL) and the API in-process."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest

from kruispunt.access.approvals import (
    ApprovalConflict,
    ApprovalForbidden,
    ApprovalInvalid,
    ApprovalNotFound,
    ApprovalService,
    ApprovalStatus,
    SearchApproval,
    coverage_problems,
)
from kruispunt.access.policy import Consultation, PolicyGate, PolicyRefused
from kruispunt.access.principals import Principal, Role
from kruispunt.api.app import create_app
from kruispunt.audit import AuditRecord, iter_audit, read_audit, verify_chain
from kruispunt.law.purpose import Purpose
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import on_both_engines
from tests.people import Clock, accounts, p

pytestmark = on_both_engines

HOUR = 3_600_000_000
DAY = 24 * HOUR
A, B = "pz5364", "pz5352"
CASE = "AN.12.LB.012345/2024"
REASON = "ANPR trail of the getaway car of the robbery in Turnhout on 3 May"
PARTIAL = "1-AB*"  # three known characters: fewer than the four of the BE caps


INV_A = p("inv-a", A, Role.INVESTIGATOR)
ANA_A = p("ana-a", A, Role.ANALYST)
OP_A = p("op-a", A, Role.OPERATOR)
CHIEF_A = p("chief-a", A, Role.ZONE_CHIEF)
CHIEF_B = p("chief-b", B, Role.ZONE_CHIEF)
INV_B = p("inv-b", B, Role.INVESTIGATOR)
MAG = p("mag", "network", Role.MAGISTRATE)
DPO = p("dpo", "network", Role.DPO)
AUDITOR = p("aud", "network", Role.AUDITOR)
ADMIN_U = p("adm", "network", Role.ADMIN)
PEOPLE = (INV_A, ANA_A, OP_A, CHIEF_A, CHIEF_B, INV_B, MAG, DPO, AUDITOR, ADMIN_U)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(node: Node) -> dict[str, str]:
    return accounts(node, PEOPLE)


@pytest.fixture
def approvals(node: Node, clock: Clock, tokens: dict[str, str]) -> ApprovalService:
    """The node's approvals and policy gate, on the test's clock."""
    assert isinstance(node.store, SqlStore)
    service = ApprovalService(
        node.store, node.writer, profile=node.law, clock=clock, plate_tokens=node.plate_tokens
    )
    node.approvals = service
    node.policy = PolicyGate(
        node.law, zones=node.grants, authorisations=node.authorisations, approvals=service,
        plate_tokens=node.plate_tokens, clock=clock,
    )  # fmt: skip
    return service


def search(now: int, **kw: Any) -> dict[str, Any]:
    """A search for a partial plate over the last two days (wide: too few known characters)."""
    fields: dict[str, Any] = {
        "purpose": "judicial_police",
        "case": CASE,
        "reason": REASON,
        "since_us": now - 2 * DAY,
        "until_us": now - HOUR,
        "plate_patterns": [PARTIAL],
    }
    fields.update(kw)
    return fields


def ask(service: ApprovalService, who: Principal = INV_A, **kw: Any) -> SearchApproval:
    return service.request(who, **search(service.now(), **kw))


def consult(fields: dict[str, Any], **kw: Any) -> Consultation:
    c: dict[str, Any] = {**fields, **kw}
    for key in ("plates", "plate_patterns", "cameras", "zones"):
        c[key] = tuple(c.get(key, ()))
    return Consultation(action="search.plate", **c)


def refusal(node: Node, who: Principal, c: Consultation) -> PolicyRefused:
    with pytest.raises(PolicyRefused) as exc:
        node.policy.decide(who, c)
    assert exc.value.code == "approval_required", exc.value.message
    return exc.value


def audit_of(node: Node, object_id: str | None = None) -> list[AuditRecord]:
    assert isinstance(node.store, SqlStore)
    return read_audit(node.store.reader(), object_type="approval", object_id=object_id)


# -- what an approval covers --------------------------------------------------------------------
def test_a_wide_search_runs_only_with_the_chiefs_approval(
    node: Node, approvals: ApprovalService, clock: Clock
) -> None:
    fields = search(clock.us)
    refused = refusal(node, INV_A, consult(fields))
    assert refused.status == 403
    assert refused.detail["problems"] == ["partial plate 1 has 3 known characters, fewer than 4"]

    asked = ask(approvals)
    assert asked.status is ApprovalStatus.REQUESTED and asked.case == CASE
    assert asked.problems == ("partial plate 1 has 3 known characters, fewer than 4",)
    mine = consult(fields, approval_id=asked.id)
    assert "not approved (yet)" in refusal(node, INV_A, mine).message

    approved = approvals.approve(asked.id, actor=CHIEF_A, note="known robbery, go ahead")
    assert approved.status is ApprovalStatus.APPROVED and approved.decided_by == "chief-a"
    assert approved.valid_until_us == clock.us + 24 * HOUR
    decision = node.policy.decide(INV_A, mine)
    assert decision.approval_id == asked.id and decision.complete
    # A narrower search is covered: part of the period, the case as written otherwise.
    narrower = consult(fields, approval_id=asked.id, since_us=clock.us - DAY,
                       case="an 12 lb 12345/24")  # fmt: skip
    assert node.policy.decide(INV_A, narrower).approval_id == asked.id
    # A wider or another search is not.
    for change, words in (
        ({"since_us": clock.us - 3 * DAY}, "period"),
        ({"plate_patterns": ["2-AB*"]}, "beyond the approved ones"),
        ({"plate_patterns": [], "cameras": ["pz5364-c001"]}, "reads every plate"),
        ({"case": "AN.12.LB.099999/2024"}, "another case"),
        ({"purpose": "serious_crime"}, "not serious_crime"),
    ):
        message = refusal(node, INV_A, consult(fields, approval_id=asked.id, **change)).message
        assert words in message, (change, message)
    # Another person cannot borrow it, not even a colleague of the zone.
    assert "another user" in refusal(node, ANA_A, mine).message
    assert "unknown approval" in refusal(node, INV_A, consult(fields, approval_id="ap-x")).message
    # It holds 24 hours from the approval.
    clock.us += 24 * HOUR - 1
    assert node.policy.decide(INV_A, mine).approval_id == asked.id
    clock.us += 1
    assert "is expired" in refusal(node, INV_A, mine).message


def test_a_long_period_needs_one_too(node: Node, approvals: ApprovalService, clock: Clock) -> None:
    now = clock.us
    fields = search(now, plate_patterns=[], plates=["1-ABC-123"], since_us=now - 20 * DAY,
                    until_us=now)  # fmt: skip
    assert "more than 14" in refusal(node, INV_A, consult(fields)).message
    asked = approvals.request(INV_A, **fields)
    approvals.approve(asked.id, actor=CHIEF_A)
    decision = node.policy.decide(INV_A, consult(fields, approval_id=asked.id))
    assert decision.approval_id == asked.id and decision.complete
    other_plate = consult(fields, approval_id=asked.id, plates=["2-XYZ-999"])
    assert "beyond the approved ones" in refusal(node, INV_A, other_plate).message


def test_refused_revoked_and_expired_approvals_cover_nothing(
    node: Node, approvals: ApprovalService, clock: Clock
) -> None:
    fields = search(clock.us)
    refused = ask(approvals)
    with pytest.raises(ApprovalInvalid):
        approvals.refuse(refused.id, actor=CHIEF_A, note=" ")
    done = approvals.refuse(refused.id, actor=CHIEF_A, note="use the full plate you have")
    assert done.status is ApprovalStatus.REFUSED and done.decision_note
    assert "is refused" in refusal(node, INV_A, consult(fields, approval_id=refused.id)).message
    with pytest.raises(ApprovalConflict):
        approvals.approve(refused.id, actor=CHIEF_A)

    withdrawn = ask(approvals)
    approvals.approve(withdrawn.id, actor=CHIEF_A)
    approvals.revoke(withdrawn.id, actor=INV_A, note="the witness remembered the plate")
    assert "is revoked" in refusal(node, INV_A, consult(fields, approval_id=withdrawn.id)).message
    by_chief = ask(approvals)
    approvals.approve(by_chief.id, actor=CHIEF_A)
    assert approvals.revoke(by_chief.id, actor=CHIEF_A, note="enough").revoked_by == "chief-a"
    with pytest.raises(ApprovalConflict):
        approvals.revoke(by_chief.id, actor=INV_A, note="again")

    lapsed = ask(approvals)  # nobody decided in time
    clock.us += 24 * HOUR
    assert approvals.get(lapsed.id, actor=INV_A).status is ApprovalStatus.EXPIRED
    with pytest.raises(ApprovalConflict):
        approvals.approve(lapsed.id, actor=CHIEF_A)
    assert "is expired" in refusal(node, INV_A, consult(fields, approval_id=lapsed.id)).message


def test_only_a_chief_of_the_requesters_zone_decides_and_attempts_are_audited(
    node: Node, approvals: ApprovalService
) -> None:
    asked = ask(approvals)
    for who in (CHIEF_B, INV_A, ANA_A, MAG, ADMIN_U, DPO):
        with pytest.raises(ApprovalForbidden) as exc:
            approvals.approve(asked.id, actor=who)
        assert exc.value.status == 403
    with pytest.raises(ApprovalForbidden):  # a chief of another zone may not revoke either
        approvals.revoke(asked.id, actor=CHIEF_B, note="not yours")
    attempts = [r for r in audit_of(node, asked.id) if r.action == "approval.forbidden"]
    actors = ["chief-b", "inv-a", "ana-a", "mag", "adm", "dpo", "chief-b"]
    assert [r.actor for r in attempts] == actors
    assert attempts[0].detail["attempted"] == "approval.approve"
    assert attempts[-1].detail["attempted"] == "approval.revoke"
    assert attempts[0].role == "zone_chief" and attempts[0].detail["zone"] == A
    assert approvals.get(asked.id, actor=CHIEF_A).status is ApprovalStatus.REQUESTED
    approvals.approve(asked.id, actor=CHIEF_A)
    with pytest.raises(ApprovalConflict):
        approvals.approve(asked.id, actor=CHIEF_A)
    with pytest.raises(ApprovalNotFound):
        approvals.approve("ap-nope", actor=CHIEF_A)


def test_bad_requests_are_refused(node: Node, approvals: ApprovalService, clock: Clock) -> None:
    for who in (CHIEF_A, MAG, DPO, ADMIN_U, p("mun", A, Role.MUNICIPALITY)):
        with pytest.raises(ApprovalForbidden):
            ask(approvals, who)
    with pytest.raises(ApprovalForbidden, match="only for"):  # an operator: not judicial
        ask(approvals, OP_A)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"purpose": "statistics"}, "invalid_approval", "purpose"),
        ({"case": "AN.12.LB.012345"}, "invalid_case", "Belgium"),
        ({"reason": "onderzoek lopend"}, "vague_reason", "reason"),
        ({"since_us": clock.us, "until_us": clock.us - DAY}, "invalid_approval", "period"),
        ({"plates": [" "]}, "invalid_approval", "plates"),
        ({"plate_patterns": ["**"]}, "invalid_approval", "plate_patterns"),
        ({"plate_patterns": ["1-ABC-1*"]}, "approval_not_needed", "needs no approval"),
    ]
    for fields, code, words in cases:
        with pytest.raises(ApprovalInvalid) as exc:
            ask(approvals, **fields)
        assert exc.value.code == code, (fields, exc.value.code)
        assert words in exc.value.message, (fields, exc.value.message)
    assert audit_of(node) == []
    assert ask(approvals, OP_A, purpose="missing_person").role is Role.OPERATOR


def test_who_sees_which_approvals(approvals: ApprovalService, clock: Clock) -> None:
    a1 = ask(approvals)
    clock.us += 1
    a2 = ask(approvals, ANA_A)
    clock.us += 1
    b1 = ask(approvals, INV_B)
    approvals.approve(a1.id, actor=CHIEF_A)

    def ids(who: Principal, **kw: Any) -> set[str]:
        return {a.id for a in approvals.list(who, **kw)}

    assert ids(INV_A) == {a1.id} and ids(ANA_A) == {a2.id} and ids(INV_B) == {b1.id}
    assert ids(CHIEF_A) == {a1.id, a2.id} and ids(CHIEF_B) == {b1.id}
    assert ids(CHIEF_A, status=ApprovalStatus.REQUESTED) == {a2.id}  # waiting for them
    for oversight in (DPO, AUDITOR):
        assert ids(oversight) == {a1.id, a2.id, b1.id}
    assert ids(AUDITOR, zone=B) == {b1.id}
    for nobody in (MAG, ADMIN_U, OP_A):
        assert ids(nobody) == set()
    assert [a.id for a in approvals.list(AUDITOR, limit=1)] == [b1.id]  # newest first
    clock.us += 24 * HOUR
    assert ids(AUDITOR, status=ApprovalStatus.EXPIRED) == {a1.id, a2.id, b1.id}
    assert ids(AUDITOR, status=ApprovalStatus.APPROVED) == set()
    assert approvals.get(a1.id, actor=CHIEF_A).status is ApprovalStatus.EXPIRED
    for stranger in (ANA_A, CHIEF_B, INV_B, MAG):
        with pytest.raises(ApprovalNotFound):
            approvals.get(a1.id, actor=stranger)


def test_every_step_is_audited_with_plates_as_tokens(
    node: Node, approvals: ApprovalService
) -> None:
    assert isinstance(node.store, SqlStore)
    asked = ask(approvals, plates=["1-ABC-123"] * 11 + [f"1-ABC-{n:03}" for n in range(11)])
    approvals.approve(asked.id, actor=CHIEF_A, note="ok")
    approvals.revoke(asked.id, actor=INV_A, note="found it")
    other = ask(approvals)
    approvals.refuse(other.id, actor=CHIEF_A, note="narrow it down first")
    request, approve, revoke = audit_of(node, asked.id)
    assert [r.action for r in (request, approve, revoke)] == [
        "approval.request", "approval.approve", "approval.revoke",
    ]  # fmt: skip
    assert [r.action for r in audit_of(node, other.id)] == ["approval.request", "approval.refuse"]
    assert (request.actor, request.role, approve.actor, approve.role) == (
        "inv-a", "investigator", "chief-a", "zone_chief",
    )  # fmt: skip
    for r in (request, approve, revoke):
        assert (r.purpose, r.case, r.reason) == ("judicial_police", CASE, REASON)
        assert r.scope is not None
        assert r.scope["plates"] == node.plate_tokens.scope(asked.plates)
        assert len(r.scope["plates"]) == 12 and r.scope["patterns"] == ["#-##*"]
        assert "1ABC" not in str(r.detail) + str(r.context)
        assert r.detail["requester"] == "inv-a" and r.detail["zone"] == A
    assert "12 plates, more than 10" in request.detail["problems"]
    assert approve.detail["status"] == "approved" and revoke.detail["note"] == "found it"
    assert verify_chain(iter_audit(node.store.reader())) is None


def test_the_node_wires_its_approvals_into_its_gate(node: Node) -> None:
    """The node as built (real clock, configured validity)."""
    assert node.approvals.valid_hours == node.config.access.approval_valid_hours == 24
    now = node.policy.now()
    fields = search(now)
    asked = node.approvals.request(INV_A, **fields)
    refusal(node, INV_A, consult(fields, approval_id=asked.id))
    node.approvals.approve(asked.id, actor=CHIEF_A)
    assert node.policy.decide(INV_A, consult(fields, approval_id=asked.id)).approval_id


def test_what_an_approval_covers() -> None:
    """The pure rule: a consultation no wider than the approved search."""
    approved = SearchApproval(
        id="ap-1", requester_id="inv-a", zone_id=A, role=Role.INVESTIGATOR,
        purpose=Purpose.JUDICIAL_POLICE, case=CASE, reason=REASON, since_us=100,
        until_us=200, cameras=("c1", "c2"), problems=("x",), requested_us=0,
        valid_until_us=10**18,
    )  # fmt: skip
    base = Consultation(action="search.place_time", purpose="judicial_police", case=CASE,
                        reason=REASON, since_us=100, until_us=200, cameras=("c1",))  # fmt: skip
    assert coverage_problems(approved, base, CASE) == []
    one_plate = msgspec.structs.replace(base, plates=("1ABC123",))
    assert coverage_problems(approved, one_plate, CASE) == []
    for change, words in (
        ({"cameras": ("c1", "c3")}, "cameras beyond"),
        ({"cameras": ()}, "reads them all"),
        ({"until_us": 201}, "period"),
        ({"since_us": 99}, "period"),
    ):
        problems = coverage_problems(approved, msgspec.structs.replace(base, **change), CASE)
        assert any(words in problem for problem in problems), (change, problems)
    assert coverage_problems(approved, base, None) == ["it was given for another case"]
    in_zone = msgspec.structs.replace(approved, cameras=(), zones=(A,))
    both = msgspec.structs.replace(base, zones=(A, B))
    assert coverage_problems(in_zone, both, CASE) == ["zones beyond the approved ones"]
    assert coverage_problems(in_zone, base, CASE) == [
        "the approved search names zones; this one reads them all"
    ]
    # An approved search without a camera restriction covers any cameras and zones.
    open_ = msgspec.structs.replace(approved, cameras=())
    wide = msgspec.structs.replace(base, cameras=("c9",), zones=(A, B))
    assert coverage_problems(open_, wide, CASE) == []


# -- the API ------------------------------------------------------------------------------------
@pytest.fixture
async def api(node: Node, approvals: ApprovalService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(node, manage_node=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kp") as c:
        yield c


def h(tokens: dict[str, str], user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user_id]}"}


def iso(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


async def test_the_api_from_request_to_revocation(
    api: httpx.AsyncClient, tokens: dict[str, str], approvals: ApprovalService, node: Node
) -> None:
    now = approvals.now()
    body = {
        "purpose": "judicial_police",
        "case": "an.12.lb.12345/2024",
        "reason": REASON,
        "since": iso(now - 2 * DAY),
        "until": iso(now - HOUR),
        "plate_patterns": [PARTIAL],
        "plates": ["1-xyz-999"],
    }
    resp = await api.post("/api/v1/approvals", json=body, headers=h(tokens, "inv-a"))
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["status"] == "requested" and made["live"] is False and made["case"] == CASE
    assert made["plates"] == ["1XYZ999"] and made["problems"]
    aid = made["id"]
    for who in ("chief-a", "adm"):  # the guard: neither consults reads
        resp = await api.post("/api/v1/approvals", json=body, headers=h(tokens, who))
        assert resp.status_code == 403, who
    for bad, code in (
        ({**body, "since": "2030-01-01T00:00:00"}, "invalid_approval"),
        ({**body, "extra": 1}, "invalid_approval"),
        ({**body, "reason": "test"}, "vague_reason"),
        ({**body, "plate_patterns": [], "plates": []} | {"cameras": ["pz5364-c001"],
          "since": iso(now - 2 * HOUR)}, "approval_not_needed"),
    ):  # fmt: skip
        resp = await api.post("/api/v1/approvals", json=bad, headers=h(tokens, "inv-a"))
        assert resp.status_code == 400 and resp.json()["error"]["code"] == code, resp.text

    waiting = await api.get(
        "/api/v1/approvals", params={"status": "requested"}, headers=h(tokens, "chief-a")
    )
    assert [a["id"] for a in waiting.json()] == [aid]
    assert (await api.get("/api/v1/approvals", headers=h(tokens, "chief-b"))).json() == []
    oversight = await api.get(f"/api/v1/approvals/{aid}", headers=h(tokens, "dpo"))
    assert oversight.json()["plates"] is None and oversight.json()["plate_patterns"] == ["#-##*"]
    for who in ("ana-a", "chief-b"):
        resp = await api.get(f"/api/v1/approvals/{aid}", headers=h(tokens, who))
        assert resp.status_code == 404, who
    resp = await api.get("/api/v1/approvals", headers=h(tokens, "mag"))
    assert resp.status_code == 403
    resp = await api.get("/api/v1/approvals", params={"limit": "0"}, headers=h(tokens, "inv-a"))
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_query"

    for who in ("chief-b", "inv-a", "adm"):
        resp = await api.post(f"/api/v1/approvals/{aid}/approve", headers=h(tokens, who))
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden", who
    resp = await api.post(
        f"/api/v1/approvals/{aid}/approve", json={"note": "go"}, headers=h(tokens, "chief-a")
    )
    assert resp.status_code == 200 and resp.json()["status"] == "approved"
    assert resp.json()["live"] is True and resp.json()["decided_by"] == "chief-a"
    again = await api.post(
        f"/api/v1/approvals/{aid}/refuse", json={"note": "no"}, headers=h(tokens, "chief-a")
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "approval_closed"
    resp = await api.post(f"/api/v1/approvals/{aid}/revoke", headers=h(tokens, "inv-a"))
    assert resp.status_code == 400  # say why
    resp = await api.post(
        f"/api/v1/approvals/{aid}/revoke", json={"note": "found the car"},
        headers=h(tokens, "inv-a"),
    )  # fmt: skip
    assert resp.status_code == 200 and resp.json()["status"] == "revoked"
    missing = await api.post(
        "/api/v1/approvals/ap-nope/refuse", json={"note": "no"}, headers=h(tokens, "chief-a")
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_approval"
    actions = [r.action for r in audit_of(node, aid)]
    assert actions == ["approval.request", *["approval.forbidden"] * 3, "approval.approve",
                       "approval.revoke"]  # fmt: skip
