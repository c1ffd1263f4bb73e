"""The registries: the fakes' answers (deterministic, a realistic mix), the cache (TTL, size,
failures never cached, the breaker) and the batched, tokenised audit of look-ups."""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kruispunt.audit import AuditRecord, PlateTokens, plate_token, read_audit
from kruispunt.config import ConfigError, load_config
from kruispunt.registries.base import Fuel, RegistryError, VehicleRecord
from kruispunt.registries.cache import Breaker, TtlCache
from kruispunt.registries.cached import RegistryUnavailable
from kruispunt.registries.fakes import (
    FakeCrossBorderContact,
    FakeInsuranceRegister,
    FakeLicenceRegister,
    FakeVehicleRegistry,
)
from kruispunt.registries.fleet import LIGHT_DUTY, Fleet, NormStep, norm_on
from kruispunt.registries.service import Registries, build_registries
from kruispunt.registries.settings import (
    BELGIAN_CAR_FUELS,
    FakeRegistrySettings,
    RegistriesConfig,
    RegistrySettings,
)
from kruispunt.store.base import ReadStore
from kruispunt.store.sqlite import SqliteStore
from kruispunt.writer import Writer

T = TypeVar("T")
KEY = b"k" * 32
TODAY = dt.date(2026, 3, 1)


