"""What searches take and give (the API's bodies; msgspec, documented in the OpenAPI spec).

Every request says why (``purpose``, ``case``, ``reason``: the access gate refuses a vague
reason) and when (``since``/``until``, ISO 8601 with an offset; capture times). Every
response carries the gate's ``decision``: the windows read, the zones read, what was cut from
the period and why (``complete`` false when something was cut).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.search.convoy import Companion
from kruispunt.search.journey import Trip
from kruispunt.search.multisite import MultiSiteVehicle, SiteVehicle

Time = Annotated[dt.datetime, msgspec.Meta(tz=True, description="ISO 8601 with a UTC offset.")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Ids = Annotated[list[str], msgspec.Meta(max_length=500)]
Zones = Annotated[list[str], msgspec.Meta(max_length=50)]
Attribute = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Area = Annotated[
    dict[str, Any],
    msgspec.Meta(description="A GeoJSON Polygon or MultiPolygon (or a Feature of one), lon/lat."),
]
PlateText = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=32,
        description="An exact plate, or a partial one: '?' one unknown character, '*' any "
        "run of them (1-AB?-12*). Separators and case do not matter.",
    ),
]  # fmt: skip
EXACT_PLATE = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Direction = Literal["approaching", "receding", "unknown"]


class Why(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    purpose: Text
    case: Text
    reason: Reason
    approval_id: Annotated[
        str | None, msgspec.Meta(description="A supervisor's approval of a wide search.")
    ] = None


class Filtered(Why, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A search with attribute filters: only reads whose camera gave these attributes
    (reads without them are left out)."""

    country: Annotated[str, msgspec.Meta(min_length=1, max_length=3)] | None = None
    direction: Direction | None = None
    vehicle_class: Attribute | None = None
    make: Attribute | None = None
    colour: Attribute | None = None


