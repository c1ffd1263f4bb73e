"""What the registries answer, and the adapter interfaces (pure data and abstract classes).

Records carry what enforcement needs and no more: a holder is a pseudonymous id, never a name
or an address (those stay with the back office that sends the fine).
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
from typing import ClassVar

import msgspec


class Fuel(enum.StrEnum):
    PETROL = "petrol"
    DIESEL = "diesel"
    LPG = "lpg"
    CNG = "cng"
    ELECTRIC = "electric"
    HYBRID_PETROL = "hybrid_petrol"
    HYBRID_DIESEL = "hybrid_diesel"
    HYDROGEN = "hydrogen"


class VehicleRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The vehicle registry's (DIV's) answer for a plate."""

    plate: str
    """Normalised (upper-case letters and digits)."""
    country: str
    category: str
    """EU vehicle category: M1 (car), N1 (van), N2/N3 (lorries), M2/M3 (buses), L (two
    wheelers)..."""
    fuel: Fuel
    euro_norm: str | None
    """"euro1" .. "euro6", "euro6d", or None when the registry does not know it (the date of
    first registration then decides the class)."""
    first_registration: dt.date
    particle_filter: bool = False
    holder_id: str
    """A pseudonymous holder id (the same holder, the same id) for the licence register."""


class InsuranceRecord(msgspec.Struct, frozen=True, kw_only=True):
    plate: str
    country: str
    insured: bool
    insurer: str | None = None
    valid_until: dt.date | None = None


class LicenceRecord(msgspec.Struct, frozen=True, kw_only=True):
    holder_id: str
    valid: bool
    """False: withdrawn, expired or never held."""
    categories: tuple[str, ...] = ()
    """Driving-licence categories held (B, C, D, A ...)."""
    reason: str | None = None
    """Why not valid (withdrawn by a court, expired ...)."""


class RegistryError(Exception):
    """The registry could not answer (down, timed out): not the same as "no such vehicle"."""


class VehicleRegistry(abc.ABC):
    type_key: ClassVar[str]

    @abc.abstractmethod
    def vehicle(self, plate: str, country: str) -> VehicleRecord | None:
        """The vehicle behind a plate of ``country``; None when the registry has none."""


class InsuranceRegister(abc.ABC):
    type_key: ClassVar[str]

    @abc.abstractmethod
    def insurance(self, plate: str, country: str) -> InsuranceRecord | None: ...


class LicenceRegister(abc.ABC):
    type_key: ClassVar[str]

    @abc.abstractmethod
    def licence(self, holder_id: str) -> LicenceRecord | None: ...


class CrossBorderContact(abc.ABC):
    """The cross-border identification route: the national contact point asks the vehicle's
    registration state (EUCARIS) for the vehicle and its holder (directive 2015/413)."""

    type_key: ClassVar[str]

    @abc.abstractmethod
    def identify(self, plate: str, country: str) -> VehicleRecord | None: ...
