"""Prosecutors' (and senior officers') authorisations: who records and revokes them, who sees
them, what is audited, and what they open through the policy gate; the service on a real
store (SQLite and PostgreSQL) and the API in-process."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest

from kruispunt.access.authorisations import (
    AuthorisationConflict,
    AuthorisationForbidden,
    AuthorisationInvalid,
    AuthorisationNotFound,
    AuthorisationService,
    AuthorisationStatus,
    RecordedAuthorisation,
)
from kruispunt.access.policy import Consultation, Decision, PolicyGate, PolicyRefused
from kruispunt.access.principals import Principal, Role
from kruispunt.api.app import create_app
from kruispunt.audit import AuditRecord, iter_audit, read_audit, verify_chain
from kruispunt.law.decide import AuthorisationKind, RefusalCode
from kruispunt.law.profiles import JurisdictionProfile, profile
from kruispunt.node import Node
from kruispunt.store.sql import SqlStore
from tests.conftest import on_both_engines
from tests.people import Clock, accounts, p

pytestmark = on_both_engines

HOUR = 3_600_000_000
DAY = 24 * HOUR
A, B = "pz5364", "pz5352"
CASE = "AN.12.LB.012345/2024"
GROUNDS = "Armed robbery of the jeweller in Turnhout on 3 May 2024; the getaway car was seen"
REASON = "ANPR trail of the getaway car of the robbery in Turnhout on 3 May"
PLATE = "1-ABC-123"


MAG = p("mag", "network", Role.MAGISTRATE)
CHIEF_A = p("chief-a", A, Role.ZONE_CHIEF)
CHIEF_B = p("chief-b", B, Role.ZONE_CHIEF)
INV_A = p("inv-a", A, Role.INVESTIGATOR)
ANA_A = p("ana-a", A, Role.ANALYST)
OP_A = p("op-a", A, Role.OPERATOR)
INV_B = p("inv-b", B, Role.INVESTIGATOR)
DPO = p("dpo", "network", Role.DPO)
AUDITOR = p("aud", "network", Role.AUDITOR)
ADMIN_U = p("adm", "network", Role.ADMIN)
PEOPLE = (MAG, CHIEF_A, CHIEF_B, INV_A, ANA_A, OP_A, INV_B, DPO, AUDITOR, ADMIN_U)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(node: Node) -> dict[str, str]:
    return accounts(node, PEOPLE)


def service_for(node: Node, clock: Clock, law: JurisdictionProfile) -> AuthorisationService:
    assert isinstance(node.store, SqlStore)
    return AuthorisationService(
        node.store, node.writer, profile=law, zone_ids=node.network_zone_ids, clock=clock,
        cameras=node.registry, plate_tokens=node.plate_tokens,
    )  # fmt: skip


@pytest.fixture
def auths(node: Node, clock: Clock, tokens: dict[str, str]) -> AuthorisationService:
    """The node's authorisations and policy gate, on the test's clock."""
    service = service_for(node, clock, node.law)
    node.authorisations = service
    node.policy = PolicyGate(
        node.law, zones=node.grants, authorisations=service, approvals=node.approvals,
        plate_tokens=node.plate_tokens, clock=clock,
    )  # fmt: skip
    return service


def record(service: AuthorisationService, who: Principal = MAG, **kw: Any) -> RecordedAuthorisation:
    now = service.now()
    fields: dict[str, Any] = {
        "kind": AuthorisationKind.PROSECUTOR,
        "reference": "PARKET-AN-2024-0815",
        "grounds": GROUNDS,
        "case": "an.12.lb.12345/2024",
        "zone": A,
        "valid_until_us": now + 30 * DAY,
        "plates": [PLATE],
    }
    fields.update(kw)
    return service.record(who, **fields)


def consult(now: int, **kw: Any) -> Consultation:
    """An investigator's plate search over reads 27 to 40 days old (BE: the first month is
    open, the rest needs the prosecutor)."""
    fields: dict[str, Any] = {
        "action": "search.plate",
        "purpose": "judicial_police",
        "case": CASE,
        "reason": REASON,
        "since_us": now - 40 * DAY,
        "until_us": now - 27 * DAY,
        "plates": (PLATE,),
    }
    fields.update(kw)
    return Consultation(**fields)


def cut(decision: Decision) -> list[RefusalCode]:
    return [r.code for r in decision.access.refused]


def audit_of(node: Node, object_id: str | None = None) -> list[AuditRecord]:
    assert isinstance(node.store, SqlStore)
    return read_audit(node.store.reader(), object_type="authorisation", object_id=object_id)


# -- what an authorisation opens ----------------------------------------------------------------
def test_a_prosecutor_authorisation_opens_the_reads_after_the_first_month(
    node: Node, auths: AuthorisationService, clock: Clock
) -> None:
    now = clock.us
    without = node.policy.decide(INV_A, consult(now))
    assert cut(without) == [RefusalCode.AUTHORISATION_REQUIRED]
    assert without.spans() == [(now - 30 * DAY + 1, now - 27 * DAY)]  # the first month only
    with pytest.raises(PolicyRefused) as exc:  # all of it past the first month: nothing
        node.policy.decide(INV_A, consult(now, until_us=now - 31 * DAY))
    assert exc.value.code == "nothing_readable"

    auth = record(auths)
    assert auth.case == CASE and auth.issued_by == "mag" and auth.zone_id == A
    assert auth.scope.plates == ("1ABC123",)
    opened = node.policy.decide(INV_A, consult(now))
    assert opened.complete and opened.spans() == [(now - 40 * DAY, now - 27 * DAY)]
    assert {w.authorisation for w in opened.access.windows} == {None, "PARKET-AN-2024-0815"}
    # The case is compared normalised; an analyst of the zone is served too.
    assert node.policy.decide(ANA_A, consult(now, case="AN 12 LB 12345/24")).complete
    # Administrative police never reads past the first month, authorised or not.
    admin_police = node.policy.decide(INV_A, consult(now, purpose="administrative_police"))
    assert cut(admin_police) == [RefusalCode.PURPOSE_NOT_ALLOWED]


def test_what_does_not_open_them(node: Node, auths: AuthorisationService, clock: Clock) -> None:
    now = clock.us

    def still_cut(**kw: Any) -> dict[str, str]:
        """The search is still cut; what the gate said of each authorisation it set aside."""
        decision = node.policy.decide(INV_A, consult(clock.us, **kw))
        assert cut(decision) == [RefusalCode.AUTHORISATION_REQUIRED], kw
        return {i.reference: i.problem for i in decision.access.ignored}

    other_case = record(auths, case="AN.12.LB.099999/2024", reference="P-1")
    assert still_cut() == {}  # another case's authorisation is not even considered
    record(auths, reference="P-2", plates=["2-XYZ-999"])
    assert "does not cover 1 of the query's plates" in still_cut()["P-2"]
    record(auths, reference="P-3", plates=[], cameras=["pz5352-c001"])
    assert "limited to some cameras or zones" in still_cut()["P-3"]  # the query reads them all
    record(auths, reference="P-4", data_until_us=now - 200 * DAY)
    assert still_cut()["P-4"] == "its data period does not reach these reads"
    revoked = record(auths, reference="P-5")
    assert node.policy.decide(INV_A, consult(now)).complete
    auths.revoke(revoked.id, actor=MAG, note="the suspect was identified otherwise")
    assert "P-5" not in still_cut()
    record(auths, reference="P-6", valid_until_us=now + HOUR)
    assert node.policy.decide(INV_A, consult(now)).complete
    clock.us += HOUR
    assert still_cut()["P-6"] == "expired"
    not_yet = record(auths, reference="P-7", valid_from_us=clock.us + DAY)
    assert still_cut()["P-7"] == "not valid yet"
    clock.us += DAY
    assert node.policy.decide(INV_A, consult(clock.us)).complete
    auths.revoke(not_yet.id, actor=CHIEF_A, note="case closed by the prosecutor")
    assert set(still_cut()) == {"P-2", "P-3", "P-4", "P-6"}
    # Nobody can put an authorisation in their own name: not a chief transcribing in theirs,
    # nor in the investigator's (a user of the node who is no magistrate).
    with pytest.raises(AuthorisationForbidden):
        record(auths, CHIEF_A, reference="P-8", issued_by="chief-a")
    with pytest.raises(AuthorisationInvalid) as exc:
        record(auths, CHIEF_A, reference="P-8", issued_by="inv-a")
    assert exc.value.code == "invalid_issuer"
    with pytest.raises(AuthorisationForbidden):
        record(auths, INV_A, reference="P-8")
    still_cut()
    assert other_case.case == "AN.12.LB.099999/2024"


def test_a_transcribed_decision_opens_them_too(
    node: Node, auths: AuthorisationService, clock: Clock
) -> None:
    # A chief transcribes the written decision: the magistrate, as a user or by name.
    by_user = record(auths, CHIEF_A, issued_by="mag", reference="P-10")
    assert (by_user.issued_by, by_user.recorded_by, by_user.recorded_role) == (
        "mag", "chief-a", Role.ZONE_CHIEF,
    )  # fmt: skip
    by_name = record(
        auths, CHIEF_A, issued_by="Procureur des Konings  J. Peeters", reference="P-11"
    )
    assert by_name.issued_by == "Procureur des Konings J. Peeters"
    decision = node.policy.decide(INV_A, consult(clock.us))
    assert decision.complete
    (used,) = {w.authorisation for w in decision.access.windows if w.authorisation}
    (ignored,) = decision.access.ignored  # one is enough
    assert {used, ignored.reference} == {"P-10", "P-11"}
    assert ignored.problem == "another authorisation already opens these reads"


def test_the_uk_senior_officer_and_the_dutch_order_for_one_query(
    node: Node, clock: Clock, tokens: dict[str, str]
) -> None:
    now = clock.us
    uk = service_for(node, clock, profile("UK"))
    gate = PolicyGate(profile("UK"), zones=node.grants, authorisations=uk, clock=clock)
    search = consult(now, case="43/12345/24", purpose="serious_crime",
                     since_us=now - 95 * DAY, until_us=now - 85 * DAY)  # fmt: skip
    assert cut(gate.decide(INV_A, search)) == [RefusalCode.AUTHORISATION_REQUIRED]
    with pytest.raises(AuthorisationInvalid, match="requires no prosecutor"):
        record(uk, case="43/12345/24")
    with pytest.raises(AuthorisationForbidden):  # a magistrate is no senior officer
        record(uk, kind=AuthorisationKind.SENIOR_OFFICER, case="43/12345/24")
    with pytest.raises(AuthorisationForbidden):  # nor does a chief record one in another's name
        record(uk, CHIEF_A, kind=AuthorisationKind.SENIOR_OFFICER, case="43/12345/24",
               issued_by="Supt. Smith")  # fmt: skip
    senior = record(uk, CHIEF_A, kind=AuthorisationKind.SENIOR_OFFICER, case="43/12345/24")
    assert senior.issued_by == "chief-a"
    assert gate.decide(INV_A, search).complete

    nl = service_for(node, clock, profile("NL"))
    gate = PolicyGate(profile("NL"), zones=node.grants, authorisations=nl, clock=clock)
    search = consult(now, case="13/123456-19", purpose="serious_crime", since_us=now - 5 * DAY,
                     until_us=now - DAY, query_id="q-1")  # fmt: skip
    with pytest.raises(AuthorisationInvalid, match="query_id"):
        record(nl, kind=AuthorisationKind.PROSECUTOR_ORDER, case="13/123456-19")
    record(nl, kind=AuthorisationKind.PROSECUTOR_ORDER, case="13/123456-19", query_id="q-1")
    assert gate.decide(INV_A, search).complete
    with pytest.raises(PolicyRefused) as exc:  # the order covers that one query only
        gate.decide(INV_A, msgspec.structs.replace(search, query_id="q-2"))
    assert exc.value.code == "nothing_readable"
    assert "given for another query" in str(exc.value.detail["ignored_authorisations"])


def test_the_node_wires_its_authorisations_into_its_gate(node: Node, tokens: Any) -> None:
    """The node as built (real clock): what ``node.authorisations`` records, ``node.policy``
    weighs."""
    now = node.policy.now()
    assert cut(node.policy.decide(INV_A, consult(now))) == [RefusalCode.AUTHORISATION_REQUIRED]
    auth = record(node.authorisations)
    assert node.policy.decide(INV_A, consult(node.policy.now())).complete
    node.authorisations.revoke(auth.id, actor=MAG, note="decision withdrawn by the parquet")
    assert not node.policy.decide(INV_A, consult(node.policy.now())).complete


# -- who records, revokes and sees ---------------------------------------------------------------
def test_who_may_record_and_every_refused_attempt_is_audited(
    node: Node, auths: AuthorisationService
) -> None:
    refused: list[Principal] = []
    for who in (INV_A, ANA_A, OP_A, DPO, AUDITOR, ADMIN_U):
        with pytest.raises(AuthorisationForbidden) as exc:
            record(auths, who)
        assert exc.value.status == 403
        refused.append(who)
    with pytest.raises(AuthorisationForbidden, match="own zone"):
        record(auths, CHIEF_A, issued_by="mag", zone=B)
    with pytest.raises(AuthorisationForbidden, match="own decisions"):
        record(auths, MAG, issued_by="Procureur J. Peeters")
    with pytest.raises(AuthorisationForbidden, match="in their own name"):
        record(auths, CHIEF_A, issued_by=" CHIEF-A ")
    attempts = [r for r in audit_of(node) if r.action == "authorisation.forbidden"]
    assert [r.actor for r in attempts] == [w.user_id for w in refused] + [
        "chief-a", "mag", "chief-a",
    ]  # fmt: skip
    first = attempts[0]
    assert first.role == "investigator" and first.object_id == "-"
    assert first.detail["attempted"] == "authorisation.record"
    assert first.detail["reference"] == "PARKET-AN-2024-0815"
    assert first.scope == {"plates": node.plate_tokens.scope(["1ABC123"])}
    assert auths.list(MAG) == []
    # A magistrate records for any zone; a chief for their own (the default).
    assert record(auths, zone=B).zone_id == B
    assert record(auths, CHIEF_A, issued_by="mag", zone=None, reference="P-2").zone_id == A


def test_bad_records_are_refused(node: Node, auths: AuthorisationService, clock: Clock) -> None:
    now = clock.us
    cases: list[tuple[dict[str, Any], str]] = [
        ({"reference": " "}, "reference"),
        ({"grounds": "see file"}, "grounds: at least 20"),
        ({"case": "AN.12.LB.012345"}, "case: not a case number of Belgium"),
        ({"zone": "pz0000"}, "unknown zone"),
        ({"valid_until_us": now + 366 * DAY}, "at most 365 days"),
        ({"valid_until_us": now - DAY, "valid_from_us": now - 2 * DAY}, "in the future"),
        ({"valid_from_us": now + DAY, "valid_until_us": now + DAY}, "after valid_from"),
        ({"plates": ["--"]}, "plates"),
        ({"plate_patterns": ["1-AB#"]}, "plate_patterns"),
        ({"cameras": ["pz9999-c404"]}, "cameras: unknown"),
        ({"zones": ["nowhere"]}, "zones: unknown zone"),
        ({"data_since_us": now - DAY, "data_until_us": now - 2 * DAY}, "data period"),
        ({"kind": AuthorisationKind.PROSECUTOR_ORDER}, "requires no prosecutor_order"),
    ]
    for fields, words in cases:
        with pytest.raises(AuthorisationInvalid) as exc:
            record(auths, **fields)
        assert words in exc.value.message, (fields, exc.value.message)
    with pytest.raises(AuthorisationInvalid) as exc:
        record(auths, zone="pz0000")
    assert exc.value.code == "unknown_zone"
    with pytest.raises(AuthorisationInvalid, match="name the magistrate"):
        record(auths, CHIEF_A)
    assert audit_of(node) == []
    # A decision dated before it was recorded is fine; the same reference twice is not.
    first = record(auths, valid_from_us=now - 10 * DAY, plate_patterns=["1-ab?-12*"])
    assert first.scope.plate_patterns == ("1-AB?-12*",)
    with pytest.raises(AuthorisationConflict) as conflict:
        record(auths, reference="parket-an-2024-0815")
    assert conflict.value.code == "authorisation_exists" and conflict.value.status == 409
    auths.revoke(first.id, actor=MAG, note="recorded with the wrong scope")
    assert record(auths).id != first.id  # recorded again, right this time


def test_who_revokes(node: Node, auths: AuthorisationService, clock: Clock) -> None:
    auth = record(auths)
    for who in (CHIEF_B, INV_A, DPO, ADMIN_U):
        with pytest.raises(AuthorisationForbidden):
            auths.revoke(auth.id, actor=who, note="not mine to revoke")
    with pytest.raises(AuthorisationInvalid):
        auths.revoke(auth.id, actor=CHIEF_A, note="  ")
    with pytest.raises(AuthorisationNotFound):
        auths.revoke("au-nope", actor=MAG, note="no such thing")
    done = auths.revoke(auth.id, actor=CHIEF_A, note="the prosecutor withdrew it")
    assert done.status is AuthorisationStatus.REVOKED and done.revoked_by == "chief-a"
    with pytest.raises(AuthorisationConflict):
        auths.revoke(auth.id, actor=MAG, note="again")
    short = record(auths, reference="P-2", valid_until_us=clock.us + HOUR)
    clock.us += HOUR
    assert auths.get(short.id, actor=MAG).status_at(clock.us) is AuthorisationStatus.EXPIRED
    with pytest.raises(AuthorisationConflict):
        auths.revoke(short.id, actor=MAG, note="too late")
    assert auths.for_case(CASE, at_us=clock.us) == [short.as_decision()]  # not the revoked
    forbidden = [r for r in audit_of(node, auth.id) if r.action == "authorisation.forbidden"]
    assert [r.actor for r in forbidden] == ["chief-b", "inv-a", "dpo", "adm"]
    assert forbidden[0].detail["attempted"] == "authorisation.revoke"


def test_who_sees_which_authorisations(auths: AuthorisationService, clock: Clock) -> None:
    in_a = record(auths)
    clock.us += 1
    in_b = record(auths, zone=B, case="AN.12.LB.000777/2024", reference="P-B")
    clock.us += 1
    gone = record(auths, reference="P-3")
    auths.revoke(gone.id, actor=MAG, note="recorded twice")

    def ids(who: Principal, **kw: Any) -> set[str]:
        return {a.id for a in auths.list(who, **kw)}

    everything = {in_a.id, in_b.id, gone.id}
    for all_seeing in (MAG, DPO, AUDITOR):
        assert ids(all_seeing) == everything
    for in_zone_a in (CHIEF_A, INV_A, ANA_A):
        assert ids(in_zone_a) == {in_a.id, gone.id}
    assert ids(INV_B) == ids(CHIEF_B) == {in_b.id}
    for nobody in (OP_A, ADMIN_U, p("mun", A, Role.MUNICIPALITY)):
        assert ids(nobody) == set()
    assert ids(MAG, case="an 12 lb 12345/24") == {in_a.id, gone.id}
    assert ids(MAG, zone=B) == {in_b.id}
    assert ids(MAG, status=AuthorisationStatus.REVOKED) == {gone.id}
    assert ids(MAG, status=AuthorisationStatus.ACTIVE) == {in_a.id, in_b.id}
    assert [a.id for a in auths.list(MAG, limit=1)] == [gone.id]  # newest first
    clock.us += 31 * DAY
    assert ids(MAG, status=AuthorisationStatus.EXPIRED) == {in_a.id, in_b.id}
    assert auths.get(in_b.id, actor=INV_B).id == in_b.id
    for stranger in (INV_A, CHIEF_A, OP_A):
        with pytest.raises(AuthorisationNotFound):
            auths.get(in_b.id, actor=stranger)


def test_the_audit_names_plates_by_token_only(node: Node, auths: AuthorisationService) -> None:
    assert isinstance(node.store, SqlStore)
    auth = record(auths, plates=[PLATE, "2-XYZ-999"], plate_patterns=["1-AB?"], cameras=[])
    auths.revoke(auth.id, actor=CHIEF_A, note="the case was closed")
    recorded, revoked = audit_of(node, auth.id)
    assert (recorded.action, revoked.action) == ("authorisation.record", "authorisation.revoke")
    assert (recorded.actor, recorded.role, recorded.actor_zone) == ("mag", "magistrate", "network")
    assert (revoked.actor, revoked.role) == ("chief-a", "zone_chief")
    for r in (recorded, revoked):
        assert r.case == CASE and r.purpose is None and r.reason is None
        assert r.detail["reference"] == "PARKET-AN-2024-0815" and r.detail["zone"] == A
        assert r.scope is not None
        assert r.scope["plates"] == node.plate_tokens.scope(["1ABC123", "2XYZ999"])
        assert r.scope["patterns"] == ["#-##?"]
        text = str(r.detail) + str(r.context)
        assert "1ABC123" not in text and "ABC" not in text and "XYZ" not in text
    assert all(t.startswith("pt:") for t in recorded.scope["plates"])  # type: ignore[index]
    assert revoked.detail["status"] == "revoked" and revoked.detail["note"] == "the case was closed"
    assert verify_chain(iter_audit(node.store.reader())) is None


# -- the API ------------------------------------------------------------------------------------
@pytest.fixture
async def api(node: Node, auths: AuthorisationService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(node, manage_node=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kp") as c:
        yield c


def h(tokens: dict[str, str], user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user_id]}"}


def iso(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


async def test_the_api_from_record_to_revocation(
    api: httpx.AsyncClient, tokens: dict[str, str], auths: AuthorisationService, node: Node
) -> None:
    now = auths.now()
    body = {
        "kind": "prosecutor",
        "reference": "PARKET-AN-2024-0815",
        "grounds": GROUNDS,
        "case": "an.12.lb.12345/2024",
        "valid_until": iso(now + 30 * DAY),
        "zone": A,
        "scope": {
            "plates": [PLATE],
            "plate_patterns": ["1-AB?"],
            "data_since": iso(now - 90 * DAY),
        },
    }
    resp = await api.post("/api/v1/authorisations", json=body, headers=h(tokens, "mag"))
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["case"] == CASE and made["status"] == "active" and made["live"] is True
    assert made["issued_by"] == "mag" and made["scope"]["plates"] == ["1ABC123"]
    assert made["scope"]["data_since"].startswith(iso(now - 90 * DAY)[:19])
    aid = made["id"]
    # An investigator may not record one (refused and audited by the service).
    resp = await api.post("/api/v1/authorisations", json=body, headers=h(tokens, "inv-a"))
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert [r.actor for r in audit_of(node) if r.action == "authorisation.forbidden"] == ["inv-a"]
    for bad, code in (
        ({**body, "grounds": "short"}, "invalid_authorisation"),
        ({**body, "kind": "police_chief"}, "invalid_authorisation"),
        ({**body, "valid_until": "2030-01-01T00:00:00"}, "invalid_authorisation"),
        ({**body, "case": "nope"}, "invalid_case"),
        ({**body, "zone": "pz0000"}, "unknown_zone"),
    ):
        resp = await api.post("/api/v1/authorisations", json=bad, headers=h(tokens, "mag"))
        assert resp.status_code == 400 and resp.json()["error"]["code"] == code, resp.text
    resp = await api.post("/api/v1/authorisations", json=body, headers=h(tokens, "mag"))
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "authorisation_exists"

    # Reading: the zone's people see it whole; oversight without its plates; others not.
    for who in ("mag", "chief-a", "inv-a", "ana-a"):
        resp = await api.get(f"/api/v1/authorisations/{aid}", headers=h(tokens, who))
        assert resp.status_code == 200 and resp.json()["scope"]["plates"] == ["1ABC123"], who
    for who in ("dpo", "aud"):
        resp = await api.get(f"/api/v1/authorisations/{aid}", headers=h(tokens, who))
        scope = resp.json()["scope"]
        assert scope["plates"] is None and scope["plate_count"] == 1, who
        assert scope["plate_patterns"] == ["#-##?"]
    for who in ("inv-b", "chief-b"):
        resp = await api.get(f"/api/v1/authorisations/{aid}", headers=h(tokens, who))
        assert resp.status_code == 404, who
    for who in ("op-a", "adm"):
        resp = await api.get("/api/v1/authorisations", headers=h(tokens, who))
        assert resp.status_code == 403, who
    listed = await api.get(
        "/api/v1/authorisations", params={"case": CASE, "status": "active"},
        headers=h(tokens, "inv-a"),
    )  # fmt: skip
    assert [a["id"] for a in listed.json()] == [aid]
    other = await api.get("/api/v1/authorisations", params={"zone": B}, headers=h(tokens, "mag"))
    assert other.status_code == 200 and other.json() == []
    wrong = await api.get(
        "/api/v1/authorisations", params={"status": "maybe"}, headers=h(tokens, "mag")
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "bad_query"

    # Revoking: a note is needed; a chief of another zone may not (audited); the chief may.
    resp = await api.post(f"/api/v1/authorisations/{aid}/revoke", headers=h(tokens, "chief-a"))
    assert resp.status_code == 400
    resp = await api.post(
        f"/api/v1/authorisations/{aid}/revoke", json={"note": "not ours"},
        headers=h(tokens, "chief-b"),
    )  # fmt: skip
    assert resp.status_code == 403
    resp = await api.post(
        f"/api/v1/authorisations/{aid}/revoke", json={"note": "decision withdrawn"},
        headers=h(tokens, "chief-a"),
    )  # fmt: skip
    assert resp.status_code == 200 and resp.json()["status"] == "revoked"
    assert resp.json()["live"] is False and resp.json()["revoked_by"] == "chief-a"
    assert auths.for_case(CASE, at_us=auths.now()) == []
    again = await api.post(
        f"/api/v1/authorisations/{aid}/revoke", json={"note": "again"}, headers=h(tokens, "mag")
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "authorisation_closed"
    missing = await api.post(
        "/api/v1/authorisations/au-nope/revoke", json={"note": "x"}, headers=h(tokens, "mag")
    )
    assert missing.status_code == 404
