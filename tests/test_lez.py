"""The LEZ's admission rules (pure, from the packaged data and from changed data) and the
permits service and API (registrations, exemptions, day passes) on a real store.

Rules as the city published them (docs/DOMAIN.md, "Antwerp low-emission zone"): 2017 diesel
Euro 4 (Euro 3 with a particle filter until the end of 2019), petrol/LPG Euro 1; 2020 diesel
Euro 5, petrol/LPG Euro 2; 2025 diesel Euro 6, petrol/LPG Euro 3; from Sept 2027 diesel
Euro 6d; announced bans of diesel (2031) and petrol (2035)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kruispunt.access.principals import Principal, Role, User
from kruispunt.audit import read_audit
from kruispunt.config import LezFine
from kruispunt.enforcement.lez import (
    DeclaredVehicle,
    Outcome,
    Permit,
    PermitKind,
    Reason,
    RulesError,
    admit,
    day_bounds_us,
    euro_of,
    load_rules,
    needs_lookup,
    parse_rules,
    penalty,
)
from kruispunt.enforcement.offences import OffenceStatus
from kruispunt.enforcement.permits import (
    PermitConflict,
    PermitForbidden,
    PermitInvalid,
    PermitService,
)
from kruispunt.node import Node
from kruispunt.registries.base import Fuel, VehicleRecord
from kruispunt.store.sql import SqlStore
from tests.conftest import on_both_engines

pytestmark = on_both_engines

RULES = load_rules()
TZ = RULES.tz
CITY = "pz5345"
OFFICER = Principal(user_id="officer-a", zone_id=CITY, role=Role.TRAFFIC_OFFICER)
CHIEF = Principal(user_id="chief-a", zone_id=CITY, role=Role.ZONE_CHIEF)
ELSEWHERE = Principal(user_id="officer-t", zone_id="pz5364", role=Role.TRAFFIC_OFFICER)
OPERATOR = Principal(user_id="operator-a", zone_id=CITY, role=Role.OPERATOR)


def at(day: str, hour: int = 12) -> int:
    """Microseconds of ``hour`` o'clock local time (Brussels) on ``day``."""
    moment = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), TZ)
    return int(moment.timestamp()) * 1_000_000


def car(
    fuel: Fuel,
    euro: str | None,
    *,
    first: str = "2010-01-01",
    pf: bool = False,
    category: str = "M1",
    country: str = "BE",
) -> VehicleRecord:
    return VehicleRecord(
        plate="1ABC123", country=country, category=category, fuel=fuel, euro_norm=euro,
        first_registration=dt.date.fromisoformat(first), particle_filter=pf, holder_id="h-1",
    )  # fmt: skip


