"""What leaves the node about hits: the recipient's view of a hit, its workflow, the pursuit
trail and the statistics. Built by ``kruispunt.hits.policy.view_for`` and ``HitService``."""

from __future__ import annotations

from typing import Annotated

import msgspec

from kruispunt.hits.models import HitEvent, HitStatus, MatchKind, Outcome
from kruispunt.hotlists.models import Category, Scope


class HitView(msgspec.Struct, frozen=True, kw_only=True):
    """One hit as one recipient sees it: what is needed to act, never the vehicle's history.

    ``list_id``, ``entry_id`` and ``scope`` are filled for the list's owner zone only.
    """

    id: str
    seq: int
    created_us: int
    kind: MatchKind
    verify_image: bool  # a confusable-character (possible) match: look at the image first
    historic: bool
    late: bool
    camera_id: str
    camera_zone_id: str
    captured_us: int
    plate_read: str
    plate: str
    country: str | None
    confidence: float
    image_ref: str | None
    owner_zone_id: str
    entry_plate: str
    category: Category
    action: str
    warnings: tuple[str, ...]
    status: HitStatus
    outcome: Outcome | None
    own_list: bool
    list_id: str | None = None
    entry_id: str | None = None
    scope: Scope | None = None


class HitDetail(msgspec.Struct, frozen=True, kw_only=True):
    hit: HitView
    events: list[HitEvent]


class HitPage(msgspec.Struct, frozen=True, kw_only=True):
    """``next_since``: pass it as ``since`` for the next page (the last hit seq looked at,
    which may be past the last hit shown: hits for other recipients are skipped)."""

    hits: list[HitView]
    next_since: int


Note = Annotated[str, msgspec.Meta(max_length=2000)]


class CloseIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    outcome: Outcome
    note: Note = ""


class StepIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: Note = ""


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """One camera the vehicle of an active hit passed (no image, no other vehicle data)."""

    camera_id: str
    zone_id: str
    captured_us: int
    direction: str | None
    lane: int | None


class Trail(msgspec.Struct, frozen=True, kw_only=True):
    hit_id: str
    since_us: int
    until_us: int
    passages: list[Passage]  # newest first


class Counts(msgspec.Struct, frozen=True, kw_only=True):
    """Aggregates over a set of hits. Times to acknowledge run from the hit's creation to its
    first workflow step (acknowledged, or closed straight away)."""

    hits: int
    exact: int
    possible: int
    historic: int
    open: int
    closed: int
    ack_median_s: float | None
    ack_p90_s: float | None
    outcomes: dict[str, int]
    misread_share: float | None  # misread / closed: the "drowning" indicator


class ZoneStats(msgspec.Struct, frozen=True, kw_only=True):
    zone_id: str  # the zone that received these hits
    counts: Counts


class ListStats(msgspec.Struct, frozen=True, kw_only=True):
    list_id: str
    owner_zone_id: str
    counts: Counts


class HitStats(msgspec.Struct, frozen=True, kw_only=True):
    since_us: int
    until_us: int
    zones: list[ZoneStats]
    lists: list[ListStats]