def plates(n: int) -> list[str]:
    """``n`` distinct plates of the current Belgian format (1-ABC-123)."""
    out = []
    for i in range(n):
        letters = "".join(chr(65 + (i // 1000 // 26**k) % 26) for k in range(3))
        out.append(f"{1 + i % 9}{letters}{i % 1000:03d}")
    return out


SAMPLE = plates(20_000)


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(FakeRegistrySettings(), today=TODAY)


@pytest.fixture(scope="module")
def vehicles(fleet: Fleet) -> list[VehicleRecord]:
    return [v for v in (fleet.vehicle(p, "BE") for p in SAMPLE) if v is not None]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the fakes ------------------------------------------------------------------------------
def test_the_same_plate_always_gets_the_same_answers(fleet: Fleet) -> None:
    again = Fleet(FakeRegistrySettings(), today=TODAY)
    for plate in SAMPLE[:500]:
        assert fleet.vehicle(plate, "BE") == again.vehicle(plate, "be")
        assert fleet.insurance(plate, "BE") == again.insurance(plate, "BE")
    vehicle = next(v for v in (fleet.vehicle(p, "BE") for p in SAMPLE) if v is not None)
    assert fleet.licence(vehicle.holder_id) == again.licence(vehicle.holder_id)
    other = Fleet(FakeRegistrySettings(seed="another province"), today=TODAY)
    differ = sum(fleet.vehicle(p, "BE") != other.vehicle(p, "BE") for p in SAMPLE[:200])
    assert differ > 150


def test_the_holder_id_is_a_pseudonym_not_the_plate(vehicles: list[VehicleRecord]) -> None:
    for v in vehicles[:1000]:
        assert v.plate not in v.holder_id
        assert v.holder_id.startswith(("hp-", "hc-"))


def test_cars_get_the_configured_fuel_mix(vehicles: list[VehicleRecord]) -> None:
    cars = [v for v in vehicles if v.category == "M1"]
    counts = collections.Counter(v.fuel for v in cars)
    for fuel, share in BELGIAN_CAR_FUELS.items():  # Statbel, 1 August 2023
        assert counts[fuel] / len(cars) == pytest.approx(share, abs=0.015), fuel
    categories = collections.Counter(v.category for v in vehicles)
    assert categories["M1"] / len(vehicles) == pytest.approx(0.80, abs=0.015)
    assert categories["N1"] / len(vehicles) == pytest.approx(0.11, abs=0.01)


def test_fuel_shares_are_configurable() -> None:
    electric = Fleet(FakeRegistrySettings(fuel_shares={Fuel.ELECTRIC: 1.0}), today=TODAY)
    cars = [v for v in (electric.vehicle(p, "BE") for p in SAMPLE[:3000]) if v is not None]
    assert {v.fuel for v in cars if v.category == "M1"} == {Fuel.ELECTRIC}
    # Vans, lorries and motorcycles keep their own mix.
    assert {v.fuel for v in cars if v.category == "N3"} >= {Fuel.DIESEL}


def test_euro_norms_follow_the_date_of_first_registration(
    vehicles: list[VehicleRecord],
) -> None:
    steps = {s.norm: i for i, s in enumerate(LIGHT_DUTY)}
    cars = [v for v in vehicles if v.category == "M1"]
    for v in cars:
        if v.euro_norm is None:  # electric, pre-Euro, or the euro_unknown_rate share
            continue
        i = steps[v.euro_norm]
        assert v.first_registration >= LIGHT_DUTY[i].new_types, v
        if i + 1 < len(LIGHT_DUTY):
            assert v.first_registration < LIGHT_DUTY[i + 1].all_vehicles, v
    electric = [v for v in cars if v.fuel is Fuel.ELECTRIC]
    assert electric and all(v.euro_norm is None for v in electric)
    unknown = [v for v in cars if v.euro_norm is None and v.fuel not in (Fuel.ELECTRIC,
               Fuel.HYDROGEN) and v.first_registration >= dt.date(1993, 1, 1)]  # fmt: skip
    assert len(unknown) / len(cars) == pytest.approx(0.03, abs=0.01)
    ages = [(dt.date(2026, 1, 1) - v.first_registration).days / 365.25 for v in cars]
    assert 7.5 < sum(ages) / len(ages) < 11  # the Belgian fleet: about 9 years on average


@pytest.mark.parametrize(
    ("day", "u", "norm"),
    [
        (dt.date(1990, 5, 1), 0.5, None),  # before Euro 1
        (dt.date(1993, 6, 1), 0.5, "euro1"),
        (dt.date(2003, 6, 1), 0.5, "euro3"),
        (dt.date(2007, 6, 1), 0.5, "euro4"),
        (dt.date(2012, 6, 1), 0.5, "euro5"),
        (dt.date(2016, 6, 1), 0.5, "euro6"),
        (dt.date(2021, 6, 1), 0.5, "euro6d"),
        # Transitions (new types first, then every new vehicle): early, few have the new norm.
        (dt.date(2014, 10, 1), 0.01, "euro6"),
        (dt.date(2014, 10, 1), 0.99, "euro5"),
        (dt.date(2020, 12, 1), 0.5, "euro6d"),
        (dt.date(1992, 8, 1), 0.99, None),
    ],
)
def test_the_norm_on_a_date(day: dt.date, u: float, norm: str | None) -> None:
    assert norm_on(day, LIGHT_DUTY, u) == norm


def test_the_norm_table_uses_the_application_dates() -> None:
    years = {s.norm: s.new_types.year for s in LIGHT_DUTY}
    assert years == {"euro1": 1992, "euro2": 1996, "euro3": 2000, "euro4": 2005,
                     "euro5": 2009, "euro6": 2014, "euro6d": 2020}  # fmt: skip
    assert all(isinstance(s, NormStep) and s.source for s in LIGHT_DUTY)


def test_uninsured_unknown_and_unlicensed_shares(fleet: Fleet) -> None:
    answers = [(p, fleet.vehicle(p, "BE")) for p in SAMPLE]
    known = [(p, v) for p, v in answers if v is not None]
    assert 1 - len(known) / len(answers) == pytest.approx(0.01, abs=0.004)
    insurance = [fleet.insurance(p, "BE") for p, _ in known]
    assert all(i is not None for i in insurance)
    uninsured = sum(1 for i in insurance if i is not None and not i.insured)
    assert uninsured / len(known) == pytest.approx(0.008, abs=0.003)
    licences = [fleet.licence(v.holder_id) for _, v in known]
    private = [lic for lic in licences if lic is not None]
    cars = [v for _, v in known if v.category == "M1"]
    companies = sum(v.holder_id.startswith("hc-") for v in cars)
    assert companies / len(cars) == pytest.approx(0.2, abs=0.015)  # Statbel 2023: ~20 %
    invalid = [lic for lic in private if not lic.valid]
    assert len(invalid) / len(private) == pytest.approx(0.005, abs=0.0025)
    assert all(lic.reason for lic in invalid)


def test_rates_are_configurable() -> None:
    settings = FakeRegistrySettings(uninsured_rate=0.1, unknown_rate=0.0, no_licence_rate=0.2)
    fleet = Fleet(settings, today=TODAY)
    insurance = [fleet.insurance(p, "BE") for p in SAMPLE[:4000]]
    assert all(i is not None for i in insurance)
    share = sum(1 for i in insurance if i is not None and not i.insured) / len(insurance)
    assert share == pytest.approx(0.1, abs=0.015)


def test_plates_the_registry_cannot_hold_are_unknown(fleet: Fleet) -> None:
    assert fleet.vehicle("1ABCD", "BE") is None  # no Belgian format: a misread
    assert fleet.vehicle("Q-AAA-001", "BE") is None  # a trailer has no engine to record
    moped = fleet.vehicle("S-ABC-123", "BE") or fleet.vehicle("M-ABC-124", "BE")
    assert moped is not None and moped.category == "L"
    oldtimer = fleet.vehicle("O-ABC-123", "BE")
    assert oldtimer is not None and oldtimer.first_registration.year <= 2001


def test_foreign_plates_go_through_the_contact_point() -> None:
    fleet = Fleet(FakeRegistrySettings(unknown_rate=0.0), today=TODAY)
    div, contact = FakeVehicleRegistry(fleet), FakeCrossBorderContact(fleet)
    for country in ("NL", "FR", "DE", "LU"):
        assert div.vehicle("AB123C", country) is None
        found = contact.identify("AB123C", country)
        assert found is not None and found.country == country
    assert contact.identify("WA12345", "PL") is None
    assert contact.identify("1ABC123", "BE") is None  # Belgian vehicles: the registry
    assert div.vehicle("1ABC123", "BE") is not None
    assert FakeInsuranceRegister(fleet).insurance("AB123C", "NL") is None


def test_failures_and_outages_raise_registry_error() -> None:
    fleet = Fleet(FakeRegistrySettings(failure_rate=0.2), today=TODAY)
    registry = FakeVehicleRegistry(fleet)
    failed = 0
    for plate in SAMPLE[:2000]:
        try:
            registry.vehicle(plate, "BE")
        except RegistryError:
            failed += 1
    assert failed / 2000 == pytest.approx(0.2, abs=0.03)
    licences = FakeLicenceRegister(Fleet(FakeRegistrySettings(), today=TODAY))
    licences.faults.outage = True
    with pytest.raises(RegistryError):
        licences.licence("hp-0")


def test_a_pinned_answer_wins(fleet: Fleet) -> None:
    registry = FakeVehicleRegistry(fleet)
    registry.put("1-XYZ-999", "BE", None)
    assert registry.vehicle("1XYZ999", "BE") is None


# -- the cache ------------------------------------------------------------------------------
def test_cache_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, int | None] = TtlCache(max_entries=10, clock=clock)
    cache.put("a", 1, 60)
    cache.put("none", None, 10)
    assert cache.get("a") == (True, 1) and cache.get("none") == (True, None)
    clock.now += 10
    assert cache.get("none") == (False, None)  # a cached "none" is a value, until it expires
    assert cache.get("a") == (True, 1)
    clock.now += 50
    assert cache.get("a") == (False, None)
    assert len(cache) == 0


def test_the_cache_keeps_the_most_recently_used() -> None:
    cache: TtlCache[int, int] = TtlCache(max_entries=3, clock=Clock())
    for i in range(3):
        cache.put(i, i, 60)
    cache.get(0)  # used: 1 is now the oldest
    cache.put(3, 3, 60)
    assert len(cache) == 3
    assert cache.get(1) == (False, None)
    assert [cache.get(i)[0] for i in (0, 2, 3)] == [True, True, True]
    nothing: TtlCache[int, int] = TtlCache(max_entries=0, clock=Clock())
    nothing.put(1, 1, 60)
    assert len(nothing) == 0


def test_the_breaker_opens_after_failures_in_a_row_and_tries_again_later() -> None:
    clock = Clock()
    breaker = Breaker(failures=3, open_s=30, clock=clock)
    for _ in range(2):
        breaker.failure()
    breaker.success()  # not in a row
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert not breaker.allow() and breaker.is_open
    clock.now += 30
    assert breaker.allow()  # one trial
    assert not breaker.allow()  # the others wait for it
    breaker.success()
    assert breaker.allow() and not breaker.is_open


class CountingWriter:
    """The real writer, counting the transactions it is asked for."""

    def __init__(self, writer: Writer):
        self.writer = writer
        self.calls = 0

    def call(self, fn: Callable[[ReadStore], T], *, urgent: bool = False) -> Future[T]:
        self.calls += 1
        return self.writer.call(fn, urgent=urgent)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "r.sqlite", synchronous="NORMAL")
    s.open()
    yield s
    s.close()


@pytest.fixture
def writer(store: SqliteStore) -> Iterator[CountingWriter]:
    w = Writer(store, max_pending_reads=10_000, group_max_reads=10_000)
    w.start()
    yield CountingWriter(w)
    w.stop()


def registries(writer: CountingWriter, clock: Clock, **config: Any) -> Registries:
    fake = FakeRegistrySettings(unknown_rate=0.0, **config.pop("fake", {}))
    return build_registries(
        RegistriesConfig(fake=fake, **config), writer=writer, tokens=PlateTokens(KEY), clock=clock
    )


def lookups(store: SqliteStore) -> list[AuditRecord]:
    return [r for r in read_audit(store.reader()) if r.action == "registry.lookup"]


def test_answers_are_cached_for_their_ttl_and_none_for_less(
    writer: CountingWriter, store: SqliteStore
) -> None:
    clock = Clock()
    regs = registries(writer, clock, vehicles=RegistrySettings(ttl_s=600, negative_ttl_s=60))
    fake = regs.adapters["vehicles"]
    assert isinstance(fake, FakeVehicleRegistry)
    fake.put("1NON000", "BE", None)
    for _ in range(3):
        assert regs.vehicles.vehicle("1ABC123", "BE") is not None
        assert regs.vehicles.vehicle("1-non-000", "be") is None
    assert fake.faults.calls == 2
    clock.now += 60
    regs.vehicles.vehicle("1ABC123", "BE")
    regs.vehicles.vehicle("1NON000", "BE")
    assert fake.faults.calls == 3  # the "none" expired, the record not
    clock.now += 540
    regs.vehicles.vehicle("1ABC123", "BE")
    assert fake.faults.calls == 4
    regs.auditor.flush()
    records = lookups(store)
    assert [r.detail["cache"] for r in records] == ["miss", "miss"] + ["hit"] * 4 + [
        "hit", "miss", "miss"]  # fmt: skip
    assert [r.detail["outcome"] for r in records][:2] == ["found", "none"]


def test_the_cache_is_bounded(writer: CountingWriter) -> None:
    regs = registries(writer, Clock(), insurance=RegistrySettings(max_entries=100))
    for plate in SAMPLE[:300]:
        regs.insurance.insurance(plate, "BE")
    assert len(regs.insurance.lookup.cache) == 100


def test_a_failure_is_not_cached_and_a_dead_registry_is_not_waited_for(
    writer: CountingWriter, store: SqliteStore
) -> None:
    clock = Clock()
    regs = registries(
        writer, clock, insurance=RegistrySettings(breaker_failures=3, breaker_open_s=30)
    )
    fake = regs.adapters["insurance"]
    assert isinstance(fake, FakeInsuranceRegister)
    fake.faults.outage = True
    for _ in range(3):
        with pytest.raises(RegistryError):
            regs.insurance.insurance("1ABC123", "BE")
    assert fake.faults.calls == 3  # asked each time: nothing cached
    with pytest.raises(RegistryUnavailable):
        regs.insurance.insurance("1ABC123", "BE")
    assert fake.faults.calls == 3  # down: not asked
    fake.faults.outage = False
    clock.now += 30
    assert regs.insurance.insurance("1ABC123", "BE") is not None  # the trial: back
    assert regs.insurance.insurance("1ABD123", "BE") is not None
    regs.auditor.flush()
    outcomes = [r.detail["outcome"] for r in lookups(store)]
    assert outcomes == ["error"] * 3 + ["found"] * 2  # the refused look-up asked no one


def test_lookups_are_audited_in_batches_with_plate_tokens(
    writer: CountingWriter, store: SqliteStore
) -> None:
    regs = registries(writer, Clock(), audit_batch_max=500)
    lez = regs.for_purpose("lez")
    asked = SAMPLE[:600]
    for plate in asked:
        lez.vehicles.vehicle(plate, "BE", zone_id="pz5345")
    regs.insurance.insurance(asked[0], "BE", purpose="registry_checks")
    vehicle = regs.vehicles.vehicle(asked[0], "BE", purpose="registry_checks")
    assert vehicle is not None
    regs.licences.licence(vehicle.holder_id, purpose="registry_checks")
    before = writer.calls
    assert regs.auditor.flush() == 603
    assert writer.calls - before == 2  # 603 look-ups, two transactions (500 + 103)
    records = lookups(store)
    assert len(records) == 603
    first = records[0]
    assert (first.actor, first.object_type, first.purpose) == ("system", "vehicle", "lez")
    assert first.object_id == plate_token(KEY, asked[0])
    assert first.detail == {"registry": "vehicles", "adapter": "fake", "cache": "miss",
                            "outcome": "found", "country": "BE", "zone_id": "pz5345"}  # fmt: skip
    assert records[600].purpose == "registry_checks" and records[600].detail["registry"] == (
        "insurance"
    )
    assert records[601].detail["cache"] == "hit"
    assert (records[602].object_type, records[602].object_id) == ("holder", vehicle.holder_id)
    text = " ".join(f"{r.object_id} {r.detail} {r.context}" for r in records)
    assert not any(plate in text for plate in asked)  # tokens, never plates


def test_the_auditor_writes_in_the_background_and_on_stop(
    writer: CountingWriter, store: SqliteStore
) -> None:
    regs = registries(writer, Clock(), audit_flush_s=0.05)
    regs.start()
    for plate in SAMPLE[:50]:
        regs.vehicles.vehicle(plate, "BE")
    deadline = time.monotonic() + 5
    while len(lookups(store)) < 50 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(lookups(store)) == 50
    assert writer.calls <= 10  # batched, not one transaction per look-up
    regs.vehicles.vehicle("1ZZZ999", "BE")
    regs.stop()  # writes what is left
    assert len(lookups(store)) == 51


# -- configuration --------------------------------------------------------------------------
def test_the_registries_section_is_strict(tmp_path: Path) -> None:
    config = load_config(None, env={}, overrides={"registries": {
        "insurance": {"type": "fake", "ttl_s": 60, "negative_ttl_s": 10},
        "fake": {"uninsured_rate": 0.01, "seed": "demo"},
        "checks": {"purposes": ["police", "section_control"], "owner": "network"},
    }})  # fmt: skip
    assert config.registries.insurance.ttl_s == 60
    assert config.registries.fake.seed == "demo"
    assert config.registries.checks.owner == "network"
    for bad in (
        {"vehicles": {"type": "soap"}},
        {"vehicles": {"ttl_s": 10, "negative_ttl_s": 20}},
        {"fake": {"uninsured_rate": 2}},
        {"checks": {"timezone": "Mars/Olympus"}},
        {"nonsense": 1},
    ):
        with pytest.raises(ConfigError):
            load_config(None, env={}, overrides={"registries": bad})
