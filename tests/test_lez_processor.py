"""The LEZ processor on a real node (SQLite and PostgreSQL): only the city's LEZ cameras,
one offence per vehicle per local day, a warning first and fines after, foreign plates
through the cross-border route, a registry that cannot answer never makes a fine, and the
reads of admitted vehicles on LEZ-only cameras deleted within the day (the offence's
evidence stays).

The registries are small fakes of the base interfaces (another organisation's systems)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kruispunt.access.principals import Principal, Role
from kruispunt.config import LezConfig
from kruispunt.domain.cameras import Purpose
from kruispunt.domain.reads import Read
from kruispunt.enforcement.lez import DeclaredVehicle, PermitKind, local_day
from kruispunt.enforcement.lez_processor import LezProcessor
from kruispunt.enforcement.offences import (
    Offence,
    OffenceQuery,
    OffenceStatus,
    OffenceStore,
)
from kruispunt.node import Node
from kruispunt.registries.base import (
    CrossBorderContact,
    Fuel,
    RegistryError,
    VehicleRecord,
    VehicleRegistry,
)
from kruispunt.registries.fakes import FakeVehicleRegistry
from kruispunt.store.sql import SqlStore, now_us
from tests.conftest import make_camera, make_config, on_both_engines
from tests.test_holds import CASE, REASON

pytestmark = on_both_engines

CITY = "pz5345"
LEZ_ONLY, LEZ_POLICE, POLICE, OTHER_ZONE = "lez-c001", "lez-c002", "pz5345-c001", "pz5364-c009"
S = 1_000_000
HOUR = 3600 * S
DAY = 24 * HOUR
CLEAN, DIRTY, UNKNOWN, FLAKY = "1CLN001", "1DRT001", "1UNK001", "1FLK001"
OFFICER = Principal(user_id="officer-a", zone_id=CITY, role=Role.TRAFFIC_OFFICER)


def record(plate: str, country: str, fuel: Fuel, euro: str | None) -> VehicleRecord:
    return VehicleRecord(
        plate=plate,
        country=country,
        category="M1",
        fuel=fuel,
        euro_norm=euro,
        first_registration=dt.date(2015, 1, 1),
        holder_id=f"h-{plate}",
    )


class FakeVehicles(VehicleRegistry):
    """The national vehicle registry: petrol Euro 6 is clean until 2035, a Euro 3 diesel is
    refused under every rule since 2020; ``down`` plates cannot be answered."""

    type_key: ClassVar[str] = "test"

    def __init__(self) -> None:
        self.records = {
            CLEAN: record(CLEAN, "BE", Fuel.PETROL, "euro6"),
            DIRTY: record(DIRTY, "BE", Fuel.DIESEL, "euro3"),
            FLAKY: record(FLAKY, "BE", Fuel.DIESEL, "euro3"),
        }
        self.down: set[str] = set()
        self.asked: list[str] = []

    def vehicle(self, plate: str, country: str) -> VehicleRecord | None:
        self.asked.append(plate)
        if plate in self.down:
            raise RegistryError("DIV did not answer in time")
        return self.records.get(plate)


class FakeContactPoint(CrossBorderContact):
    """The national contact point asking the vehicle's state (EUCARIS)."""

    type_key: ClassVar[str] = "test"

    def __init__(self) -> None:
        self.records = {
            ("BDE123", "DE"): record("BDE123", "DE", Fuel.PETROL, "euro6"),
            ("NL12AB", "NL"): record("NL12AB", "NL", Fuel.PETROL, "euro6"),
            ("FR123AB", "FR"): record("FR123AB", "FR", Fuel.DIESEL, "euro6d"),
        }
        self.asked: list[tuple[str, str]] = []

    def identify(self, plate: str, country: str) -> VehicleRecord | None:
        self.asked.append((plate, country))
        return self.records.get((plate, country))


class Clock:
    def __init__(self) -> None:
        self.us = now_us()

    def __call__(self) -> int:
        return self.us


