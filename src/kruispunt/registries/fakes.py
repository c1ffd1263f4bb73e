"""The fakes (type key ``fake``): registries that answer at once, from the synthetic fleet
(``fleet.Fleet``), so tests and the demo run offline with realistic answers.

They behave like the real services where it matters to the node:

- the vehicle registry (DIV) knows Belgian plates only (a foreign plate: None);
- the cross-border contact point answers for its registration states (default NL, FR, DE,
  LU) and None for the others and for Belgium;
- the insurance register knows the vehicles the registry knows;
- the licence register knows private holders (a company holds no licence);
- ``failure_rate`` of the look-ups fail with ``RegistryError``, and ``outage`` makes every
  look-up fail (a registry that is down), to test the node's resilience.

``put_*`` pins an answer for one plate or holder (a demo scenario, a test's vehicle).
"""

from __future__ import annotations

import random
import threading
from typing import ClassVar

from kruispunt.plates.text import normalise
from kruispunt.registries.base import (
    CrossBorderContact,
    InsuranceRecord,
    InsuranceRegister,
    LicenceRecord,
    LicenceRegister,
    RegistryError,
    VehicleRecord,
    VehicleRegistry,
)
from kruispunt.registries.fleet import Fleet
from kruispunt.registries.settings import FakeRegistrySettings

HOME = "BE"


class _Faults:
    """Failures on demand: a seeded share of look-ups, or all of them during an outage."""

    def __init__(self, name: str, settings: FakeRegistrySettings):
        self.name = name
        self.rate = settings.failure_rate
        self.outage = False
        self._random = random.Random(f"{settings.seed}:faults:{name}")
        self._lock = threading.Lock()
        self.calls = 0

    def check(self) -> None:
        with self._lock:
            self.calls += 1
            failed = self.outage or (self.rate > 0 and self._random.random() < self.rate)
        if failed:
            raise RegistryError(
                f"{self.name}: no answer (fake {'outage' if self.outage else 'failure'})"
            )


def _key(plate: str, country: str) -> tuple[str, str]:
    return normalise(plate), country.upper()


class FakeVehicleRegistry(VehicleRegistry):
    type_key: ClassVar[str] = "fake"

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.faults = _Faults("vehicle registry", fleet.settings)
        self._pinned: dict[tuple[str, str], VehicleRecord | None] = {}

    def put(self, plate: str, country: str, record: VehicleRecord | None) -> None:
        self._pinned[_key(plate, country)] = record

    def vehicle(self, plate: str, country: str) -> VehicleRecord | None:
        self.faults.check()
        key = _key(plate, country)
        if key in self._pinned:
            return self._pinned[key]
        return self.fleet.vehicle(*key) if key[1] == HOME else None


class FakeInsuranceRegister(InsuranceRegister):
    type_key: ClassVar[str] = "fake"

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.faults = _Faults("insurance register", fleet.settings)
        self._pinned: dict[tuple[str, str], InsuranceRecord | None] = {}

    def put(self, plate: str, country: str, record: InsuranceRecord | None) -> None:
        self._pinned[_key(plate, country)] = record

    def insurance(self, plate: str, country: str) -> InsuranceRecord | None:
        self.faults.check()
        key = _key(plate, country)
        if key in self._pinned:
            return self._pinned[key]
        return self.fleet.insurance(*key) if key[1] == HOME else None


class FakeLicenceRegister(LicenceRegister):
    type_key: ClassVar[str] = "fake"

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.faults = _Faults("licence register", fleet.settings)
        self._pinned: dict[str, LicenceRecord | None] = {}

    def put(self, holder_id: str, record: LicenceRecord | None) -> None:
        self._pinned[holder_id] = record

    def licence(self, holder_id: str) -> LicenceRecord | None:
        self.faults.check()
        if holder_id in self._pinned:
            return self._pinned[holder_id]
        return self.fleet.licence(holder_id)


class FakeCrossBorderContact(CrossBorderContact):
    """Answers at once (a real request through the contact point takes seconds to days)."""

    type_key: ClassVar[str] = "fake"

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.countries = frozenset(fleet.settings.cross_border_countries) - {HOME}
        self.faults = _Faults("cross-border contact point", fleet.settings)
        self._pinned: dict[tuple[str, str], VehicleRecord | None] = {}

    def put(self, plate: str, country: str, record: VehicleRecord | None) -> None:
        self._pinned[_key(plate, country)] = record

    def identify(self, plate: str, country: str) -> VehicleRecord | None:
        self.faults.check()
        key = _key(plate, country)
        if key in self._pinned:
            return self._pinned[key]
        return self.fleet.vehicle(*key) if key[1] in self.countries else None
