"""The policy gate: every consultation of reads answers who, why, for which case, and reads
only what the law, the grants and the recorded authorisations open. Pure tests over fakes,
then the gate inside a node (audit records, the hits' own consultations)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from kruispunt.access.policy import (
    ROLE_PURPOSES,
    Consultation,
    PolicyGate,
    PolicyRefused,
)
from kruispunt.access.principals import Principal, Role
from kruispunt.audit import PlateTokens, read_audit
from kruispunt.law.decide import Authorisation, AuthorisationKind, AuthorisationScope
from kruispunt.law.profiles import profile
from kruispunt.law.purpose import Purpose, validate_case
from kruispunt.store.sql import now_us
from tests.conftest import on_both_engines

DAY = 86_400_000_000
NOW = 1_790_000_000_000_000  # 2026-09-21
A, B = "pz5364", "pz5352"
CASE = "AN.12.LB.012345/2026"
REASON = "Burglary at Kerkstraat 12 on 3 May, the neighbour saw a grey van leave"
INV = Principal(user_id="inv", zone_id=A, role=Role.INVESTIGATOR)


class Zones:
    def __init__(self, granted: dict[str, set[str]] | None = None):
        self.granted = granted or {}

    def visible_zones(self, principal: Principal, at_us: int | None = None) -> set[str]:
        return {principal.zone_id} | self.granted.get(principal.user_id, set())


class Authorisations:
    def __init__(self, *auths: Authorisation):
        self.auths = auths
        self.asked: list[str] = []

    def for_case(self, case: str, *, at_us: int) -> Sequence[Authorisation]:
        self.asked.append(case)
        return [a for a in self.auths if a.case == case]


class Approvals:
    def __init__(self, approved: dict[str, str]):
        self.approved = approved  # approval id -> requester

    def problems(
        self, approval_id: str, *, principal: Principal, consultation: Consultation, at_us: int
    ) -> list[str]:
        if self.approved.get(approval_id) != principal.user_id:
            return ["not an approval of yours"]
        return []


def gate(country: str = "BE", **kw: object) -> PolicyGate:
    kw.setdefault("zones", Zones())
    return PolicyGate(profile(country), clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def ask(**kw: object) -> Consultation:
    fields: dict[str, object] = {
        "action": "search.plate", "purpose": "judicial_police", "case": CASE, "reason": REASON,
        "since_us": NOW - 3 * DAY, "until_us": NOW, "plates": ("1ABC123",),
    }  # fmt: skip
    fields.update(kw)
    return Consultation(**fields)  # type: ignore[arg-type]


def refused(g: PolicyGate, c: Consultation, who: Principal = INV) -> PolicyRefused:
    with pytest.raises(PolicyRefused) as info:
        g.decide(who, c)
    return info.value


def test_a_plain_search_in_the_first_month_is_allowed_whole() -> None:
    d = gate().decide(INV, ask())
    assert d.complete and d.spans() == [(NOW - 3 * DAY, NOW)]
    assert d.zones == {A} and d.case == CASE and d.purpose is Purpose.JUDICIAL_POLICE
    assert d.readable(NOW - DAY, A) and not d.readable(NOW - DAY, B)
    assert not d.readable(NOW - 4 * DAY, A)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AUDITOR, Role.DPO, Role.MUNICIPALITY])
def test_roles_that_never_see_plates_are_refused(role: Role) -> None:
    who = Principal(user_id="x", zone_id=A, role=role)
    assert refused(gate(), ask(), who).code == "role_not_allowed"


def test_a_role_is_refused_a_purpose_it_does_not_serve() -> None:
    officer = Principal(user_id="t", zone_id=A, role=Role.TRAFFIC_OFFICER)
    err = refused(gate(), ask(purpose="judicial_police"), officer)
    assert (err.code, err.status) == ("role_not_allowed", 403)
    assert gate().decide(officer, ask(purpose="traffic_enforcement")).complete
    assert Purpose.TRAFFIC_ENFORCEMENT in ROLE_PURPOSES[Role.TRAFFIC_OFFICER]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("purpose", "curiosity", "invalid_purpose"),
        ("case", "12345", "invalid_case"),
        ("case", "AN.12.LB.012345/2099", "invalid_case"),  # dated in the future
        ("reason", "onderzoek", "vague_reason"),
        ("reason", "test test test test test test", "vague_reason"),
        ("reason", "zie dossier AN.12.LB.012345/2026", "vague_reason"),
    ],
)
def test_the_three_questions_must_be_answered(field: str, value: str, code: str) -> None:
    err = refused(gate(), ask(**{field: value}))
    assert (err.code, err.status) == (code, 400)


def test_periods_that_make_no_sense_are_refused() -> None:
    assert refused(gate(), ask(since_us=NOW, until_us=NOW - DAY)).code == "invalid_period"
    future = ask(since_us=NOW + 3 * DAY, until_us=NOW + 4 * DAY)
    assert refused(gate(), future).code == "invalid_period"


def test_another_zone_needs_a_grant() -> None:
    err = refused(gate(), ask(zones=(B,)))
    assert (err.code, err.status, err.detail["zones"]) == ("zone_not_visible", 403, [B])
    granted = gate(zones=Zones({"inv": {B}}))
    assert granted.decide(INV, ask(zones=(B,))).zones == {B}
    assert granted.decide(INV, ask()).zones == {A, B}


def test_wide_searches_need_an_approval_that_covers_them() -> None:
    long = refused(gate(), ask(since_us=NOW - 20 * DAY))
    assert long.code == "approval_required" and "20.0 days" in long.message
    wide = ask(plates=(), plate_patterns=("1-A*",))  # two known characters
    err = refused(gate(), wide)
    assert err.code == "approval_required" and err.detail["problems"]
    g = gate(approvals=Approvals({"ap-1": "inv"}))
    assert refused(g, ask(plates=(), plate_patterns=("1-A*",), approval_id="ap-2")).code == (
        "approval_required"
    )
    d = g.decide(INV, ask(plates=(), plate_patterns=("1-A*",), approval_id="ap-1"))
    assert d.approval_id == "ap-1"
    # A narrow search does not carry (or need) one.
    assert g.decide(INV, ask(approval_id="ap-1")).approval_id is None


def test_after_the_first_month_a_prosecutor_authorisation_opens_the_reads() -> None:
    old = ask(since_us=NOW - 50 * DAY, until_us=NOW - 40 * DAY)
    err = refused(gate(), old)
    assert err.code == "nothing_readable" and err.detail["refused"][0]["needs"] == "prosecutor"
    auth = Authorisation(
        kind=AuthorisationKind.PROSECUTOR, reference="PG/2026/77", issued_by="subst. Peeters",
        grounds="Serial burglaries, vehicle seen at three sites", case=CASE,
        valid_from_us=NOW - DAY, valid_until_us=NOW + 30 * DAY,
        scope=AuthorisationScope(plates=("1ABC123",)),
    )  # fmt: skip
    source = Authorisations(auth)
    d = gate(authorisations=source).decide(INV, old)
    assert d.complete and d.access.windows[0].authorisation == "PG/2026/77"
    assert source.asked == [CASE]
    # A query across both tiers: the first month is open; the rest needs the authorisation.
    across = gate().decide(INV, ask(since_us=NOW - 35 * DAY, until_us=NOW - 25 * DAY))
    assert not across.complete
    assert [w.tier for w in across.access.windows] == ["BE tier 1 (first month)"]
    assert across.spans() == [(NOW - 30 * DAY + 1, NOW - 25 * DAY)]
    # Another plate than the authorised one: still cut.
    other = ask(since_us=NOW - 50 * DAY, until_us=NOW - 40 * DAY, plates=("2XYZ999",))
    assert refused(gate(authorisations=source), other).code == "nothing_readable"


def test_administrative_police_never_reads_past_the_first_month() -> None:
    op = Principal(user_id="op", zone_id=A, role=Role.OPERATOR)
    c = ask(purpose="administrative_police", since_us=NOW - 35 * DAY, until_us=NOW - 25 * DAY)
    d = gate().decide(op, c)
    assert d.spans()[0][0] == NOW - 30 * DAY + 1
    assert d.access.refused[0].code == "purpose_not_allowed"


def test_reads_past_the_limit_are_never_readable() -> None:
    err = refused(gate(), ask(since_us=NOW - 400 * DAY, until_us=NOW - 370 * DAY))
    assert err.detail["refused"][0]["code"] == "beyond_retention"


def test_the_dutch_profile_needs_an_order_for_every_query() -> None:
    nl_case = "PL0900-2026123456"
    normalised = validate_case(profile("NL"), nl_case)
    assert normalised is not None
    c = ask(case=nl_case, purpose="serious_crime", query_id="q-1")
    err = refused(gate("NL"), c)
    assert err.code == "nothing_readable"
    order = Authorisation(
        kind=AuthorisationKind.PROSECUTOR_ORDER, reference="OvJ-1", issued_by="mr. de Vries",
        grounds="Ram-raid on a jeweller, the getaway car", case=normalised,
        valid_from_us=NOW - DAY, valid_until_us=NOW + DAY, query_id="q-1",
    )  # fmt: skip
    assert gate("NL", authorisations=Authorisations(order)).decide(INV, c).complete
    assert refused(gate("NL", authorisations=Authorisations(order)), ask(
        case=nl_case, purpose="serious_crime", query_id="q-2"
    )).code == "nothing_readable"  # fmt: skip


def test_the_audit_scope_never_holds_plates_or_pattern_characters() -> None:
    g = gate(plate_tokens=PlateTokens(b"k" * 32))
    scope = g.scope_of(ask(plates=("1ABC123",), plate_patterns=("1-AB?-12*",)))
    assert scope["plates"][0].startswith("pt:") and scope["patterns"] == ["#-##?-##*"]
    assert "1ABC123" not in str(scope) and "AB" not in str(scope["patterns"])
    assert gate().scope_of(ask())["plates"] == 1  # no key: counted, not named


def test_record_windows_follow_the_entry_category() -> None:
    purpose, access = gate().windows_for_record(
        "wanted_person", since_us=NOW - 40 * DAY, until_us=NOW, case=None, user="op",
        plates=("1ABC123",),
    )  # fmt: skip
    assert purpose is Purpose.FUGITIVE_ARREST
    assert access.spans() == [(NOW - 30 * DAY + 1, NOW)]
    _, nl = gate("NL").windows_for_record(
        "stolen_vehicle", since_us=NOW - DAY, until_us=NOW, case=None, user="op",
        plates=("1ABC123",),
    )  # fmt: skip
    assert nl.spans() == []


# -- inside a node --------------------------------------------------------------------------
@on_both_engines
def test_the_node_gate_audits_decisions_and_refusals(node: object) -> None:
    from kruispunt.node import Node

    assert isinstance(node, Node)
    start = now_us()
    c = ask(since_us=start - DAY, until_us=start, source="10.0.0.7")
    decision = node.policy.decide(INV, c)
    node.writer.call(lambda s: _record(node, decision)).result()
    err = refused(node.policy, ask(since_us=start - DAY, until_us=start, reason="test"))
    node.writer.call(lambda s: _refusal(node, c, err)).result()
    ok, no = read_audit(node.store.reader(), object_type="reads")[-2:]
    assert (ok.action, ok.role, ok.purpose, ok.case, ok.results) == (
        "search.plate",
        "investigator",
        "judicial_police",
        CASE,
        3,
    )
    assert ok.source == "10.0.0.7" and ok.scope is not None
    assert ok.scope["plates"] == [node.plate_tokens.token("1ABC123")]
    assert (no.action, no.results, no.detail["code"]) == ("search.plate.refused", 0, "vague_reason")


def _record(node: object, decision: object) -> None:
    from kruispunt.node import Node

    assert isinstance(node, Node)
    with node.store.transaction() as conn:
        node.policy.record(conn, decision, results=3)  # type: ignore[arg-type]


def _refusal(node: object, c: Consultation, err: PolicyRefused) -> None:
    from kruispunt.node import Node

    assert isinstance(node, Node)
    with node.store.transaction() as conn:
        node.policy.record_refusal(conn, INV, c, err)
