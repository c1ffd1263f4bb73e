"""A synthetic fleet derived from the plate: what the fakes answer (pure functions).

Every answer comes from a keyed hash of (seed, plate, question), so a plate always gets the
same vehicle, insurance and holder, and a simulated province's plates get a realistic mix:

- **Categories** (EU vehicle categories): the traffic mix of ``kruispunt.sim.fleet`` (cars
  80 %, vans 11 %, lorries 6 %, motorcycles 2 %, buses 1 %). Plates whose Belgian format
  says more (``M``/``S``: motorcycle or moped, ``O``: oldtimer) follow the format.
- **Fuel** of cars: ``FakeRegistrySettings.fuel_shares`` (default: Statbel's passenger car
  fleet of 1 August 2023, see ``settings.BELGIAN_CAR_FUELS``). Vans, lorries, buses and
  motorcycles have fixed mixes below (assumptions: vans mostly diesel, heavy vehicles
  diesel, motorcycles petrol).
- **First registration**: an age drawn from bands per fuel (assumed; the overall mean is
  about 9 years, as the Belgian car fleet's average age), counted back from 1 January of the
  reference year. Electric and hybrid cars are young; diesels older (diesel sales fell from
  2017).
- **Euro norm**: the norm in force on the date of first registration, by the EU acts'
  application dates (``LIGHT_DUTY``, ``HEAVY_DUTY``, ``MOTORCYCLES``): from the date a norm
  applied to new types it becomes more likely, linearly, until the date it applied to every
  new vehicle. Before the first norm: None (pre-Euro). Electric and hydrogen: None (no
  tailpipe norm). A share of records has no norm at all (``euro_unknown_rate``).
- **Holders**: a pseudonymous id (a hash, not the plate): ``hp-...`` a private holder,
  ``hc-...`` a company (a few thousand companies hold many vehicles each).
- **Insurance** and **licences**: ``uninsured_rate`` of the known vehicles are uninsured;
  ``no_licence_rate`` of private holders have no valid licence. Companies hold no licence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from kruispunt.plates.recognise import recognise
from kruispunt.plates.text import normalise
from kruispunt.registries.base import Fuel, InsuranceRecord, LicenceRecord, VehicleRecord
from kruispunt.registries.settings import FakeRegistrySettings

T = TypeVar("T")
Weights = Sequence[tuple[T, float]]


@dataclass(frozen=True, slots=True)
class NormStep:
    norm: str
    new_types: dt.date
    """From this date new type approvals had to meet the norm."""
    all_vehicles: dt.date
    """From this date every newly registered vehicle had to."""
    source: str


_D = dt.date
# Passenger cars (M1). The years are those of the EU acts' application to new types: Euro 1
# 1992, 2 1996, 3 2000, 4 2005, 5 2009, 6 2014, 6d 2020.
LIGHT_DUTY: tuple[NormStep, ...] = (
    NormStep("euro1", _D(1992, 7, 1), _D(1992, 12, 31), "Directive 91/441/EEC"),
    NormStep("euro2", _D(1996, 1, 1), _D(1997, 1, 1), "Directive 94/12/EC"),
    NormStep("euro3", _D(2000, 1, 1), _D(2001, 1, 1), "Directive 98/69/EC (stage 2000)"),
    NormStep("euro4", _D(2005, 1, 1), _D(2006, 1, 1), "Directive 98/69/EC (stage 2005)"),
    NormStep("euro5", _D(2009, 9, 1), _D(2011, 1, 1), "Regulation (EC) No 715/2007"),
    NormStep("euro6", _D(2014, 9, 1), _D(2015, 9, 1), "Regulation (EC) No 715/2007"),
    NormStep("euro6d", _D(2020, 1, 1), _D(2021, 1, 1),
             "Regulation (EU) 2017/1151 as amended by Regulation (EU) 2018/1832"),
)  # fmt: skip
# Lorries and buses (Euro I..VI, reported here as euro1..euro6).
HEAVY_DUTY: tuple[NormStep, ...] = (
    NormStep("euro1", _D(1992, 7, 1), _D(1993, 10, 1), "Directive 91/542/EEC (stage A)"),
    NormStep("euro2", _D(1995, 10, 1), _D(1996, 10, 1), "Directive 91/542/EEC (stage B)"),
    NormStep("euro3", _D(2000, 10, 1), _D(2001, 10, 1), "Directive 1999/96/EC"),
    NormStep("euro4", _D(2005, 10, 1), _D(2006, 10, 1), "Directive 2005/55/EC"),
    NormStep("euro5", _D(2008, 10, 1), _D(2009, 10, 1), "Directive 2005/55/EC"),
    NormStep("euro6", _D(2012, 12, 31), _D(2013, 12, 31), "Regulation (EC) No 595/2009"),
)
MOTORCYCLES: tuple[NormStep, ...] = (
    NormStep("euro1", _D(1999, 6, 17), _D(1999, 6, 17), "Directive 97/24/EC"),
    NormStep("euro2", _D(2003, 4, 1), _D(2004, 7, 1), "Directive 2002/51/EC"),
    NormStep("euro3", _D(2006, 1, 1), _D(2007, 1, 1), "Directive 2002/51/EC"),
    NormStep("euro4", _D(2016, 1, 1), _D(2017, 1, 1), "Regulation (EU) No 168/2013"),
    NormStep("euro5", _D(2020, 1, 1), _D(2021, 1, 1), "Regulation (EU) No 168/2013"),
)

CATEGORIES: Weights[str] = (
    ("M1", 0.80), ("N1", 0.11), ("N2", 0.02), ("N3", 0.04), ("L", 0.02), ("M2", 0.002),
    ("M3", 0.008),
)  # fmt: skip
HEAVY = frozenset({"N2", "N3", "M2", "M3"})
VAN_FUELS: Weights[Fuel] = (
    (Fuel.DIESEL, 0.85), (Fuel.PETROL, 0.08), (Fuel.ELECTRIC, 0.05), (Fuel.CNG, 0.02),
)  # fmt: skip
HEAVY_FUELS: Weights[Fuel] = ((Fuel.DIESEL, 0.96), (Fuel.CNG, 0.02), (Fuel.ELECTRIC, 0.02))
MOTORCYCLE_FUELS: Weights[Fuel] = ((Fuel.PETROL, 0.95), (Fuel.ELECTRIC, 0.05))

# Age bands in whole years (low, high inclusive) and their weights, per kind of fuel.
Band = tuple[int, int]
AGES_DEFAULT: Weights[Band] = (
    ((0, 2), 20), ((3, 5), 20), ((6, 9), 21), ((10, 14), 20), ((15, 19), 12), ((20, 29), 5.5),
    ((30, 45), 1.5),
)  # fmt: skip
AGES_DIESEL: Weights[Band] = (
    ((0, 2), 5), ((3, 5), 14), ((6, 9), 28), ((10, 14), 31), ((15, 19), 15), ((20, 29), 6),
    ((30, 45), 1),
)  # fmt: skip
AGES_HYBRID: Weights[Band] = (((0, 2), 45), ((3, 5), 35), ((6, 9), 15), ((10, 14), 5))
AGES_ELECTRIC: Weights[Band] = (((0, 2), 55), ((3, 5), 35), ((6, 9), 9), ((10, 13), 1))
AGES_OLDTIMER: Weights[Band] = (((25, 35), 60), ((36, 50), 30), ((51, 70), 10))
AGES: dict[Fuel, Weights[Band]] = {
    Fuel.DIESEL: AGES_DIESEL,
    Fuel.HYBRID_PETROL: AGES_HYBRID,
    Fuel.HYBRID_DIESEL: AGES_HYBRID,
    Fuel.ELECTRIC: AGES_ELECTRIC,
    Fuel.HYDROGEN: AGES_ELECTRIC,
}

INSURERS: Weights[str] = (
    ("AG Insurance", 20), ("AXA Belgium", 15), ("Ethias", 12), ("KBC Verzekeringen", 12),
    ("P&V", 8), ("Baloise Insurance", 8), ("Allianz Benelux", 7), ("Belfius Insurance", 7),
    ("Federale Verzekering", 5), ("DVV Verzekeringen", 6),
)  # fmt: skip
NO_LICENCE_REASONS: Weights[str] = (
    ("withdrawn by a court", 0.6), ("expired", 0.25), ("never held", 0.15),
)  # fmt: skip
COMPANIES = 5000  # company holders share this many ids
NO_ENGINE_FORMATS = frozenset({"BE.trailer"})
L_FORMATS = frozenset({"BE.motorcycle", "BE.moped"})
DIESELS = frozenset({Fuel.DIESEL, Fuel.HYBRID_DIESEL})
NO_TAILPIPE = frozenset({Fuel.ELECTRIC, Fuel.HYDROGEN})
PRIVATE, COMPANY = "hp-", "hc-"


def unit(seed: str, *parts: str) -> float:
    """A number in [0, 1) that depends only on the seed and the parts."""
    digest = hashlib.blake2b("\x1f".join((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(u: float, weights: Weights[T]) -> T:
    """The item whose slice of the cumulative weights holds ``u`` (in [0, 1))."""
    total = sum(w for _, w in weights)
    edge = u * total
    for item, weight in weights:
        edge -= weight
        if edge < 0:
            return item
    return weights[-1][0]


def norm_on(day: dt.date, steps: Sequence[NormStep], u: float) -> str | None:
    """The Euro norm of a vehicle first registered on ``day``: the newest one in force for
    every vehicle, or, inside a norm's transition (new types first), the new one with a
    probability growing from 0 to 1 over the transition. None before the first norm."""
    previous: str | None = None
    for step in steps:
        if day >= step.all_vehicles:
            previous = step.norm
            continue
        if day >= step.new_types:
            span = (step.all_vehicles - step.new_types).days
            share = (day - step.new_types).days / span if span else 1.0
            return step.norm if u < share else previous
        return previous
    return previous


def norm_steps(category: str) -> Sequence[NormStep]:
    if category in HEAVY:
        return HEAVY_DUTY
    return MOTORCYCLES if category == "L" else LIGHT_DUTY


class Fleet:
    """The fakes' answers for one configuration (pure: no state besides the parameters)."""

    def __init__(self, settings: FakeRegistrySettings, *, today: dt.date | None = None):
        self.settings = settings
        self.seed = settings.seed
        year = settings.reference_year or (today or dt.date.today()).year
        self.reference = dt.date(year, 1, 1)  # stable for a year: same plate, same answer
        self.car_fuels: Weights[Fuel] = tuple(settings.fuel_shares.items())

    def _u(self, *parts: str) -> float:
        return unit(self.seed, *parts)

    # -- vehicles ---------------------------------------------------------------------------
    def vehicle(self, plate: str, country: str) -> VehicleRecord | None:
        """The vehicle registered under ``plate`` in ``country``, or None (unknown)."""
        plate, country = normalise(plate), country.upper()
        if not plate or self._u("unknown", country, plate) < self.settings.unknown_rate:
            return None
        fmt = recognise(plate, country).format if country == "BE" else None
        if country == "BE" and (fmt is None or fmt in NO_ENGINE_FORMATS):
            return None  # not a Belgian plate (a misread), or a trailer: no engine to record
        category = "L" if fmt in L_FORMATS else pick(self._u("category", country, plate),
                                                      CATEGORIES)  # fmt: skip
        fuel = pick(self._u("fuel", country, plate), self._fuels(category))
        ages = AGES.get(fuel, AGES_DEFAULT)
        if fmt == "BE.oldtimer":  # at least 25 years old: no electric or hybrid yet
            fuel = Fuel.DIESEL if fuel in DIESELS else Fuel.PETROL
            ages = AGES_OLDTIMER
        first = self._first_registration(plate, country, ages)
        norm = self._norm(plate, country, category, fuel, first)
        return VehicleRecord(
            plate=plate, country=country, category=category, fuel=fuel, euro_norm=norm,
            first_registration=first,
            particle_filter=self._particle_filter(plate, country, category, fuel, norm),
            holder_id=self._holder(plate, country, category),
        )  # fmt: skip

    def _fuels(self, category: str) -> Weights[Fuel]:
        if category in HEAVY:
            return HEAVY_FUELS
        if category == "L":
            return MOTORCYCLE_FUELS
        return VAN_FUELS if category == "N1" else self.car_fuels

    def _first_registration(self, plate: str, country: str, ages: Weights[Band]) -> dt.date:
        low, high = pick(self._u("age-band", country, plate), ages)
        years = low + self._u("age", country, plate) * (high + 1 - low)
        day = self.reference - dt.timedelta(days=max(1, int(years * 365.25)))
        return max(day, dt.date(1950, 1, 1))

    def _norm(
        self, plate: str, country: str, category: str, fuel: Fuel, first: dt.date
    ) -> str | None:
        if fuel in NO_TAILPIPE:
            return None
        if self._u("euro-unknown", country, plate) < self.settings.euro_unknown_rate:
            return None
        return norm_on(first, norm_steps(category), self._u("euro", country, plate))

    def _particle_filter(
        self, plate: str, country: str, category: str, fuel: Fuel, norm: str | None
    ) -> bool:
        """Diesels: from Euro 5 (light) or Euro VI (heavy) the particle limits need a
        filter; some Euro 4 and a few Euro 3 diesels have one (factory or retrofitted)."""
        if fuel not in DIESELS or norm is None:
            return False
        if norm in ("euro5", "euro6", "euro6d"):
            return category not in HEAVY or norm == "euro6"
        share = {"euro4": 0.3, "euro3": 0.05}.get(norm, 0.0)
        return self._u("dpf", country, plate) < share

    def _holder(self, plate: str, country: str, category: str) -> str:
        company_share = {"N1": 0.6}.get(category, 1.0 if category in HEAVY else None)
        share = self.settings.company_share if company_share is None else company_share
        if self._u("company", country, plate) < share:
            number = int(self._u("company-id", country, plate) * COMPANIES)
            return COMPANY + _digest(self.seed, "company", str(number))
        return PRIVATE + _digest(self.seed, "holder", country, plate)

    # -- insurance --------------------------------------------------------------------------
    def insurance(self, plate: str, country: str) -> InsuranceRecord | None:
        """The liability insurance of a known vehicle; None when the vehicle is unknown.
        Insured: no end date (Belgian policies renew tacitly each year). Uninsured: the
        end of the lapsed policy, or none (never insured)."""
        vehicle = self.vehicle(plate, country)
        if vehicle is None:
            return None
        plate, country = vehicle.plate, vehicle.country
        if self._u("uninsured", country, plate) >= self.settings.uninsured_rate:
            insurer = pick(self._u("insurer", country, plate), INSURERS)
            return InsuranceRecord(plate=plate, country=country, insured=True, insurer=insurer)
        lapsed = self._u("lapsed", country, plate)
        ended = None if lapsed < 0.3 else self.reference - dt.timedelta(days=int(lapsed * 400))
        return InsuranceRecord(plate=plate, country=country, insured=False, valid_until=ended)

    # -- licences ---------------------------------------------------------------------------
    def licence(self, holder_id: str) -> LicenceRecord | None:
        """The driving licence of a private holder; None for a company or an unknown id."""
        if not holder_id.startswith(PRIVATE):
            return None
        if self._u("no-licence", holder_id) < self.settings.no_licence_rate:
            reason = pick(self._u("no-licence-reason", holder_id), NO_LICENCE_REASONS)
            held = () if reason == "never held" else ("B",)
            return LicenceRecord(holder_id=holder_id, valid=False, categories=held, reason=reason)
        u = self._u("licence-categories", holder_id)
        categories = ("B",) + (("A",) if u < 0.2 else ()) + (("C",) if u < 0.05 else ())
        return LicenceRecord(holder_id=holder_id, valid=True, categories=categories)


def _digest(seed: str, *parts: str) -> str:
    return hashlib.blake2b("\x1f".join((seed, *parts)).encode(), digest_size=8).hexdigest()