class Lez:
    """The processor on the node's store and writer, stepped by hand."""

    def __init__(self, node: Node, **config: Any):
        self.node = node
        self.vehicles = FakeVehicles()
        self.contact = FakeContactPoint()
        self.clock = Clock()
        self.processor = LezProcessor(
            rules=node.lez_rules, config=LezConfig(**config), zone_id=CITY,
            cameras=node.registry, vehicles=self.vehicles, cross_border=self.contact,
            permits=node.lez_permits, clock=self.clock,
        )  # fmt: skip
        self.cursor = node.store.cursor(self.processor.name)
        self._n = 0

    def step(self) -> int:
        """One slice of the log, as ``ProcessorRunner.step`` takes it from the store."""
        reads = self.node.store.reads_after(self.cursor, 1000)
        if not reads:
            return 0
        derived = self.processor.process(reads)
        old, new = self.cursor, reads[-1].seq
        committed = self.node.writer.call(
            lambda s: self.processor.commit(s, old, new, derived)
        ).result()
        self.processor.after_commit(committed)
        self.cursor = new
        return len(reads)

    def feed(self, *reads: Read) -> list[Read]:
        """Append the reads to the log, then let the processor take every new read."""
        stored = list(reads)
        result = self.node.writer.call(lambda s: s.append(stored)).result()
        while self.step():
            pass
        return [msgspec_replace(r, seq=seq) for r, seq in zip(stored, result.seqs, strict=True)]

    def read(self, plate: str, at_us: int, *, camera: str = LEZ_ONLY, country: str | None = "BE",
             confidence: float = 0.95) -> Read:  # fmt: skip
        self._n += 1
        zone = "pz5364" if camera == OTHER_ZONE else CITY
        return Read(0, f"r{self._n}-{at_us}", camera, zone, at_us, at_us + S, plate, plate,
                    country, False, None, confidence)  # fmt: skip

    def tick(self) -> None:
        """A read of a police camera: the log moves on (and the processor commits)."""
        self.feed(self.read("9TCK999", self.clock.us, camera=POLICE))

    def offences(self) -> list[Offence]:
        assert isinstance(self.node.store, SqlStore)
        return OffenceStore.query(self.node.store.reader(), OffenceQuery(module="lez"))

    def stored(self, *reads: Read) -> set[str]:
        """The read ids of ``reads`` still in the log."""
        out: set[str] = set()
        for r in reads:
            found = self.node.store.reads_of_plate(r.plate, r.captured_us, r.captured_us)
            out |= {f.read_id for f in found if f.read_id == r.read_id}
        return out


def msgspec_replace(read: Read, **changes: Any) -> Read:
    import msgspec

    return msgspec.structs.replace(read, **changes)


@pytest.fixture
def lez(node: Node) -> Lez:
    node.upsert_cameras([
        make_camera(LEZ_ONLY, zone=CITY, purposes=(Purpose.LEZ,)),
        make_camera(LEZ_POLICE, zone=CITY, purposes=(Purpose.LEZ, Purpose.POLICE)),
        make_camera(POLICE, zone=CITY, purposes=(Purpose.POLICE,)),
        make_camera(OTHER_ZONE, zone="pz5364", purposes=(Purpose.LEZ,)),
    ])  # fmt: skip
    return Lez(node)


def noon(lez: Lez, days_ago: int) -> int:
    """Local noon ``days_ago`` days before the clock's day (entries of one local day)."""
    rules = lez.node.lez_rules
    day = local_day(lez.clock.us, rules) - dt.timedelta(days=days_ago)
    return int(dt.datetime.combine(day, dt.time(12), rules.tz).timestamp()) * S


def test_a_warning_first_then_a_fine_one_offence_per_vehicle_per_day(lez: Lez) -> None:
    two_days_ago, yesterday, today = noon(lez, 2), noon(lez, 1), noon(lez, 0)
    lez.feed(lez.read(DIRTY, two_days_ago), lez.read(DIRTY, two_days_ago + HOUR,
                                                      camera=LEZ_POLICE))  # fmt: skip
    first = lez.offences()
    assert len(first) == 1
    warning = first[0]
    assert (warning.status, warning.fine_eur, warning.country) == (
        OffenceStatus.WARNING,
        None,
        "BE",
    )
    assert warning.day == local_day(two_days_ago, lez.node.lez_rules).isoformat()
    assert warning.camera_ids == (LEZ_ONLY, LEZ_POLICE)
    evidence = warning.evidence
    assert evidence["decision"]["reason"] == "emissions"
    assert evidence["rules"]["version"] == lez.node.lez_rules.version
    assert evidence["vehicle_from"] == "vehicle_registry" and len(evidence["reads"]) == 2
    # The next day: a fine; more entries that day, and a replay, make no second offence.
    lez.feed(lez.read(DIRTY, yesterday))
    lez.feed(lez.read(DIRTY, yesterday + HOUR), lez.read(DIRTY, yesterday + 2 * HOUR))
    offences = lez.offences()
    assert [(o.status, o.fine_eur) for o in offences] == [
        (OffenceStatus.WARNING, None), (OffenceStatus.NEW, 150),
    ]  # fmt: skip
    # A third day within the year is a repeat: it costs more (lez.fines).
    lez.feed(lez.read(DIRTY, today))
    assert [o.fine_eur for o in lez.offences()] == [None, 150, 250]
    # A compliant vehicle makes none.
    lez.feed(lez.read(CLEAN, today))
    assert len(lez.offences()) == 3


