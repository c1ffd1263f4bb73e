"""Police zones, the federal police, the city, and the municipalities they cover.

The network's members are data (``data/network.json``); municipality boundaries come from the
packaged GeoJSON (Statbel; Provincies in Cijfers, see ``data/ATTRIBUTION.md``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import msgspec


class ZoneKind(enum.StrEnum):
    LOCAL_POLICE = "local_police"
    FEDERAL_POLICE = "federal_police"
    CITY = "city"
    PARTNER = "partner"


class Zone(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: ZoneKind
    police_zone_no: int | None = None
    pic_zone_id: str | None = None
    seed: bool = False


class Municipality(msgspec.Struct, frozen=True, kw_only=True):
    nis: str
    name: str
    zone_id: str | None
    pic_zone_id: str
    population_2020: int | None
    area_km2: float


def load_data_json(name: str) -> Any:
    """A JSON/GeoJSON file shipped inside the package."""
    return json.loads(resources.files("kruispunt.data").joinpath(name).read_text("utf-8"))


@cache
def network_zones() -> tuple[Zone, ...]:
    raw = load_data_json("network.json")["zones"]
    return tuple(msgspec.convert(z, Zone) for z in raw)


@cache
def municipalities() -> tuple[Municipality, ...]:
    """The municipalities of the province of Antwerp (2025 boundaries)."""
    by_pic = {z.pic_zone_id: z.id for z in network_zones() if z.pic_zone_id}
    out = []
    for feature in load_data_json("municipalities.geojson")["features"]:
        p = feature["properties"]
        out.append(
            Municipality(
                nis=str(p["nis"]),
                name=p["name_nl"],
                zone_id=by_pic.get(p["pic_zone_id"]),
                pic_zone_id=p["pic_zone_id"],
                population_2020=p.get("population_2020"),
                area_km2=float(p["area_km2"]),
            )
        )
    return tuple(out)


def zone_index(zones: Iterable[Zone] | None = None) -> dict[str, Zone]:
    return {z.id: z for z in (network_zones() if zones is None else zones)}


def seed_municipalities() -> tuple[Municipality, ...]:
    """The 17 municipalities of the 4 seed zones."""
    seed_ids = {z.id for z in network_zones() if z.seed}
    return tuple(m for m in municipalities() if m.zone_id in seed_ids)