# -- the rules ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fuel", "euro", "pf", "day", "outcome", "rule"),
    [
        # 2017: diesel Euro 4, Euro 3 with a particle filter; petrol Euro 1
        (Fuel.DIESEL, "euro4", False, "2017-06-01", Outcome.ADMITTED, "2017-diesel"),
        (Fuel.DIESEL, "euro3", False, "2017-06-01", Outcome.REFUSED, "2017-diesel"),
        (Fuel.DIESEL, "euro3", True, "2017-06-01", Outcome.ADMITTED, "2017-diesel"),
        (Fuel.DIESEL, "euro3", True, "2019-12-31", Outcome.ADMITTED, "2017-diesel"),
        (Fuel.PETROL, "euro1", False, "2017-06-01", Outcome.ADMITTED, "2017-petrol"),
        (Fuel.PETROL, "euro0", False, "2017-06-01", Outcome.REFUSED, "2017-petrol"),
        # 2020: the filter exception is over; diesel Euro 5, petrol/LPG Euro 2
        (Fuel.DIESEL, "euro3", True, "2020-01-01", Outcome.REFUSED, "2020-diesel"),
        (Fuel.DIESEL, "euro4", True, "2020-06-01", Outcome.REFUSED, "2020-diesel"),
        (Fuel.DIESEL, "euro5", False, "2020-06-01", Outcome.ADMITTED, "2020-diesel"),
        (Fuel.PETROL, "euro1", False, "2020-06-01", Outcome.REFUSED, "2020-petrol"),
        (Fuel.LPG, "euro2", False, "2020-06-01", Outcome.ADMITTED, "2020-petrol"),
        # 2025: diesel Euro 6, petrol/LPG Euro 3
        (Fuel.DIESEL, "euro5", False, "2025-01-01", Outcome.REFUSED, "2025-diesel"),
        (Fuel.DIESEL, "euro6", False, "2027-08-31", Outcome.ADMITTED, "2025-diesel"),
        (Fuel.LPG, "euro2", False, "2025-06-01", Outcome.REFUSED, "2025-petrol"),
        (Fuel.HYBRID_PETROL, "euro3", False, "2025-06-01", Outcome.ADMITTED, "2025-petrol"),
        # Sept 2027: diesel Euro 6d
        (Fuel.DIESEL, "euro6", False, "2027-09-01", Outcome.REFUSED, "2027-diesel"),
        (Fuel.DIESEL, "euro6d", False, "2027-09-01", Outcome.ADMITTED, "2027-diesel"),
        (Fuel.HYBRID_DIESEL, "euro6", False, "2027-09-01", Outcome.REFUSED, "2027-diesel"),
        # announced bans
        (Fuel.DIESEL, "euro6e", False, "2031-01-01", Outcome.REFUSED, "2031-diesel-ban"),
        (Fuel.PETROL, "euro6d", False, "2034-12-31", Outcome.ADMITTED, "2025-petrol"),
        (Fuel.PETROL, "euro6e", False, "2035-01-01", Outcome.REFUSED, "2035-petrol-ban"),
    ],
)
def test_rules_by_year_fuel_and_euro_norm(
    fuel: Fuel, euro: str, pf: bool, day: str, outcome: Outcome, rule: str
) -> None:
    decision = admit(car(fuel, euro, pf=pf), country="BE", at_us=at(day), permits=[],
                     rules=RULES)  # fmt: skip
    assert (decision.outcome, decision.rule) == (outcome, rule)
    assert decision.version == RULES.version and decision.digest == RULES.digest
    if outcome is Outcome.REFUSED:
        assert decision.reason in (Reason.EMISSIONS, Reason.BANNED)
        assert (decision.reason is Reason.BANNED) == rule.endswith("-ban")


def test_the_rules_start_on_1_february_2017_and_cover_cars_vans_buses_lorries() -> None:
    old_diesel = car(Fuel.DIESEL, "euro0")
    before = admit(old_diesel, country="BE", at_us=at("2017-01-31"), permits=[], rules=RULES)
    assert (before.outcome, before.reason) == (Outcome.ADMITTED, Reason.NOT_COVERED)
    first = admit(old_diesel, country="BE", at_us=at("2017-02-01"), permits=[], rules=RULES)
    assert first.outcome is Outcome.REFUSED
    moped = car(Fuel.PETROL, "euro0", category="L1")
    assert admit(moped, country="BE", at_us=at("2026-01-01"), permits=[], rules=RULES).reason is (
        Reason.NOT_COVERED
    )
    for fuel in (Fuel.ELECTRIC, Fuel.HYDROGEN):
        decision = admit(car(fuel, None, first="1990-01-01"), country="BE",
                         at_us=at("2040-01-01"), permits=[], rules=RULES)  # fmt: skip
        assert decision.outcome is Outcome.ADMITTED
    lorry = car(Fuel.DIESEL, "euro5", category="N3")
    assert admit(lorry, country="BE", at_us=at("2026-01-01"), permits=[],
                 rules=RULES).outcome is Outcome.REFUSED  # fmt: skip


def test_the_local_day_decides_which_rule_applies() -> None:
    # 31 Dec 2019, 23:30 UTC is already 1 Jan 2020 in Antwerp: the 2020 rules apply.
    moment = int(dt.datetime(2019, 12, 31, 23, 30, tzinfo=dt.UTC).timestamp()) * 1_000_000
    decision = admit(car(Fuel.DIESEL, "euro3", pf=True), country="BE", at_us=moment,
                     permits=[], rules=RULES)  # fmt: skip
    assert decision.day == dt.date(2020, 1, 1)
    assert (decision.outcome, decision.rule) == (Outcome.REFUSED, "2020-diesel")