def test_only_the_citys_lez_cameras_are_looked_at(lez: Lez) -> None:
    now = lez.clock.us
    lez.feed(lez.read(DIRTY, now - HOUR, camera=POLICE),
             lez.read(DIRTY, now - HOUR, camera=OTHER_ZONE))  # fmt: skip
    assert lez.offences() == []
    assert lez.vehicles.asked == []  # no registry is asked about a read that is not the LEZ's


def test_foreign_plates_go_through_the_cross_border_route(lez: Lez) -> None:
    now = lez.clock.us
    lez.feed(
        lez.read("BDE123", now - HOUR, country="DE"),  # compliant, not registered
        lez.read("NL12AB", now - HOUR, country="NL"),  # compliant Dutch: admitted
        lez.read("X9999", now - HOUR, country="PL"),  # unknown to its state: no decision
    )
    assert lez.vehicles.asked == []
    assert sorted(lez.contact.asked) == [("BDE123", "DE"), ("NL12AB", "NL"), ("X9999", "PL")]
    [offence] = lez.offences()
    assert (offence.plate, offence.country) == ("BDE123", "DE")
    assert offence.evidence["decision"]["reason"] == "unregistered"
    assert offence.evidence["vehicle_from"] == "cross_border"
    # Registered, the same car is admitted without asking its state again.
    lez.contact.asked.clear()
    vehicle = DeclaredVehicle(category="M1", fuel=Fuel.PETROL, euro_norm="euro6",
                              first_registration=dt.date(2019, 1, 1))  # fmt: skip
    lez.node.lez_permits.create(
        OFFICER, kind=PermitKind.REGISTRATION, plate="BDE123", country="DE", vehicle=vehicle,
        valid_from_us=now - 2 * HOUR, valid_until_us=now + 365 * DAY,
    )  # fmt: skip
    lez.feed(lez.read("BDE123", now - 30 * 60 * S, country="DE"))
    assert lez.contact.asked == [] and len(lez.offences()) == 1


def test_a_registry_that_cannot_answer_makes_no_fine_and_is_asked_again(lez: Lez) -> None:
    now = lez.clock.us
    lez.vehicles.down.add(FLAKY)
    [waiting] = lez.feed(lez.read(FLAKY, now - HOUR))
    assert lez.offences() == []
    # The stored cursor stays below the waiting read: a restart decides it again.
    assert lez.node.store.cursor("lez") < waiting.seq
    lez.tick()
    assert lez.vehicles.asked.count(FLAKY) == 1  # not before registry_retry_s
    lez.vehicles.down.clear()
    lez.clock.us += 61 * S
    lez.tick()
    [offence] = lez.offences()
    assert offence.plate == FLAKY and offence.evidence["reads"][0]["seq"] == waiting.seq
    assert lez.node.store.cursor("lez") >= waiting.seq
    # A vehicle the registry does not know is no decision either (and no fine).
    lez.feed(lez.read(UNKNOWN, now - HOUR))
    assert len(lez.offences()) == 1


def test_low_confidence_reads_are_never_decided_on(lez: Lez) -> None:
    lez.feed(lez.read(DIRTY, lez.clock.us - HOUR, confidence=0.5),
             lez.read(DIRTY, lez.clock.us - HOUR, country=None))  # fmt: skip
    assert lez.offences() == [] and lez.vehicles.asked == []


def test_reads_of_admitted_vehicles_on_lez_only_cameras_are_deleted_within_a_day(
    lez: Lez,
) -> None:
    now = lez.clock.us
    clean = lez.feed(lez.read(CLEAN, now - HOUR))
    unknown = lez.feed(lez.read(UNKNOWN, now - HOUR))
    dirty = lez.feed(lez.read(DIRTY, now - HOUR), lez.read(DIRTY, now - 50 * 60 * S))
    police = lez.feed(lez.read(CLEAN, now - HOUR, camera=LEZ_POLICE))
    everything = [*clean, *unknown, *dirty, *police]
    assert len(lez.stored(*everything)) == 5
    # Before the delay nothing goes; the stored cursor stays below what waits for deletion.
    assert lez.node.store.cursor("lez") < clean[0].seq
    lez.clock.us += 900 * S
    lez.tick()
    # Gone: the compliant and the unknown vehicle's reads of the LEZ-only camera. Kept: the
    # offence's evidence, and the LEZ-and-police camera's read (police retention).
    assert lez.stored(*everything) == {r.read_id for r in [*dirty, *police]}
    assert len(lez.offences()) == 1
    assert lez.node.store.cursor("lez") == lez.node.store.last_seq()
    # The days' segments count the deleted reads out.
    assert lez.node.store.count_reads() == len(lez.node.store.reads_after(0, 100_000))


