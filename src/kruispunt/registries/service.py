"""The node's registries, built from the configuration: an adapter per registry, chosen by
its type key, behind the cache and the look-up audit (``cached``).

Use ``node.registries.vehicles.vehicle(plate, country, purpose="lez")``, or take a view
that names the module once: ``regs = node.registries.for_purpose("lez")`` and then
``regs.vehicles.vehicle(plate, country)``, ``regs.cross_border.identify(plate, country)``.
Every look-up may raise ``RegistryError`` (the registry failed or counts as down): the
caller decides what a missing answer means (the registry checks skip the read).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kruispunt.audit import PlateTokens
from kruispunt.registries.base import (
    CrossBorderContact,
    InsuranceRegister,
    LicenceRegister,
    VehicleRegistry,
)
from kruispunt.registries.cache import Clock
from kruispunt.registries.cached import (
    UNSPECIFIED,
    CachedCrossBorderContact,
    CachedInsuranceRegister,
    CachedLicenceRegister,
    CachedLookup,
    CachedVehicleRegistry,
)
from kruispunt.registries.fakes import (
    FakeCrossBorderContact,
    FakeInsuranceRegister,
    FakeLicenceRegister,
    FakeVehicleRegistry,
)
from kruispunt.registries.fleet import Fleet
from kruispunt.registries.lookup_audit import CallWriter, LookupAuditor
from kruispunt.registries.settings import RegistriesConfig

# Adapters by type key (``registries.<registry>.type``). A real adapter adds its key to
# ``RegistrySettings.type`` and its own settings model to ``RegistriesConfig``.
VEHICLE_REGISTRIES: dict[str, Callable[[RegistriesConfig], VehicleRegistry]] = {
    FakeVehicleRegistry.type_key: lambda c: FakeVehicleRegistry(Fleet(c.fake)),
}
INSURANCE_REGISTERS: dict[str, Callable[[RegistriesConfig], InsuranceRegister]] = {
    FakeInsuranceRegister.type_key: lambda c: FakeInsuranceRegister(Fleet(c.fake)),
}
LICENCE_REGISTERS: dict[str, Callable[[RegistriesConfig], LicenceRegister]] = {
    FakeLicenceRegister.type_key: lambda c: FakeLicenceRegister(Fleet(c.fake)),
}
CROSS_BORDER_CONTACTS: dict[str, Callable[[RegistriesConfig], CrossBorderContact]] = {
    FakeCrossBorderContact.type_key: lambda c: FakeCrossBorderContact(Fleet(c.fake)),
}


class Registries:
    """The four registries of a node, cached and audited. ``adapters``: the raw adapters by
    registry name (a test or the demo pins a fake's answer there)."""

    def __init__(
        self,
        *,
        vehicles: CachedVehicleRegistry,
        insurance: CachedInsuranceRegister,
        licences: CachedLicenceRegister,
        cross_border: CachedCrossBorderContact,
        auditor: LookupAuditor,
        adapters: dict[str, object],
        purpose: str = UNSPECIFIED,
    ):
        self.vehicles = vehicles
        self.insurance = insurance
        self.licences = licences
        self.cross_border = cross_border
        self.auditor = auditor
        self.adapters = adapters
        self.purpose = purpose

    def for_purpose(self, purpose: str) -> Registries:
        """The same registries (same caches, same audit), their look-ups made for
        ``purpose`` (the module that asks) unless a call names another."""
        return Registries(
            vehicles=self.vehicles.for_purpose(purpose),
            insurance=self.insurance.for_purpose(purpose),
            licences=self.licences.for_purpose(purpose),
            cross_border=self.cross_border.for_purpose(purpose),
            auditor=self.auditor, adapters=self.adapters, purpose=purpose,
        )  # fmt: skip

    def lookups(self) -> list[CachedLookup[Any, Any]]:
        return [self.vehicles.lookup, self.insurance.lookup, self.licences.lookup,
                self.cross_border.lookup]  # fmt: skip

    def clear_caches(self) -> None:
        for lookup in self.lookups():
            lookup.cache.clear()

    def start(self) -> None:
        self.auditor.start()

    def stop(self) -> None:
        """Write the queued look-up audit records (before the writer stops)."""
        self.auditor.stop()


def build_registries(
    config: RegistriesConfig,
    *,
    writer: CallWriter,
    tokens: PlateTokens,
    clock: Clock = time.monotonic,
) -> Registries:
    auditor = LookupAuditor(
        writer=writer, tokens=tokens, batch_max=config.audit_batch_max,
        flush_s=config.audit_flush_s,
    )  # fmt: skip
    vehicles = VEHICLE_REGISTRIES[config.vehicles.type](config)
    insurance = INSURANCE_REGISTERS[config.insurance.type](config)
    licences = LICENCE_REGISTERS[config.licences.type](config)
    cross_border = CROSS_BORDER_CONTACTS[config.cross_border.type](config)

    return Registries(
        vehicles=CachedVehicleRegistry(CachedLookup(
            "vehicles", vehicles.type_key, lambda k: vehicles.vehicle(*k), config.vehicles,
            auditor, clock=clock,
        )),
        insurance=CachedInsuranceRegister(CachedLookup(
            "insurance", insurance.type_key, lambda k: insurance.insurance(*k),
            config.insurance, auditor, clock=clock,
        )),
        licences=CachedLicenceRegister(CachedLookup(
            "licences", licences.type_key, licences.licence, config.licences, auditor,
            clock=clock,
        )),
        cross_border=CachedCrossBorderContact(CachedLookup(
            "cross_border", cross_border.type_key, lambda k: cross_border.identify(*k),
            config.cross_border, auditor, clock=clock,
        )),
        auditor=auditor,
        adapters={"vehicles": vehicles, "insurance": insurance, "licences": licences,
                  "cross_border": cross_border},
    )  # fmt: skip