@pytest.mark.parametrize(
    ("first", "euro"),
    [
        ("1992-12-31", "euro0"), ("1993-01-01", "euro1"), ("2000-06-30", "euro2"),
        ("2005-12-31", "euro3"), ("2006-01-01", "euro4"), ("2012-05-01", "euro5"),
        ("2016-03-01", "euro6"), ("2020-02-01", "euro6dtemp"), ("2022-01-01", "euro6d"),
    ],
)  # fmt: skip
def test_an_unknown_euro_norm_follows_the_date_of_first_registration(first: str, euro: str) -> None:
    assert euro_of(car(Fuel.DIESEL, None, first=first), RULES) == (euro, True)


def test_unknown_norm_decisions_say_the_norm_came_from_the_first_registration() -> None:
    moment = at("2026-03-01")
    old = admit(car(Fuel.DIESEL, None, first="2012-05-01"), country="BE", at_us=moment,
                permits=[], rules=RULES)  # fmt: skip
    assert (old.outcome, old.euro, old.euro_from_first_registration) == (
        Outcome.REFUSED, "euro5", True,
    )  # fmt: skip
    newer = admit(car(Fuel.DIESEL, None, first="2016-03-01"), country="BE", at_us=moment,
                  permits=[], rules=RULES)  # fmt: skip
    assert newer.outcome is Outcome.ADMITTED and newer.euro == "euro6"
    # A norm spelled another way is still the norm; one the rules do not name is unknown.
    assert euro_of(car(Fuel.DIESEL, "Euro 6d-TEMP"), RULES) == ("euro6dtemp", False)
    assert euro_of(car(Fuel.DIESEL, "euro VI", first="2016-03-01"), RULES) == ("euro6", True)
    assert old.cite()["euro_from_first_registration"] is True


def permit(
    kind: PermitKind,
    *,
    country: str = "BE",
    day: str = "2026-03-01",
    vehicle: DeclaredVehicle | None = None,
    revoked: str | None = None,
) -> Permit:
    start, end = day_bounds_us(dt.date.fromisoformat(day), RULES)
    if kind is not PermitKind.DAY_PASS:
        end = start + 365 * 86_400_000_000
    return Permit(
        id=f"lp-{kind}", kind=kind, plate="1ABC123", country=country, valid_from_us=start,
        valid_until_us=end, zone_id=CITY, day=dt.date.fromisoformat(day)
        if kind is PermitKind.DAY_PASS else None, vehicle=vehicle, created_by="officer-a",
        created_us=start, revoked_us=None if revoked is None else at(revoked),
    )  # fmt: skip


def test_foreign_vehicles_must_register_except_dutch_ones() -> None:
    compliant = car(Fuel.PETROL, "euro6", country="DE")
    moment = at("2026-03-01")
    german = admit(compliant, country="DE", at_us=moment, permits=[], rules=RULES)
    assert (german.outcome, german.reason, german.rule) == (
        Outcome.REFUSED, Reason.UNREGISTERED, "registration",
    )  # fmt: skip
    dutch = admit(compliant, country="NL", at_us=moment, permits=[], rules=RULES)
    assert dutch.outcome is Outcome.ADMITTED
    belgian = admit(compliant, country="BE", at_us=moment, permits=[], rules=RULES)
    assert belgian.outcome is Outcome.ADMITTED
    # A non-compliant foreign vehicle is refused for its emissions (the worse breach).
    dirty = admit(car(Fuel.DIESEL, "euro4"), country="DE", at_us=moment, permits=[], rules=RULES)
    assert dirty.reason is Reason.EMISSIONS


