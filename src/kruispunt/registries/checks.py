"""The registry checks' decision rules (pure): which reads are checked, what the registers'
answers mean, and how a finding becomes a hit.

**Findings.** Uninsured: the insurance register says the vehicle is not insured, or its
policy ended before the day of the read. No valid licence: the licence register says the
vehicle's registered holder (``VehicleRecord.holder_id``) holds no valid licence. No record
(an unknown plate, a company holder, a foreign vehicle) is no finding: the check cannot
judge, and a misread plate must not send an officer after a stranger.

**Routing.** Each check has a system hotlist per owner (``sys-<check>-<owner>``): the zone
of the camera that saw the vehicle (``owner = "camera_zone"``, scope own_zone: that zone's
operators and traffic officers receive the hit), or the network (``owner = "network"``,
scope network: every zone). The lists hold no entries. A finding is a *synthetic* entry,
made for the hit and never stored: it is not matched by the hotlist matcher and no list of
uninsured plates builds up. The hit carries the entry as the matcher's hits do (category,
action, warnings, scope), so ``kruispunt.hits.policy`` routes it like any other.
A zone switches a check off by deactivating its system list, and sets the minimum read
confidence on it.

**Once a day.** The entry id derives from (check, country, plate, local day), and the hit
id from the entry id: a vehicle seen by many cameras the same day raises one hit per check
(the store ignores the same hit id again, across restarts and processes).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import zoneinfo
from collections.abc import Collection

import msgspec

from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.hits.models import Hit, MatchKind, hit_id
from kruispunt.hotlists.models import Category, HotlistEntry, HotlistList, Scope, ScopeKind
from kruispunt.processors.hotlist_matcher import make_hit
from kruispunt.registries.base import InsuranceRecord, LicenceRecord
from kruispunt.registries.settings import ChecksSettings

NETWORK = "network"
SYSTEM_ACTOR = "system:registry_checks"
VERIFY_IMAGE = "Verify the plate on the image: the registry answered for the plate as read."
HOLDER_NOT_DRIVER = "The registered holder is not necessarily the driver."


class Check(enum.StrEnum):
    UNINSURED = "uninsured"
    NO_VALID_LICENCE = "no_valid_licence"


CATEGORIES: dict[Check, Category] = {
    Check.UNINSURED: Category.UNINSURED,
    Check.NO_VALID_LICENCE: Category.NO_VALID_LICENCE,
}


# -- what the answers mean ------------------------------------------------------------------
def uninsured(record: InsuranceRecord | None, day: dt.date) -> bool | None:
    """True: not insured on ``day``; False: insured; None: no record to judge."""
    if record is None:
        return None
    if not record.insured:
        return True
    return record.valid_until is not None and record.valid_until < day


def unlicensed(record: LicenceRecord | None) -> bool | None:
    """True: the holder has no valid licence; False: valid; None: no record (a company)."""
    return None if record is None else not record.valid


# -- which reads ----------------------------------------------------------------------------
def checked(
    read: Read,
    camera: Camera | None,
    settings: ChecksSettings,
    *,
    zone_ids: Collection[str],
    now_us: int,
) -> bool:
    """Whether a read is looked up at all: a camera with a checked purpose, of one of the
    network's zones, a plate of a checked country, captured recently enough."""
    if camera is None or not set(camera.purposes) & set(settings.purposes):
        return False
    if read.zone_id not in zone_ids or read.country not in settings.countries:
        return False
    return now_us - read.captured_us <= settings.max_read_age_s * 1_000_000


def local_day(at_us: int, tz: zoneinfo.ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(at_us / 1e6, tz).date()


def day_bounds_us(day: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[int, int]:
    """The first and last microsecond of a local day."""
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return int(start.timestamp()) * 1_000_000, int(end.timestamp()) * 1_000_000 - 1


# -- the system lists -----------------------------------------------------------------------
def list_owner(read: Read, settings: ChecksSettings) -> str:
    return NETWORK if settings.owner == "network" else read.zone_id


def system_list_id(check: Check, owner: str) -> str:
    return f"sys-{check.value}-{owner}"


def system_list(check: Check, owner: str, settings: ChecksSettings) -> HotlistList:
    scope = ScopeKind.NETWORK if owner == NETWORK else ScopeKind.OWN_ZONE
    what = "uninsured vehicles" if check is Check.UNINSURED else "holders without a valid licence"
    return HotlistList(
        id=system_list_id(check, owner),
        name=f"Registry check: {what}",
        owner_zone_id=owner,
        description=(
            "System list of the registry checks: hits raised when a register answers for a "
            "passing vehicle. It holds no entries. Deactivate it to stop these hits; its "
            "minimum confidence applies."
        ),
        min_confidence=settings.min_confidence,
        default_scope=Scope(kind=scope),
    )


# -- a finding as a hit ---------------------------------------------------------------------
def finding_entry_id(check: Check, plate: str, country: str | None, day: dt.date) -> str:
    key = "\x1f".join((check.value, country or "", plate, day.isoformat()))
    return f"rc-{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def finding_entry(
    check: Check,
    read: Read,
    lst: HotlistList,
    settings: ChecksSettings,
    *,
    day: dt.date,
    tz: zoneinfo.ZoneInfo,
    now_us: int,
) -> HotlistEntry:
    """The synthetic entry of a finding (valid for the local day of the read)."""
    start_us, end_us = day_bounds_us(day, tz)
    is_insurance = check is Check.UNINSURED
    warnings = (VERIFY_IMAGE,) if is_insurance else (VERIFY_IMAGE, HOLDER_NOT_DRIVER)
    basis = (
        settings.uninsured_legal_basis if is_insurance else settings.no_valid_licence_legal_basis
    )
    return HotlistEntry(
        id=finding_entry_id(check, read.plate, read.country, day),
        list_id=lst.id,
        plate_raw=read.plate_raw,
        plate=read.plate,
        country=read.country,
        category=CATEGORIES[check],
        action=settings.uninsured_action if is_insurance else settings.no_valid_licence_action,
        warnings=warnings,
        source="insurance register" if is_insurance else "driving-licence register",
        legal_basis=basis,
        scope=lst.default_scope,
        valid_from_us=start_us,
        expires_at_us=end_us,
        created_us=now_us,
        created_by=SYSTEM_ACTOR,
    )


def finding_hit(
    read: Read, entry: HotlistEntry, lst: HotlistList, *, now_us: int, late_after_us: int
) -> Hit:
    """The hit of a finding. Its id depends on the entry only (check, vehicle, day), not on
    the read: the vehicle's next passages that day are the same hit."""
    hit = make_hit(read, entry, lst, MatchKind.EXACT, created_us=now_us,
                   late_after_us=late_after_us)  # fmt: skip
    return msgspec.structs.replace(hit, id=hit_id("registry_checks", entry.category, entry.id))