def test_a_read_a_legal_hold_covers_is_not_deleted(node: Node, lez: Lez) -> None:
    now = lez.clock.us
    chief = Principal(user_id="chief-a", zone_id=CITY, role=Role.ZONE_CHIEF)
    node.holds.create(
        chief, case=CASE, reason=REASON, since_us=now - 3 * DAY, until_us=now + HOUR,
        expires_us=now + 400 * DAY, plates=["1HLD001"],
    )  # fmt: skip
    lez.vehicles.records["1HLD001"] = record("1HLD001", "BE", Fuel.PETROL, "euro6")
    held = lez.feed(lez.read("1HLD001", now - HOUR))
    clean = lez.feed(lez.read(CLEAN, now - HOUR))
    lez.clock.us += 900 * S
    lez.tick()
    assert lez.stored(*held, *clean) == {held[0].read_id}


def test_a_restart_still_deletes_what_waited_for_deletion(lez: Lez) -> None:
    now = lez.clock.us
    clean = lez.feed(lez.read(CLEAN, now - HOUR))
    assert lez.stored(*clean)
    # The processor stops before the delay; a new one resumes from the stored cursor.
    again = Lez(lez.node, compliant_reads_delete_after_s=0)
    again.clock.us = lez.clock.us
    assert again.cursor < clean[0].seq
    again.tick()
    assert not again.stored(*clean)


def test_with_no_delay_the_reads_go_in_the_decisions_commit(node: Node, lez: Lez) -> None:
    now_lez = Lez(node, compliant_reads_delete_after_s=0)
    clean = now_lez.feed(now_lez.read(CLEAN, now_lez.clock.us - HOUR))
    assert not now_lez.stored(*clean)


def test_a_day_pass_bought_after_the_entry_cancels_the_days_offence(lez: Lez) -> None:
    entry = lez.clock.us - 10 * 60 * S
    lez.feed(lez.read(DIRTY, entry))
    [offence] = lez.offences()
    assert offence.status is OffenceStatus.WARNING
    lez.node.lez_permits.create(OFFICER, kind=PermitKind.DAY_PASS, plate=DIRTY, country="BE",
                                day=local_day(entry, lez.node.lez_rules))  # fmt: skip
    [cancelled] = lez.offences()
    assert cancelled.status is OffenceStatus.CANCELLED
    # With the pass, the day's next entry is admitted.
    lez.feed(lez.read(DIRTY, lez.clock.us - 5 * 60 * S))
    assert len(lez.offences()) == 1


def test_the_node_builds_the_processor_on_its_registries(node: Node) -> None:
    built = node._processor("lez")
    assert isinstance(built, LezProcessor) and built.zone_id == node.config.enforcement.lez_zone_id


def test_on_a_running_node_with_its_fake_registries(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        processors={"enabled": ["traffic_counts", "hotlist_matcher", "lez"]},
        lez={"compliant_reads_delete_after_s": 0},
    )
    node = Node(config)
    node.start()
    try:
        node.upsert_cameras([make_camera(LEZ_ONLY, zone=CITY, purposes=(Purpose.LEZ,))])
        fake = node.registries.adapters["vehicles"]
        assert isinstance(fake, FakeVehicleRegistry)
        fake.put(DIRTY, "BE", record(DIRTY, "BE", Fuel.DIESEL, "euro3"))
        fake.put(CLEAN, "BE", record(CLEAN, "BE", Fuel.PETROL, "euro6"))
        at = now_us() - HOUR
        reads = [
            Read(0, f"e2e-{plate}", LEZ_ONLY, CITY, at, at + S, plate, plate, "BE", False,
                 None, 0.95)
            for plate in (DIRTY, CLEAN)
        ]  # fmt: skip
        seqs = node.writer.submit_reads(reads).result().seqs
        deadline = time.monotonic() + 10
        while node.store.cursor("lez") < max(seqs) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert isinstance(node.store, SqlStore)
        [offence] = OffenceStore.query(node.store.reader(), OffenceQuery(module="lez"))
        assert offence.plate == DIRTY and offence.status is OffenceStatus.WARNING
        assert node.store.reads_of_plate(CLEAN, at, at) == []
        assert len(node.store.reads_of_plate(DIRTY, at, at)) == 1
    finally:
        node.stop()
