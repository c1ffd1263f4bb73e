"""Need-to-know routing: every row of the rule table in ``kruispunt.hits.policy``."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruispunt.access.principals import Principal, Role
from kruispunt.hits.models import Hit, HitStatus, MatchKind
from kruispunt.hits.policy import (
    TRANSITIONS,
    audience,
    can_move,
    is_active,
    may_receive,
    role_receives,
    view_for,
)
from kruispunt.hits.views import HitView
from kruispunt.hotlists.models import COVERT_CATEGORIES, Category, Scope, ScopeKind

NETWORK = frozenset({"pz5364", "pz5369", "pz5355", "pz5352", "pz5345", "fedpol"})
T0 = 1_790_000_000_000_000


def make_hit(**kw: Any) -> Hit:
    fields: dict[str, Any] = {
        "id": "h-1",
        "seq": 1,
        "created_us": T0,
        "kind": MatchKind.EXACT,
        "historic": False,
        "late": False,
        "read_seq": 10,
        "read_id": "r1",
        "camera_id": "pz5352-c001",
        "camera_zone_id": "pz5352",
        "captured_us": T0 - 2_000_000,
        "plate_read": "1-ABC-123",
        "plate": "1ABC123",
        "country": "BE",
        "confidence": 0.93,
        "image_ref": "img/1.jpg",
        "entry_id": "e-1",
        "list_id": "l-pz5364",
        "owner_zone_id": "pz5364",
        "entry_plate": "1ABC123",
        "category": Category.STOLEN_VEHICLE,
        "action": "intercept",
        "warnings": ("armed - do not stop alone",),
        "scope": Scope(kind=ScopeKind.NETWORK),
    }
    fields.update(kw)
    return Hit(**fields)


def who(zone: str, role: Role = Role.OPERATOR, user: str = "u1") -> Principal:
    return Principal(user_id=user, zone_id=zone, role=role)


# -- which zones ------------------------------------------------------------------------------
NON_COVERT = [c for c in Category if c not in COVERT_CATEGORIES]


@pytest.mark.parametrize("category", NON_COVERT)
@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (Scope(kind=ScopeKind.OWN_ZONE), {"pz5364"}),
        (Scope(kind=ScopeKind.NAMED_ZONES, zones=("pz5369", "fedpol")),
         {"pz5364", "pz5369", "fedpol"}),
        (Scope(kind=ScopeKind.NETWORK), set(NETWORK)),
        (Scope(kind=ScopeKind.PARTNERS, zones=("nl-zeeland",)), {*NETWORK, "nl-zeeland"}),
    ],
)  # fmt: skip
def test_the_scope_decides_the_zones(category: Category, scope: Scope, expected: set[str]) -> None:
    assert audience(scope, category, "pz5364", "pz5352", NETWORK) == expected


@pytest.mark.parametrize("kind", list(ScopeKind))
def test_a_covert_entry_alerts_only_its_owner_whatever_the_scope(kind: ScopeKind) -> None:
    scope = Scope(kind=kind, zones=("pz5369", "nl-zeeland"))
    for category in COVERT_CATEGORIES:
        assert audience(scope, category, "pz5364", "pz5352", NETWORK) == {"pz5364"}


def test_the_camera_zone_does_not_widen_the_scope() -> None:
    own = Scope(kind=ScopeKind.OWN_ZONE)
    got = audience(own, Category.STOLEN_VEHICLE, "pz5364", "pz5352", NETWORK)
    assert "pz5352" not in got
    hit = make_hit(scope=own)
    assert not may_receive(hit, who("pz5352"), NETWORK)
    assert may_receive(hit, who("pz5364"), NETWORK)


def test_the_owner_receives_even_when_outside_the_network() -> None:
    got = audience(Scope(kind=ScopeKind.NETWORK), Category.OTHER, "fed-partner", "pz5352", NETWORK)
    assert got == {"fed-partner", *NETWORK}


zones = st.sampled_from(sorted(NETWORK | {"nl-zeeland", "de-nrw"}))
scopes = st.builds(
    Scope, kind=st.sampled_from(list(ScopeKind)), zones=st.lists(zones, max_size=3).map(tuple)
)


@given(scopes, st.sampled_from(list(Category)), zones, zones, zones)
def test_audience_properties(
    scope: Scope, category: Category, owner: str, camera: str, other_camera: str
) -> None:
    got = audience(scope, category, owner, camera, NETWORK)
    assert owner in got
    # the camera's zone never changes who receives
    assert got == audience(scope, category, owner, other_camera, NETWORK)
    if category in COVERT_CATEGORIES:
        assert got == {owner}
    # wider scopes never receive less
    own = audience(Scope(kind=ScopeKind.OWN_ZONE), category, owner, camera, NETWORK)
    net = audience(Scope(kind=ScopeKind.NETWORK), category, owner, camera, NETWORK)
    partners = audience(
        Scope(kind=ScopeKind.PARTNERS, zones=scope.zones), category, owner, camera, NETWORK
    )
    assert own <= got <= partners
    assert own <= net <= partners


# -- which people -----------------------------------------------------------------------------
TRAFFIC = {Category.UNINSURED, Category.NO_VALID_LICENCE, Category.NO_TECHNICAL_INSPECTION}
ROLE_TABLE: dict[Role, set[Category]] = {
    Role.OPERATOR: set(Category),
    Role.ZONE_CHIEF: set(Category),
    Role.INVESTIGATOR: set(Category),
    Role.TRAFFIC_OFFICER: TRAFFIC,
    Role.ANALYST: set(),
    Role.MAGISTRATE: set(),
    Role.DPO: set(),
    Role.AUDITOR: set(),
    Role.MUNICIPALITY: set(),
    Role.ADMIN: set(),
}


def test_the_role_table_covers_every_role() -> None:
    assert set(ROLE_TABLE) == set(Role)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("category", list(Category))
def test_roles_that_receive_live_hits(role: Role, category: Category) -> None:
    expected = category in ROLE_TABLE[role]
    assert role_receives(role, category) is expected
    hit = make_hit(category=category, scope=Scope(kind=ScopeKind.OWN_ZONE))
    assert may_receive(hit, who("pz5364", role), NETWORK) is expected


def test_the_admin_sees_no_hit_by_default() -> None:
    # Need to know: running the node is no reason to see vehicles, in any zone.
    hit = make_hit(scope=Scope(kind=ScopeKind.NETWORK))
    assert not may_receive(hit, who("network", Role.ADMIN, "admin"), NETWORK)
    assert not may_receive(hit, who("pz5364", Role.ADMIN), NETWORK)


def test_a_covert_hit_reaches_the_owner_zones_investigator_only_there() -> None:
    hit = make_hit(category=Category.INVESTIGATION, scope=Scope(kind=ScopeKind.NETWORK))
    assert may_receive(hit, who("pz5364", Role.INVESTIGATOR), NETWORK)
    assert not may_receive(hit, who("pz5352", Role.INVESTIGATOR), NETWORK)  # the camera zone
    assert not may_receive(hit, who("fedpol", Role.OPERATOR), NETWORK)


# -- what they see ----------------------------------------------------------------------------
ALLOWED_FIELDS = {
    "id", "seq", "created_us", "kind", "verify_image", "historic", "late", "camera_id",
    "camera_zone_id", "captured_us", "plate_read", "plate", "country", "confidence",
    "image_ref", "owner_zone_id", "entry_plate", "category", "action", "warnings", "status",
    "outcome", "own_list", "list_id", "entry_id", "scope",
}  # fmt: skip


def test_a_view_has_no_history_nor_entry_source() -> None:
    assert set(HitView.__struct_fields__) == ALLOWED_FIELDS
    doc = msgspec.to_builtins(view_for(make_hit(), who("pz5364")))
    for forbidden in ("source", "legal_basis", "note", "history", "passages", "read_seq"):
        assert forbidden not in doc


def test_only_the_owner_zone_sees_list_entry_and_scope() -> None:
    hit = make_hit()
    other = view_for(hit, who("pz5352"))
    assert (other.own_list, other.list_id, other.entry_id, other.scope) == (
        False, None, None, None
    )  # fmt: skip
    assert (other.action, other.warnings, other.owner_zone_id) == (
        "intercept", ("armed - do not stop alone",), "pz5364"
    )  # fmt: skip
    owner = view_for(hit, who("pz5364"))
    assert (owner.own_list, owner.list_id, owner.entry_id, owner.scope) == (
        True, "l-pz5364", "e-1", hit.scope
    )  # fmt: skip


@pytest.mark.parametrize("kind", list(MatchKind))
def test_a_possible_match_says_verify_the_image(kind: MatchKind) -> None:
    view = view_for(make_hit(kind=kind), who("pz5364"))
    assert view.verify_image is (kind is MatchKind.POSSIBLE)


# -- workflow ---------------------------------------------------------------------------------
ALLOWED_STEPS = {
    (HitStatus.NEW, HitStatus.ACKNOWLEDGED),
    (HitStatus.NEW, HitStatus.CLOSED),
    (HitStatus.ACKNOWLEDGED, HitStatus.DISPATCHED),
    (HitStatus.ACKNOWLEDGED, HitStatus.CLOSED),
    (HitStatus.DISPATCHED, HitStatus.CLOSED),
}


@pytest.mark.parametrize("current", list(HitStatus))
@pytest.mark.parametrize("to", list(HitStatus))
def test_a_hit_never_goes_back(current: HitStatus, to: HitStatus) -> None:
    assert can_move(current, to) is ((current, to) in ALLOWED_STEPS)
    assert set(TRANSITIONS) == set(HitStatus)


def test_a_hit_is_active_while_open_live_and_recent() -> None:
    window = 15 * 60_000_000
    hit = make_hit()
    assert is_active(hit, now_us=T0 + window, window_us=window)
    assert not is_active(hit, now_us=T0 + window + 1, window_us=window)
    assert not is_active(make_hit(status=HitStatus.CLOSED), now_us=T0, window_us=window)
    assert not is_active(make_hit(historic=True), now_us=T0, window_us=window)
    assert is_active(make_hit(status=HitStatus.DISPATCHED), now_us=T0, window_us=window)
