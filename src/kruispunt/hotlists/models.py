"""Hotlists and their entries: facts about vehicles that a zone, the federal police or a
partner wants to be alerted about."""

from __future__ import annotations

import enum

import msgspec


class Category(enum.StrEnum):
    STOLEN_VEHICLE = "stolen_vehicle"
    STOLEN_PLATE = "stolen_plate"
    WANTED_PERSON = "wanted_person"
    MISSING_PERSON = "missing_person"
    UNINSURED = "uninsured"
    NO_VALID_LICENCE = "no_valid_licence"
    NO_TECHNICAL_INSPECTION = "no_technical_inspection"
    INVESTIGATION = "investigation"  # investigation / observation: covert, owner only
    OTHER = "other"


COVERT_CATEGORIES = frozenset({Category.INVESTIGATION})


class ScopeKind(enum.StrEnum):
    OWN_ZONE = "own_zone"
    NAMED_ZONES = "named_zones"
    NETWORK = "network"
    PARTNERS = "partners"  # the network and its partner networks


class Scope(msgspec.Struct, frozen=True, kw_only=True):
    kind: ScopeKind
    zones: tuple[str, ...] = ()  # for NAMED_ZONES (the owner is always included)


class HotlistList(msgspec.Struct, frozen=True, kw_only=True):
    """A list: who owns it and how its entries match."""

    id: str
    name: str
    owner_zone_id: str
    description: str = ""
    min_confidence: float = 0.0  # reads below this never hit this list
    default_scope: Scope = Scope(kind=ScopeKind.OWN_ZONE)
    active: bool = True


class HotlistEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One flagged vehicle. ``expires_at_us`` (the weed date) is mandatory: nothing stays on a
    list forever. Times are UTC microseconds since the epoch."""

    id: str
    list_id: str
    plate_raw: str
    plate: str  # normalised (kruispunt.plates.normalise)
    country: str | None
    category: Category
    action: str  # what to do on a hit, e.g. "intercept", "observe, do not stop"
    warnings: tuple[str, ...] = ()  # e.g. "armed - do not stop alone"
    source: str  # where the fact comes from (ANG, PV number, insurer feed ...)
    legal_basis: str  # e.g. "WPA art. 44/1", a magistrate's order reference
    scope: Scope
    valid_from_us: int
    expires_at_us: int
    created_us: int
    created_by: str
    note: str = ""
