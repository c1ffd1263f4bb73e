"""Multi-location: vehicles seen at several incident sites, each in its own window (pure).

Three burglaries in three zones: which vehicles passed near more than one of them? For each
site the store gives the vehicles its cameras read in the site's window; a vehicle is ranked
by the number of sites it appears at, then by how many reads in all, then by plate. A vehicle
at one site only is no link, so ``min_sites`` is at least 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec


class SiteVehicle(msgspec.Struct, frozen=True, kw_only=True):
    """A vehicle's reads at one site (or in one place-and-time window)."""

    plate: str
    country: str | None
    reads: int
    first_us: int
    last_us: int
    cameras: list[str]


class Sighting(msgspec.Struct, frozen=True, kw_only=True):
    site: int
    """Index of the site in the request."""
    label: str | None
    reads: int
    first_us: int
    last_us: int
    cameras: list[str]


class MultiSiteVehicle(msgspec.Struct, frozen=True, kw_only=True):
    plate: str
    country: str | None
    sites: int
    reads: int
    sightings: list[Sighting]


def rank_multi_site(
    per_site: Sequence[Mapping[str, SiteVehicle]],
    labels: Sequence[str | None],
    *,
    min_sites: int = 2,
    limit: int = 500,
) -> list[MultiSiteVehicle]:
    """Vehicles at ``min_sites`` sites or more, best first. ``per_site[i]``: plate -> the
    vehicle's reads at site ``i``."""
    if min_sites < 2:
        raise ValueError("min_sites: at least 2 (one site links nothing)")
    if len(labels) != len(per_site):
        raise ValueError("one label per site")
    sightings: dict[str, list[Sighting]] = {}
    country: dict[str, str | None] = {}
    for site, vehicles in enumerate(per_site):
        for plate, v in vehicles.items():
            sightings.setdefault(plate, []).append(
                Sighting(
                    site=site,
                    label=labels[site],
                    reads=v.reads,
                    first_us=v.first_us,
                    last_us=v.last_us,
                    cameras=v.cameras,
                )
            )
            country[plate] = country.get(plate) or v.country
    out = [
        MultiSiteVehicle(
            plate=plate,
            country=country[plate],
            sites=len(seen),
            reads=sum(s.reads for s in seen),
            sightings=seen,
        )
        for plate, seen in sightings.items()
        if len(seen) >= min_sites
    ]
    out.sort(key=lambda v: (-v.sites, -v.reads, v.plate))
    return out[:limit]
