"""A hit: a read that matched a hotlist entry, and what the operators did with it."""

from __future__ import annotations

import enum
import hashlib

import msgspec

from kruispunt.hotlists.models import Category, Scope


class MatchKind(enum.StrEnum):
    EXACT = "exact"
    POSSIBLE = "possible"  # a confusable-character match: verify the image


class HitStatus(enum.StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    CLOSED = "closed"


class Outcome(enum.StrEnum):
    INTERCEPTED = "intercepted"
    VEHICLE_NOT_FOUND = "vehicle_not_found"
    MISREAD = "misread"
    ENTRY_OUT_OF_DATE = "entry_out_of_date"
    OTHER = "other"


class Hit(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a recipient may need about one match; never the vehicle's history.

    ``seq`` is the hit log's own sequence number (assigned when stored; 0 before), used by
    live clients to catch up after a reconnect.
    """

    id: str
    seq: int = 0
    created_us: int
    kind: MatchKind
    historic: bool  # raised by a retroactive search, not live
    late: bool  # the read arrived long after its capture (back-fill)
    # the read
    read_seq: int
    read_id: str
    camera_id: str
    camera_zone_id: str
    captured_us: int
    plate_read: str  # as the camera read it
    plate: str  # normalised
    country: str | None
    confidence: float
    image_ref: str | None
    # the entry
    entry_id: str
    list_id: str
    owner_zone_id: str
    entry_plate: str
    category: Category
    action: str
    warnings: tuple[str, ...]
    scope: Scope
    # the workflow
    status: HitStatus = HitStatus.NEW
    outcome: Outcome | None = None


def hit_id(camera_id: str, read_id: str, entry_id: str) -> str:
    """Deterministic: the same read matched against the same entry is the same hit, however
    often the log is re-processed."""
    digest = hashlib.sha256(f"{camera_id}\x1f{read_id}\x1f{entry_id}".encode()).hexdigest()
    return f"h-{digest[:24]}"


class HitEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a hit's workflow, timestamped and attributed."""

    hit_id: str
    at_us: int
    actor: str  # user id
    actor_zone_id: str
    status: HitStatus
    outcome: Outcome | None = None
    note: str = ""
