"""The ``registries`` section of the configuration: which adapter answers for each registry
(a type key), how long its answers are cached, how look-ups are audited, the fakes' fleet,
and the ``registry_checks`` processor.

Imported by ``kruispunt.config`` (so it imports nothing of the node's own but the domain),
which is why the configuration's shared pieces (``Strict``, ``TimeZone``) are defined here;
``kruispunt.config`` offers them again.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from kruispunt.domain.cameras import Purpose
from kruispunt.registries.base import Fuel


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def valid_timezone(value: str) -> str:
    """``value`` if it names an IANA time zone; a ValueError if not."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


TimeZone = Annotated[str, AfterValidator(valid_timezone)]
"""An IANA time zone name (``Europe/Brussels``), checked when given."""


class RegistrySettings(Strict):
    """One registry: its adapter and its cache."""

    type: Literal["fake"] = Field(
        "fake",
        description="Adapter type key. 'fake': the deterministic fake shipped in the package "
        "(tests, the demo, a node without a registry connection). A real adapter adds its "
        "key here and its own settings model beside ``fake``.",
    )
    ttl_s: float = Field(
        3600.0, ge=0, le=7 * 86_400, description="How long a found record is cached (0: never)."
    )
    negative_ttl_s: float = Field(
        300.0,
        ge=0,
        le=86_400,
        description="How long a 'none' answer is cached (shorter: a plate just registered, a "
        "policy just taken out). At most ttl_s.",
    )
    max_entries: int = Field(
        100_000, ge=0, le=10_000_000, description="Answers cached at most (least recent out)."
    )
    breaker_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description="After this many failed look-ups in a row the registry counts as down.",
    )
    breaker_open_s: float = Field(
        30.0,
        ge=0.1,
        le=3600,
        description="While down, look-ups fail at once (no call) for this long; then one is "
        "let through to see whether it is back.",
    )

    @model_validator(mode="after")
    def _negative_shorter(self) -> RegistrySettings:
        if self.negative_ttl_s > self.ttl_s:
            raise ValueError("negative_ttl_s: at most ttl_s")
        return self


# Passenger cars by fuel on 1 August 2023 (Statbel, the Belgian statistical office, vehicle
# fleet 2023: 6,030,700 cars; petrol 3,096,253; diesel 2,201,549; hybrid 537,817; electric
# 138,749; gas 20,373). The hybrids' split (90 % petrol) follows Statbel's 2019 remark that
# about 92 % of hybrids were petrol-electric; the gas split between LPG and CNG is assumed.
BELGIAN_CAR_FUELS: dict[Fuel, float] = {
    Fuel.PETROL: 0.5134,
    Fuel.DIESEL: 0.3651,
    Fuel.HYBRID_PETROL: 0.0803,
    Fuel.HYBRID_DIESEL: 0.0089,
    Fuel.ELECTRIC: 0.0230,
    Fuel.LPG: 0.0024,
    Fuel.CNG: 0.0010,
    Fuel.HYDROGEN: 0.0001,
}


class FakeRegistrySettings(Strict):
    """The fakes (type key ``fake``): every answer derives from a seeded hash of the plate
    (or holder), so the same plate always gets the same vehicle, insurance and holder."""

    seed: str = Field("kruispunt", min_length=1, description="Another seed, another fleet.")
    unknown_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Well-formed plates the registry does not know (trade plates, misreads "
        "of a valid format, plates handed back).",
    )
    uninsured_rate: float = Field(
        0.008, ge=0, le=1, description="Known vehicles without valid liability insurance."
    )
    no_licence_rate: float = Field(
        0.005,
        ge=0,
        le=1,
        description="Private holders without a valid driving licence (withdrawn, expired, "
        "never held).",
    )
    company_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Vehicles held by a company (no licence to check). Statbel 2023: 20 % "
        "of passenger cars are registered by enterprises.",
    )
    euro_unknown_rate: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Records without a Euro norm (the date of first registration decides).",
    )
    fuel_shares: dict[Fuel, float] = Field(
        default_factory=lambda: dict(BELGIAN_CAR_FUELS),
        description="Passenger cars by fuel (normalised to 1). Vans, lorries, buses and "
        "motorcycles have their own fixed mix.",
    )
    failure_rate: float = Field(
        0.0, ge=0, le=1, description="Look-ups that fail with RegistryError (resilience tests)."
    )
    cross_border_countries: tuple[str, ...] = Field(
        ("NL", "FR", "DE", "LU"),
        description="Registration states the fake contact point answers for.",
    )
    reference_year: int | None = Field(
        None,
        ge=1990,
        le=2100,
        description="The fleet's 'now' (vehicle ages count back from it). Unset: this year.",
    )

    @field_validator("fuel_shares")
    @classmethod
    def _shares(cls, value: dict[Fuel, float]) -> dict[Fuel, float]:
        if any(share < 0 for share in value.values()) or sum(value.values()) <= 0:
            raise ValueError("shares must be 0 or more, and not all 0")
        return value

    @field_validator("cross_border_countries")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(c.upper() for c in value)
        if any(len(c) != 2 or not c.isalpha() for c in upper):
            raise ValueError("ISO 3166 alpha-2 codes")
        return upper