class PlateSearchIn(Filtered, frozen=True, kw_only=True, forbid_unknown_fields=True):
    plate: PlateText
    since: Time | None = None
    """Default: seven days before ``until``."""
    until: Time | None = None
    """Default: now."""
    confusable: Annotated[
        bool, msgspec.Meta(description="Also plates differing by OCR-confusable characters.")
    ] = False
    cameras: Ids = []
    zones: Zones = []
    area: Area | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    cursor: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class EvidenceIn(PlateSearchIn, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seqs: Annotated[
        list[int], msgspec.Meta(max_length=1000, description="Only these reads (empty: all).")
    ] = []


class PlaceTimeIn(Filtered, frozen=True, kw_only=True, forbid_unknown_fields=True):
    since: Time
    until: Time
    cameras: Ids = []
    zones: Zones = []
    area: Area | None = None
    list: Annotated[
        bool, msgspec.Meta(description="Also list the vehicles (when within the list cap).")
    ] = False
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 500
    cursor: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class SiteIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    since: Time
    until: Time
    label: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    cameras: Ids = []
    zones: Zones = []
    area: Area | None = None


class MultiSiteIn(Why, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sites: Annotated[list[SiteIn], msgspec.Meta(min_length=2, max_length=10)]
    min_sites: Annotated[int, msgspec.Meta(ge=2, le=10)] = 2
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200


class ConvoyIn(Why, frozen=True, kw_only=True, forbid_unknown_fields=True):
    plate: EXACT_PLATE
    since: Time | None = None
    until: Time | None = None
    zones: Zones = []
    gap_s: Annotated[int, msgspec.Meta(ge=1, le=900)] = 60
    min_together: Annotated[int, msgspec.Meta(ge=2, le=1000)] = 2
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50


class JourneyIn(Why, frozen=True, kw_only=True, forbid_unknown_fields=True):
    plate: EXACT_PLATE
    since: Time | None = None
    until: Time | None = None
    zones: Zones = []
    trip_gap_s: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 1800


# -- responses ------------------------------------------------------------------------------
class CameraOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    zone_id: str
    lat: float
    lon: float
    road: str | None
    direction: str | None

    @classmethod
    def of(cls, c: Camera) -> CameraOut:
        return cls(id=c.id, name=c.name, zone_id=c.zone_id, lat=c.lat, lon=c.lon, road=c.road,
                   direction=c.direction)  # fmt: skip


class ReadOut(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    read_id: str
    camera_id: str
    zone_id: str
    captured_us: int
    captured_at: str
    plate: str
    plate_raw: str
    country: str | None
    confidence: float
    direction: str | None
    lane: int | None
    vehicle_class: str | None
    make: str | None
    colour: str | None
    has_image: bool
    match: Literal["exact", "pattern", "confusable"]

    @classmethod
    def of(cls, r: Read, match: str) -> ReadOut:
        return cls(
            seq=r.seq, read_id=r.read_id, camera_id=r.camera_id, zone_id=r.zone_id,
            captured_us=r.captured_us, captured_at=iso(r.captured_us), plate=r.plate,
            plate_raw=r.plate_raw, country=r.country, confidence=r.confidence,
            direction=r.direction, lane=r.lane, vehicle_class=r.vehicle_class, make=r.make,
            colour=r.colour, has_image=r.image_ref is not None,
            match=match,  # type: ignore[arg-type]
        )  # fmt: skip


class PlateSearchOut(msgspec.Struct, frozen=True, kw_only=True):
    decision: dict[str, Any]
    plate: str
    """The search plate as normalised (``?``/``*`` kept)."""
    kind: Literal["exact", "pattern"]
    confusable: bool
    reads: list[ReadOut]
    """Oldest first: the timeline."""
    cameras: list[CameraOut]
    """The cameras of these reads: where to put them on the map."""
    next_cursor: str | None
    not_visible: list[str] = []
    """Cameras named (or in the area) of zones the caller may not see: none of their reads
    were read."""
    not_police: list[str] = []
    """Cameras named (or in the area) registered without the police purpose (purpose
    limitation): none of their reads were read."""


class CameraCount(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    reads: int
    vehicles: int


class PlaceTimeCounts(msgspec.Struct, frozen=True, kw_only=True):
    reads: int
    vehicles: int
    cameras: list[CameraCount]


class PlaceTimeOut(msgspec.Struct, frozen=True, kw_only=True):
    decision: dict[str, Any]
    cameras: list[CameraOut]
    """Cameras searched."""
    counts: PlaceTimeCounts
    vehicles: list[SiteVehicle] | None
    """First seen first; None when not asked for or withheld."""
    withheld: str | None
    """Why the list is not given (too many vehicles: narrow the window or the cameras)."""
    next_cursor: str | None
    not_visible: list[str] = []
    """Cameras of zones the caller may not see: none of their reads were read."""
    not_police: list[str] = []
    """Cameras named (or in the area or zones) registered without the police purpose
    (purpose limitation): none of their reads were read."""


class SiteCount(msgspec.Struct, frozen=True, kw_only=True):
    site: int
    label: str | None
    cameras: list[str]
    reads: int
    vehicles: int
    decision: dict[str, Any]
    not_visible: list[str] = []
    not_police: list[str] = []
    """Cameras of the site registered without the police purpose: not read."""


class MultiSiteOut(msgspec.Struct, frozen=True, kw_only=True):
    sites: list[SiteCount]
    vehicles: list[MultiSiteVehicle]
    """Seen at ``min_sites`` sites or more; most sites first."""


class ConvoyOut(msgspec.Struct, frozen=True, kw_only=True):
    decision: dict[str, Any]
    plate: str
    passages: int
    """The target's passages looked around (repeated reads at one camera count once)."""
    truncated: bool
    """More passages than the cap: the newest were looked at."""
    companions: list[Companion]
    cameras: list[CameraOut]


class JourneyOut(msgspec.Struct, frozen=True, kw_only=True):
    decision: dict[str, Any]
    plate: str
    reads: int
    truncated: bool
    trips: list[Trip]
    cameras: list[CameraOut]
    distance_note: str = "distances are straight lines between cameras, so speeds are lower bounds"


def iso(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


def to_us(t: dt.datetime) -> int:
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


SCHEMAS = (
    PlateSearchIn, EvidenceIn, PlaceTimeIn, MultiSiteIn, ConvoyIn, JourneyIn, PlateSearchOut,
    PlaceTimeOut, MultiSiteOut, ConvoyOut, JourneyOut,
)  # fmt: skip
"""Bodies named in the search router's OpenAPI."""