def test_a_registration_declares_the_vehicle_so_no_request_leaves_the_node() -> None:
    declared = DeclaredVehicle(category="M1", fuel=Fuel.DIESEL, euro_norm="euro6d",
                               first_registration=dt.date(2022, 3, 1))  # fmt: skip
    registered = [permit(PermitKind.REGISTRATION, country="FR", vehicle=declared)]
    moment = at("2026-03-02")
    assert not needs_lookup("FR", registered, moment, RULES)
    assert needs_lookup("FR", [], moment, RULES)
    assert needs_lookup("BE", [], moment, RULES)
    decision = admit(None, country="FR", at_us=moment, permits=registered, rules=RULES)
    assert (decision.outcome, decision.registered, decision.permit_id) == (
        Outcome.ADMITTED, True, "lp-registration",
    )  # fmt: skip
    # The rules tighten: the same registration no longer admits the declared Euro 6 diesel.
    old = msgspec_replace(declared, euro_norm="euro6")
    later = admit(None, country="FR", at_us=at("2027-09-02"),
                  permits=[permit(PermitKind.REGISTRATION, country="FR", vehicle=old,
                                  day="2027-01-01")],
                  rules=RULES)  # fmt: skip
    assert (later.outcome, later.rule) == (Outcome.REFUSED, "2027-diesel")


def msgspec_replace(vehicle: DeclaredVehicle, **changes: Any) -> DeclaredVehicle:
    import msgspec

    return msgspec.structs.replace(vehicle, **changes)


def test_exemptions_and_day_passes_admit_a_non_compliant_vehicle() -> None:
    dirty = car(Fuel.DIESEL, "euro3")
    exemption = permit(PermitKind.EXEMPTION, day="2026-01-01")
    decision = admit(dirty, country="BE", at_us=at("2026-03-01"), permits=[exemption],
                     rules=RULES)  # fmt: skip
    assert (decision.outcome, decision.reason) == (Outcome.ADMITTED, Reason.EXEMPTION)
    assert not needs_lookup("BE", [exemption], at("2026-03-01"), RULES)
    day_pass = permit(PermitKind.DAY_PASS, day="2026-03-01")
    on_the_day = admit(dirty, country="BE", at_us=at("2026-03-01", 23), permits=[day_pass],
                       rules=RULES)  # fmt: skip
    assert on_the_day.reason is Reason.DAY_PASS
    next_day = admit(dirty, country="BE", at_us=at("2026-03-02", 0), permits=[day_pass],
                     rules=RULES)  # fmt: skip
    assert next_day.outcome is Outcome.REFUSED
    # Revoked at noon: admitted before, refused after.
    revoked = permit(PermitKind.EXEMPTION, day="2026-01-01", revoked="2026-03-01")
    morning = admit(dirty, country="BE", at_us=at("2026-03-01", 9), permits=[revoked],
                    rules=RULES)  # fmt: skip
    evening = admit(dirty, country="BE", at_us=at("2026-03-01", 18), permits=[revoked],
                    rules=RULES)  # fmt: skip
    assert (morning.outcome, evening.outcome) == (Outcome.ADMITTED, Outcome.REFUSED)


def test_no_vehicle_data_is_no_decision() -> None:
    decision = admit(None, country="BE", at_us=at("2026-03-01"), permits=[], rules=RULES)
    assert (decision.outcome, decision.reason) == (Outcome.UNKNOWN, Reason.UNKNOWN_VEHICLE)