CheckName = Literal["uninsured", "no_valid_licence"]


class ChecksSettings(Strict):
    """The ``registry_checks`` processor (enable it in ``processors.enabled``)."""

    checks: tuple[CheckName, ...] = Field(
        ("uninsured", "no_valid_licence"), description="Which checks run."
    )
    purposes: tuple[Purpose, ...] = Field(
        (Purpose.POLICE,),
        description="Reads of cameras with one of these purposes are checked (purpose "
        "limitation: a LEZ or statistics camera is not a police check).",
    )
    countries: tuple[str, ...] = Field(
        ("BE",), description="Plates of these countries are checked (the registers are Belgian)."
    )
    min_confidence: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Minimum confidence of the system lists: a misread must not send an "
        "officer after someone else's vehicle. A zone may change it on its list.",
    )
    max_read_age_s: int = Field(
        3600,
        ge=60,
        le=7 * 86_400,
        description="Reads captured longer ago than this are not looked up: a stop needs the "
        "vehicle nearby, and a consultation needs a use.",
    )
    owner: Literal["camera_zone", "network"] = Field(
        "camera_zone",
        description="Who owns the system lists, and so receives the hits: the zone of the "
        "camera that saw the vehicle (scope own_zone), or the network (scope network: every "
        "zone).",
    )
    timezone: TimeZone = Field(
        "Europe/Brussels", description="The day of 'one hit per vehicle per day per check'."
    )
    uninsured_action: str = Field(
        "Not insured according to the insurance register: stop and check the insurance "
        "certificate.",
        min_length=1,
        max_length=500,
    )
    no_valid_licence_action: str = Field(
        "The registered holder has no valid driving licence: stop and check the driver's licence.",
        min_length=1,
        max_length=500,
    )
    uninsured_legal_basis: str = Field(
        "Wet van 21 november 1989 betreffende de verplichte aansprakelijkheidsverzekering "
        "inzake motorrijtuigen, art. 2 en 22",
        min_length=1,
    )
    no_valid_licence_legal_basis: str = Field(
        "Wegverkeerswet van 16 maart 1968, art. 30", min_length=1
    )

    @field_validator("countries")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(c.upper() for c in value)

    @field_validator("checks")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a check may be listed once")
        return value


class RegistriesConfig(Strict):
    vehicles: RegistrySettings = Field(
        RegistrySettings(ttl_s=86_400, negative_ttl_s=3600),
        description="The vehicle registry (DIV): changes rarely.",
    )
    insurance: RegistrySettings = Field(
        RegistrySettings(ttl_s=4 * 3600, negative_ttl_s=900),
        description="The insurance register: a policy can end any day.",
    )
    licences: RegistrySettings = Field(
        RegistrySettings(ttl_s=3600, negative_ttl_s=600),
        description="The driving-licence register: a court withdraws a licence at once.",
    )
    cross_border: RegistrySettings = Field(
        RegistrySettings(ttl_s=86_400, negative_ttl_s=3600),
        description="The cross-border route (national contact point, EUCARIS).",
    )
    fake: FakeRegistrySettings = FakeRegistrySettings()
    audit_batch_max: int = Field(
        500,
        ge=1,
        le=100_000,
        description="Look-up audit records written in one transaction at most; a full batch "
        "is written at once.",
    )
    audit_flush_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Look-up audit records wait at most this long for their transaction.",
    )
    checks: ChecksSettings = ChecksSettings()
