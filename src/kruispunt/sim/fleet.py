"""A simulated fleet: who drives in the province, where they live, what they drive.

The share of foreign plates is data per municipality: Dutch plates are common along the
Dutch border (Baarle-Hertog is a set of enclaves inside the Netherlands) and in Antwerp,
which also sees French, German and Luxembourg plates.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from kruispunt.sim.plates_gen import plate_for

VehicleClass = Literal["car", "van", "truck", "bus", "motorcycle"]

CLASS_WEIGHTS: dict[VehicleClass, int] = {
    "car": 80,
    "van": 11,
    "truck": 6,
    "motorcycle": 2,
    "bus": 1,
}
MAKES: dict[VehicleClass, tuple[tuple[str, int], ...]] = {
    "car": (
        ("Volkswagen", 14),
        ("BMW", 9),
        ("Renault", 8),
        ("Peugeot", 8),
        ("Mercedes-Benz", 8),
        ("Toyota", 7),
        ("Audi", 7),
        ("Opel", 6),
        ("Ford", 6),
        ("Skoda", 6),
        ("Citroën", 5),
        ("Volvo", 5),
        ("Kia", 5),
        ("Hyundai", 4),
        ("Tesla", 2),
    ),
    "van": (
        ("Volkswagen", 5),
        ("Ford", 4),
        ("Mercedes-Benz", 4),
        ("Renault", 3),
        ("Peugeot", 2),
        ("Citroën", 2),
    ),
    "truck": (("DAF", 5), ("Scania", 4), ("Volvo", 4), ("Mercedes-Benz", 3), ("MAN", 3)),
    "bus": (("Van Hool", 3), ("VDL", 3), ("Mercedes-Benz", 2)),
    "motorcycle": (("BMW", 3), ("Honda", 3), ("Yamaha", 3), ("Kawasaki", 2), ("Triumph", 1)),
}
HOME_MAKE_BONUS: dict[str, dict[str, int]] = {
    "FR": {"Renault": 10, "Peugeot": 10, "Citroën": 8},
    "DE": {"Volkswagen": 8, "BMW": 5, "Mercedes-Benz": 5, "Audi": 5},
}
COLOURS: tuple[tuple[str, int], ...] = (
    ("grey", 22),
    ("black", 20),
    ("white", 20),
    ("blue", 12),
    ("silver", 10),
    ("red", 8),
    ("green", 3),
    ("brown", 3),
    ("beige", 1),
    ("yellow", 1),
)

# Foreign plates among the vehicles based in a municipality (the rest is Belgian).
DEFAULT_FOREIGN: dict[str, float] = {"NL": 0.02, "FR": 0.006, "DE": 0.005, "LU": 0.001}
FOREIGN_SHARES: dict[str, dict[str, float]] = {
    "Baarle-Hertog": {"NL": 0.6},  # enclaves: most traffic is Baarle-Nassau's
    "Hoogstraten": {"NL": 0.25},
    "Wuustwezel": {"NL": 0.18},
    "Brecht": {"NL": 0.15},
    "Turnhout": {"NL": 0.10},
    "Oud-Turnhout": {"NL": 0.10},
    "Beerse": {"NL": 0.07},
    "Brasschaat": {"NL": 0.06},
    "Malle": {"NL": 0.05},
    "Antwerpen": {"NL": 0.07, "FR": 0.035, "DE": 0.012, "LU": 0.004},
}
# Only part of the city's traffic passes its camera rings: cap its weight as a home. Small
# municipalities still see the traffic of a small town (through traffic, neighbours).
HOME_POPULATION_CAP = 150_000
HOME_POPULATION_FLOOR = 12_000


@dataclass(frozen=True, slots=True)
class Home:
    nis: str
    name: str
    zone_id: str | None
    population: int


@dataclass(frozen=True, slots=True)
class Vehicle:
    index: int
    plate: str  # as printed on the plate
    country: str
    home_nis: str
    home_zone: str | None
    vehicle_class: VehicleClass
    make: str
    colour: str
    activity: float  # relative number of trips
    speed_factor: float  # habitual speed relative to the traffic (a few speed)


def foreign_shares(municipality: str) -> dict[str, float]:
    return {**DEFAULT_FOREIGN, **FOREIGN_SHARES.get(municipality, {})}


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]] | Mapping[str, float]) -> str:
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


def _country(rng: random.Random, home: Home) -> str:
    shares = foreign_shares(home.name)
    return _weighted(rng, {**shares, "BE": max(0.0, 1.0 - sum(shares.values()))})


def _make(rng: random.Random, vclass: VehicleClass, country: str) -> str:
    bonus = HOME_MAKE_BONUS.get(country, {})
    return _weighted(rng, [(m, w + bonus.get(m, 0)) for m, w in MAKES[vclass]])


def _clamp(v: float, lo: float = 0.85, hi: float = 1.15) -> float:
    return max(lo, min(hi, v))


def build_fleet(homes: Sequence[Home], size: int, rng: random.Random) -> tuple[Vehicle, ...]:
    """``size`` vehicles with unique plates, based in ``homes`` in proportion to population."""
    weights = [min(max(h.population, HOME_POPULATION_FLOOR), HOME_POPULATION_CAP) for h in homes]
    classes = list(CLASS_WEIGHTS)
    seen: set[str] = set()
    fleet = []
    for index in range(size):
        home = rng.choices(homes, weights=weights)[0]
        country = _country(rng, home)
        plate = plate_for(country, rng)
        while plate in seen:
            plate = plate_for(country, rng)
        seen.add(plate)
        vclass = rng.choices(classes, weights=list(CLASS_WEIGHTS.values()))[0]
        speeder = rng.random() < 0.04
        fleet.append(
            Vehicle(
                index=index,
                plate=plate,
                country=country,
                home_nis=home.nis,
                home_zone=home.zone_id,
                vehicle_class=vclass,
                make=_make(rng, vclass, country),
                colour=_weighted(rng, COLOURS),
                activity=rng.lognormvariate(0.0, 0.8) * (3.0 if vclass == "van" else 1.0),
                speed_factor=rng.uniform(1.2, 1.35) if speeder else _clamp(rng.gauss(1.0, 0.06)),
            )
        )
    return tuple(fleet)