# -- the rules are versioned data ------------------------------------------------------------
def changed_rules(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    text = (Path(__file__).parents[1] / "src/kruispunt/data/lez_antwerp.toml").read_text("utf-8")
    path = tmp_path / "lez_changed.toml"
    path.write_text(edit(text), "utf-8")
    return path


def test_a_rule_change_is_a_data_change(tmp_path: Path) -> None:
    # The city postpones the 2025 diesel rule: Euro 5 stays admitted, by a new version.
    def postpone(text: str) -> str:
        text = text.replace('version = "2025.1"', 'version = "2025.2"')
        old = 'id = "2025-diesel"\nfuel_class = "diesel"\nsince = 2025-01-01\nuntil = 2027-08-31\n'
        assert old in text
        return text.replace(old, old.replace("since = 2025-01-01", "since = 2026-07-01")).replace(
            'since = 2020-01-01\nuntil = 2024-12-31\nmin_euro = "euro5"',
            'since = 2020-01-01\nuntil = 2026-06-30\nmin_euro = "euro5"',
        )

    changed = load_rules(changed_rules(tmp_path, postpone))
    euro5 = car(Fuel.DIESEL, "euro5")
    moment = at("2026-03-01")
    before = admit(euro5, country="BE", at_us=moment, permits=[], rules=RULES)
    after = admit(euro5, country="BE", at_us=moment, permits=[], rules=changed)
    assert (before.outcome, before.rule, before.version) == (
        Outcome.REFUSED, "2025-diesel", "2025.1",
    )  # fmt: skip
    assert (after.outcome, after.rule, after.version) == (
        Outcome.ADMITTED, "2020-diesel", "2025.2",
    )  # fmt: skip
    assert after.digest != before.digest
    # Even a change that forgets the version is told apart by the file's digest.
    quiet = load_rules(
        changed_rules(tmp_path, lambda t: t.replace("per_year = 8", "per_year = 12"))
    )
    assert quiet.version == RULES.version and quiet.digest != RULES.digest
    assert quiet.data.day_passes.per_year == 12


def test_rule_data_that_cannot_be_used_is_refused_with_the_reason(tmp_path: Path) -> None:
    overlap = changed_rules(
        tmp_path,
        lambda t: t.replace(
            'until = 2024-12-31\nmin_euro = "euro5"', 'until = 2025-03-31\nmin_euro = "euro5"'
        ),
    )
    with pytest.raises(RulesError, match=r"2020-diesel and rules\.2025-diesel: periods overlap"):
        load_rules(overlap)
    with pytest.raises(RulesError, match="unknown norm 'euro9'"):
        load_rules(changed_rules(tmp_path, lambda t: t.replace('"euro6d"\n', '"euro9"\n')))
    with pytest.raises(RulesError, match="unknown fuel 'steam'"):
        parse_rules(
            (Path(__file__).parents[1] / "src/kruispunt/data/lez_antwerp.toml")
            .read_bytes()
            .replace(b'"hydrogen"]', b'"hydrogen", "steam"]')
        )
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
    assert {r.status for r in RULES.data.rules if r.banned} == {"announced"}


# -- what a refusal costs --------------------------------------------------------------------
FINES = (
    LezFine(since=dt.date(2017, 2, 1), amounts_eur=(125,)),
    LezFine(since=dt.date(2018, 1, 1), amounts_eur=(150, 250, 350)),
)


@pytest.mark.parametrize(
    ("day", "earlier", "fines", "expected"),
    [
        ("2017-02-15", 3, 0, (OffenceStatus.WARNING, None)),  # the first month: warnings
        ("2017-03-01", 0, 0, (OffenceStatus.WARNING, None)),  # a first offence
        ("2017-03-01", 1, 0, (OffenceStatus.NEW, 125)),
        ("2017-12-31", 5, 4, (OffenceStatus.NEW, 125)),
        ("2018-01-01", 1, 0, (OffenceStatus.NEW, 150)),  # 150 from 2018
        ("2026-05-01", 2, 1, (OffenceStatus.NEW, 250)),  # a repeat costs more
        ("2026-05-01", 9, 8, (OffenceStatus.NEW, 350)),
    ],
)
def test_first_a_warning_then_fines_from_the_configured_amounts(
    day: str, earlier: int, fines: int, expected: tuple[OffenceStatus, int | None]
) -> None:
    result = penalty(dt.date.fromisoformat(day), earlier_offences=earlier, earlier_fines=fines,
                     fines=FINES, first_offence_warning=True,
                     warnings_until=dt.date(2017, 2, 28))  # fmt: skip
    assert result == expected


def test_without_a_first_warning_the_first_offence_is_fined() -> None:
    assert penalty(
        dt.date(2026, 5, 1),
        earlier_offences=0,
        earlier_fines=0,
        fines=FINES,
        first_offence_warning=False,
        warnings_until=None,
    ) == (OffenceStatus.NEW, 150)


# -- permits --------------------------------------------------------------------------------
MARCH_1 = at("2026-03-01", 10)


def service(node: Node, now: int = MARCH_1) -> PermitService:
    """The node's permits on its store, with the clock at ``now``."""
    assert isinstance(node.store, SqlStore)
    return PermitService(node.store, node.writer, rules=node.lez_rules, zone_id=CITY,
                         clock=lambda: now, plate_tokens=node.plate_tokens)  # fmt: skip


def day_pass(permits: PermitService, day: str, plate: str = "1-ABC-123") -> Permit:
    return permits.create(OFFICER, kind=PermitKind.DAY_PASS, plate=plate, country="be",
                          day=dt.date.fromisoformat(day))  # fmt: skip


def test_a_day_pass_a_limited_number_of_times_a_year(node: Node) -> None:
    permits = service(node)
    passes = [day_pass(permits, f"2026-03-{d:02d}") for d in range(1, 9)]
    assert passes[0].plate == "1ABC123" and passes[0].country == "BE"
    assert passes[0].valid_from_us == day_bounds_us(dt.date(2026, 3, 1), RULES)[0]
    assert permits.day_passes_used("1ABC123", "BE", 2026) == 8
    with pytest.raises(PermitConflict) as refused:
        day_pass(permits, "2026-03-09")
    assert refused.value.code == "day_pass_limit"
    with pytest.raises(PermitConflict, match="already") as twice:
        day_pass(permits, "2026-03-01")
    assert twice.value.code in ("day_pass_exists", "day_pass_limit")
    # Another vehicle, and next year, have their own count; a revoked pass gives one back.
    day_pass(permits, "2026-03-09", plate="2XYZ999")
    day_pass(permits, "2027-01-02")
    permits.revoke(passes[-1].id, actor=CHIEF, note="Paid twice, refunded")
    assert permits.day_passes_used("1ABC123", "BE", 2026) == 7
    day_pass(permits, "2026-03-09")
    with pytest.raises(PermitInvalid, match="back"):
        day_pass(permits, "2026-02-20")


def test_registrations_are_for_foreign_vehicles_with_their_data(node: Node) -> None:
    permits = service(node)
    vehicle = DeclaredVehicle(category="m1", fuel=Fuel.PETROL, euro_norm="Euro 6",
                              first_registration=dt.date(2019, 5, 2))  # fmt: skip
    period = {"valid_from_us": MARCH_1, "valid_until_us": MARCH_1 + 365 * 86_400_000_000}
    made = permits.create(OFFICER, kind=PermitKind.REGISTRATION, plate="AB-123-CD",
                          country="FR", vehicle=vehicle, **period)  # fmt: skip
    assert made.vehicle is not None and (made.vehicle.category, made.vehicle.euro_norm) == (
        "M1", "euro6",
    )  # fmt: skip
    found = permits.for_vehicles({("AB123CD", "FR")}, MARCH_1, MARCH_1 + 1)
    assert [p.id for p in found[("AB123CD", "FR")]] == [made.id]
    with pytest.raises(PermitInvalid, match="needs no registration"):
        permits.create(OFFICER, kind=PermitKind.REGISTRATION, plate="1ABC123", country="BE",
                       vehicle=vehicle, **period)  # fmt: skip
    with pytest.raises(PermitInvalid, match="declares the vehicle"):
        permits.create(OFFICER, kind=PermitKind.REGISTRATION, plate="B-AB-123", country="DE",
                       **period)  # fmt: skip
    with pytest.raises(PermitInvalid, match="say why"):
        permits.create(OFFICER, kind=PermitKind.EXEMPTION, plate="1ABC123", country="BE",
                       **period)  # fmt: skip
    exemption = permits.create(
        CHIEF,
        kind=PermitKind.EXEMPTION,
        plate="1ABC123",
        country="BE",
        reason="Adapted vehicle for a disabled person",
        **period,
    )
    assert [p.id for p in permits.list(OFFICER, plate="1-abc-123")] == [exemption.id]
    assert {p.id for p in permits.list(CHIEF, active=True)} == {made.id, exemption.id}


def test_only_the_city_zones_officers_and_chief_manage_permits(node: Node) -> None:
    permits = service(node)
    for who in (ELSEWHERE, OPERATOR):
        with pytest.raises(PermitForbidden):
            day_pass_as(permits, who)
        with pytest.raises(PermitForbidden):
            permits.list(who)


def day_pass_as(permits: PermitService, who: Principal) -> Permit:
    return permits.create(who, kind=PermitKind.DAY_PASS, plate="1ABC123", country="BE",
                          day=dt.date(2026, 3, 2))  # fmt: skip


def test_permits_are_audited_without_the_plate(node: Node) -> None:
    permits = service(node)
    made = day_pass(permits, "2026-03-03")
    permits.revoke(made.id, actor=CHIEF, note="Issued to the wrong plate")
    permits.list(OFFICER, plate="1ABC123")
    assert isinstance(node.store, SqlStore)
    records = read_audit(node.store.reader(), object_type="lez_permit")
    assert [r.action for r in records] == [
        "lez_permit.create", "lez_permit.revoke", "lez_permit.list",
    ]  # fmt: skip
    for record in records:
        assert "1ABC123" not in str(record.detail) and "1ABC123" not in str(record.context)
        assert record.role in (Role.TRAFFIC_OFFICER, Role.ZONE_CHIEF)
    scope = records[-1].scope
    assert scope is not None and str(scope["plates"][0]).startswith("pt:")
    assert records[-1].results == 1  # the revoked pass is listed too


# -- the API --------------------------------------------------------------------------------
@pytest.fixture
def officer_token(node: Node) -> str:
    return node.users.create(User(id="officer-a", name="Officer A", zone_id=CITY,
                                  role=Role.TRAFFIC_OFFICER), actor=None)  # fmt: skip


async def test_the_permits_api(client: httpx.AsyncClient, node: Node, officer_token: str) -> None:
    auth = {"Authorization": f"Bearer {officer_token}"}
    today = dt.datetime.now(TZ).date()
    made = await client.post("/api/v1/lez/permits", headers=auth, json={
        "kind": "day_pass", "plate": "1-ABC-123", "country": "BE", "day": today.isoformat(),
    })  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["kind"], body["plate"], body["day_passes_left"], body["active"]) == (
        "day_pass", "1ABC123", 7, True,
    )  # fmt: skip
    listed = await client.get("/api/v1/lez/permits", headers=auth, params={"kind": "day_pass"})
    assert [p["id"] for p in listed.json()] == [body["id"]]
    one = await client.get(f"/api/v1/lez/permits/{body['id']}", headers=auth)
    assert one.json()["id"] == body["id"]
    no_note = await client.post(f"/api/v1/lez/permits/{body['id']}/revoke", headers=auth)
    assert no_note.status_code == 400 and no_note.json()["error"]["code"] == "invalid_permit"
    revoked = await client.post(f"/api/v1/lez/permits/{body['id']}/revoke", headers=auth,
                                json={"note": "Bought by mistake"})  # fmt: skip
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    again = await client.post(f"/api/v1/lez/permits/{body['id']}/revoke", headers=auth,
                              json={"note": "Twice"})  # fmt: skip
    assert again.status_code == 409 and again.json()["error"]["code"] == "permit_revoked"
    bad = await client.post("/api/v1/lez/permits", headers=auth, json={"kind": "day_pass",
                            "plate": "1ABC123", "country": "BE"})  # fmt: skip
    assert bad.status_code == 400 and "day" in bad.json()["error"]["message"]
    query = await client.get("/api/v1/lez/permits", headers=auth, params={"kind": "x"})
    assert query.status_code == 400 and query.json()["error"]["code"] == "bad_query"
    missing = await client.get("/api/v1/lez/permits/lp-nope", headers=auth)
    assert missing.status_code == 404
    rules = await client.get("/api/v1/lez/rules")
    assert rules.status_code == 200 and rules.json()["version"] == RULES.version
    assert {r["id"] for r in rules.json()["rules"]} >= {"2017-diesel", "2035-petrol-ban"}
