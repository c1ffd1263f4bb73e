"""The registry checks: the rules (pure) and, through a real node on both engines, hits for an
uninsured vehicle and a holder without a licence, routed to the camera's zone, once a day,
with the log moving on while a registry is down."""

from __future__ import annotations

import datetime as dt
import itertools
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from kruispunt.access.users import SYSTEM
from kruispunt.audit import AuditRecord, plate_token, read_audit
from kruispunt.config import Config
from kruispunt.domain.cameras import Purpose
from kruispunt.domain.reads import Read
from kruispunt.hits.models import Hit, hit_id
from kruispunt.hits.policy import audience_of
from kruispunt.hotlists.models import Category, ScopeKind
from kruispunt.node import Node
from kruispunt.registries import checks, metrics
from kruispunt.registries.base import InsuranceRecord, LicenceRecord
from kruispunt.registries.checks import Check
from kruispunt.registries.fakes import FakeInsuranceRegister
from kruispunt.registries.fleet import Fleet
from kruispunt.registries.settings import ChecksSettings, FakeRegistrySettings, RegistriesConfig
from kruispunt.store.sql import SqlStore
from tests.conftest import make_camera, on_both_engines

pytestmark = on_both_engines

BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")
S = 1_000_000
_ids = itertools.count()


def now_us() -> int:
    return time.time_ns() // 1000


def make_read(plate: str, camera: str = "pz5364-c001", zone: str = "pz5364", **kw: Any) -> Read:
    at = kw.pop("captured_us", now_us() - 2 * S)
    fields: dict[str, Any] = {
        "seq": 0, "read_id": f"rc{next(_ids)}", "camera_id": camera, "zone_id": zone,
        "captured_us": at, "received_us": at + S // 2, "plate_raw": plate, "plate": plate,
        "country": "BE", "country_inferred": False, "plate_format": "BE.current",
        "confidence": 0.95,
    }  # fmt: skip
    fields.update(kw)
    return Read(**fields)


# -- the rules (pure) -----------------------------------------------------------------------
DAY = dt.date(2026, 3, 2)


def test_what_the_insurance_answer_means() -> None:
    def record(**kw: Any) -> InsuranceRecord:
        return InsuranceRecord(plate="1ABC123", country="BE", **kw)

    assert checks.uninsured(None, DAY) is None  # nothing to judge: no finding
    assert checks.uninsured(record(insured=True), DAY) is False
    assert checks.uninsured(record(insured=False), DAY) is True
    assert checks.uninsured(record(insured=True, valid_until=dt.date(2026, 3, 1)), DAY) is True
    assert checks.uninsured(record(insured=True, valid_until=DAY), DAY) is False


def test_what_the_licence_answer_means() -> None:
    assert checks.unlicensed(None) is None  # a company holds no licence
    assert checks.unlicensed(LicenceRecord(holder_id="hp-1", valid=True)) is False
    assert checks.unlicensed(LicenceRecord(holder_id="hp-1", valid=False)) is True


def test_which_reads_are_checked() -> None:
    settings = ChecksSettings()
    police = make_camera()
    lez = make_camera("lez-1", zone="pz5345", purposes=(Purpose.LEZ,))
    zones = {"pz5364", "pz5345"}
    now = now_us()
    read = make_read("1ABC123")
    assert checks.checked(read, police, settings, zone_ids=zones, now_us=now)
    assert not checks.checked(read, None, settings, zone_ids=zones, now_us=now)
    assert not checks.checked(make_read("1ABC123", "lez-1", "pz5345"), lez, settings,
                              zone_ids=zones, now_us=now)  # fmt: skip
    assert not checks.checked(make_read("AB123C", country="NL"), police, settings,
                              zone_ids=zones, now_us=now)  # fmt: skip
    assert not checks.checked(make_read("1ABC123", country=None), police, settings,
                              zone_ids=zones, now_us=now)  # fmt: skip
    old = make_read("1ABC123", captured_us=now - 3601 * S)
    assert not checks.checked(old, police, settings, zone_ids=zones, now_us=now)
    assert not checks.checked(read, police, settings, zone_ids={"pz5345"}, now_us=now)
    wider = ChecksSettings(purposes=(Purpose.POLICE, Purpose.LEZ))
    assert checks.checked(make_read("1ABC123", "lez-1", "pz5345"), lez, wider, zone_ids=zones,
                          now_us=now)  # fmt: skip


def test_the_day_is_the_local_day() -> None:
    late_evening_utc = int(dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC).timestamp()) * S
    assert checks.local_day(late_evening_utc, BRUSSELS) == DAY  # 00:30 in Brussels
    start, end = checks.day_bounds_us(DAY, BRUSSELS)
    assert start == int(dt.datetime(2026, 3, 1, 23, 0, tzinfo=dt.UTC).timestamp()) * S
    assert end - start == 86_400 * S - 1


def test_a_finding_is_one_hit_per_vehicle_check_and_day() -> None:
    settings = ChecksSettings()
    lst = checks.system_list(Check.UNINSURED, "pz5364", settings)
    assert (lst.id, lst.owner_zone_id, lst.default_scope.kind) == (
        "sys-uninsured-pz5364", "pz5364", ScopeKind.OWN_ZONE)  # fmt: skip
    network = checks.system_list(Check.NO_VALID_LICENCE, checks.NETWORK, settings)
    assert network.default_scope.kind is ScopeKind.NETWORK
    now = now_us()

    def hit(read: Read, day: dt.date = DAY, check: Check = Check.UNINSURED) -> Hit:
        entry = checks.finding_entry(check, read, lst, settings, day=day, tz=BRUSSELS,
                                     now_us=now)  # fmt: skip
        return checks.finding_hit(read, entry, lst, now_us=now, late_after_us=600 * S)

    first = hit(make_read("1ABC123"))
    assert first.id == hit(make_read("1ABC123", "pz5352-c001", "pz5352")).id
    assert first.id != hit(make_read("1ABC123"), day=DAY + dt.timedelta(days=1)).id
    assert first.id != hit(make_read("1ABC123"), check=Check.NO_VALID_LICENCE).id
    assert first.id != hit(make_read("1ABC124")).id
    assert first.category is Category.UNINSURED and first.owner_zone_id == "pz5364"
    assert first.warnings == (checks.VERIFY_IMAGE,)
    assert first.id != hit_id(first.camera_id, first.read_id, first.entry_id)


# -- through a real node --------------------------------------------------------------------
@pytest.fixture
def checks_settings() -> ChecksSettings:
    return ChecksSettings()


@pytest.fixture
def config(config: Config, checks_settings: ChecksSettings) -> Config:
    processors = config.processors.model_copy(
        update={"enabled": ("hotlist_matcher", "registry_checks")}
    )
    registries = RegistriesConfig(
        fake=FakeRegistrySettings(unknown_rate=0.0), audit_flush_s=0.05, checks=checks_settings
    )
    return config.model_copy(update={"processors": processors, "registries": registries})


def find_plate(fleet: Fleet, wanted: Callable[[str], bool]) -> str:
    for i in range(100_000):
        plate = f"1{chr(65 + i // 26000 % 26)}{chr(65 + i // 1000 % 26)}C{i % 1000:03d}"
        if wanted(plate):
            return plate
    raise AssertionError("no such plate in the fake fleet")


class Plates:
    def __init__(self, node: Node):
        fleet = Fleet(node.config.registries.fake)

        def insured(plate: str) -> bool:
            record = fleet.insurance(plate, "BE")
            return record is not None and record.insured

        def licensed(plate: str) -> bool | None:
            vehicle = fleet.vehicle(plate, "BE")
            licence = None if vehicle is None else fleet.licence(vehicle.holder_id)
            return None if licence is None else licence.valid

        self.uninsured = find_plate(fleet, lambda p: not insured(p) and licensed(p) is True)
        self.unlicensed = find_plate(fleet, lambda p: insured(p) and licensed(p) is False)
        self.clean = find_plate(fleet, lambda p: insured(p) and licensed(p) is True)


def feed(node: Node, reads: list[Read]) -> None:
    """Through the writer's read path (its in-memory tail is what live processors follow)."""
    node.writer.submit_reads(reads).result()


def caught_up(node: Node, timeout: float = 15.0) -> None:
    target = node.store.last_seq()
    deadline = time.monotonic() + timeout
    while node.store.cursor("registry_checks") < target:
        if time.monotonic() > deadline:
            raise AssertionError("the registry checks did not catch up")
        time.sleep(0.02)


def eventually(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """For what follows a commit (publishing, the lists read back into memory)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def all_hits(node: Node) -> list[Hit]:
    return node.hit_store.since(0, 1000)


def audit(node: Node, action: str) -> list[AuditRecord]:
    assert isinstance(node.store, SqlStore)
    return [r for r in read_audit(node.store.reader()) if r.action == action]


def test_an_uninsured_vehicle_and_a_holder_without_licence_raise_hits(node: Node) -> None:
    plates = Plates(node)
    published: list[Hit] = []
    node.hits.on_hits.append(published.extend)
    feed(node, [
        make_read(plates.uninsured),
        make_read(plates.unlicensed, "pz5352-c001", "pz5352"),
        make_read(plates.clean),
        make_read(plates.uninsured, "pz5352-c001", "pz5352"),  # again that day: no new hit
    ])  # fmt: skip
    caught_up(node)
    hits = sorted(all_hits(node), key=lambda h: h.category)
    assert [(h.category, h.plate, h.owner_zone_id, h.list_id, h.camera_zone_id) for h in hits] == [
        (Category.NO_VALID_LICENCE, plates.unlicensed, "pz5352", "sys-no_valid_licence-pz5352",
         "pz5352"),
        (Category.UNINSURED, plates.uninsured, "pz5364", "sys-uninsured-pz5364", "pz5364"),
    ]  # fmt: skip
    eventually(lambda: len(published) == 2)
    assert sorted(h.id for h in published) == sorted(h.id for h in hits)
    for hit in hits:
        assert hit.scope.kind is ScopeKind.OWN_ZONE
        assert audience_of(hit, node.network_zone_ids) == {hit.owner_zone_id}
    assert hits[0].warnings == (checks.VERIFY_IMAGE, checks.HOLDER_NOT_DRIVER)
    for list_id in ("sys-uninsured-pz5364", "sys-no_valid_licence-pz5352"):
        eventually(lambda: node.hotlists.list_of(list_id))  # noqa: B023 (called at once)
        lst = node.hotlists.list_of(list_id)
        assert lst is not None and lst.active and lst.min_confidence == 0.8
    created = {r.object_id for r in audit(node, "hotlist.create")}
    assert {"sys-uninsured-pz5364", "sys-no_valid_licence-pz5352"} <= created

    lookups = audit(node, "registry.lookup")
    assert lookups and {r.purpose for r in lookups} == {"registry_checks"}
    tokens = {r.object_id for r in lookups if r.object_type == "vehicle"}
    key = node.plate_tokens.key
    assert key is not None
    assert plate_token(key, plates.uninsured) in tokens
    text = " ".join(f"{r.object_id} {r.detail}" for r in lookups)
    assert not any(p in text for p in (plates.uninsured, plates.unlicensed, plates.clean))
    assert {r.detail["zone_id"] for r in lookups} == {"pz5364", "pz5352"}


def test_only_police_cameras_confident_reads_and_belgian_plates_are_looked_up(
    node: Node,
) -> None:
    plates = Plates(node)
    node.upsert_cameras([make_camera("lez-c001", zone="pz5345", purposes=(Purpose.LEZ,))])
    feed(node, [
        make_read(plates.uninsured, "lez-c001", "pz5345"),
        make_read(plates.uninsured, confidence=0.5),
        make_read("AB123C", country="NL"),
        make_read(plates.unlicensed, captured_us=now_us() - 2 * 3600 * S),
    ])  # fmt: skip
    caught_up(node)
    assert all_hits(node) == []
    assert audit(node, "registry.lookup") == []  # nothing asked: no consultation without use


def test_a_registry_that_is_down_does_not_stop_the_log(node: Node) -> None:
    plates = Plates(node)
    insurance = node.registries.adapters["insurance"]
    assert isinstance(insurance, FakeInsuranceRegister)
    skipped = metrics.CHECKS.labels("uninsured", "skipped")
    before = skipped._value.get()
    insurance.faults.outage = True
    feed(node, [make_read(plates.uninsured), make_read(plates.unlicensed)])
    caught_up(node)
    assert skipped._value.get() == before + 2  # both reads' insurance checks
    assert [h.category for h in all_hits(node)] == [Category.NO_VALID_LICENCE]
    errors = [r for r in audit(node, "registry.lookup") if r.detail["outcome"] == "error"]
    assert [r.detail["registry"] for r in errors] == ["insurance", "insurance"]

    insurance.faults.outage = False  # back: the failure was not cached, the next passage hits
    feed(node, [make_read(plates.uninsured)])
    caught_up(node)
    assert sorted(h.category for h in all_hits(node)) == [
        Category.NO_VALID_LICENCE, Category.UNINSURED]  # fmt: skip


def test_a_zone_switches_a_check_off_by_deactivating_its_list(node: Node) -> None:
    plates = Plates(node)
    feed(node, [make_read(plates.unlicensed)])  # creates the zone's lists
    caught_up(node)
    eventually(lambda: node.hotlists.list_of("sys-uninsured-pz5364"))
    lst = node.hotlists.list_of("sys-uninsured-pz5364")
    assert lst is not None
    node.hotlists.update_list(msgspec.structs.replace(lst, active=False), actor=SYSTEM)
    feed(node, [make_read(plates.uninsured)])
    caught_up(node)
    assert [h.category for h in all_hits(node)] == [Category.NO_VALID_LICENCE]


@pytest.mark.parametrize("checks_settings", [ChecksSettings(owner="network")])
def test_network_owned_lists_send_the_hits_to_every_zone(node: Node) -> None:
    plates = Plates(node)
    feed(node, [make_read(plates.uninsured)])
    caught_up(node)
    (hit,) = all_hits(node)
    assert (hit.list_id, hit.owner_zone_id, hit.scope.kind) == (
        "sys-uninsured-network", "network", ScopeKind.NETWORK)  # fmt: skip
    assert audience_of(hit, node.network_zone_ids) == {"network", *node.network_zone_ids}


def test_a_list_its_zone_deleted_raises_no_more_hits(node: Node) -> None:
    plates = Plates(node)
    feed(node, [make_read(plates.unlicensed)])
    caught_up(node)
    assert len(all_hits(node)) == 1
    eventually(lambda: node.hotlists.list_of("sys-uninsured-pz5364"))
    node.hotlists.delete_list("sys-uninsured-pz5364", actor=SYSTEM)
    node.hotlists.delete_list("sys-no_valid_licence-pz5364", actor=SYSTEM)
    feed(node, [make_read(plates.uninsured)])
    caught_up(node)
    assert len(all_hits(node)) == 1
    assert node.hotlists.list_of("sys-uninsured-pz5364") is None  # not created again


def test_one_hit_a_day_also_after_a_restart(node: Node, config: Config) -> None:
    plates = Plates(node)
    feed(node, [make_read(plates.uninsured)])
    caught_up(node)
    assert len(all_hits(node)) == 1
    node.stop()
    again = Node(config)
    again.start()
    try:
        feed(again, [make_read(plates.uninsured, "pz5352-c001", "pz5352")])
        caught_up(again)
        assert len(all_hits(again)) == 1
    finally:
        again.stop()
