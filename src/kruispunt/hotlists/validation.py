"""Hotlist entries and lists as people send them, and the rules they must meet (pure).

One path for the API (JSON) and CSV import: both give an ``EntryIn`` of plain strings, and
``parse_entry`` turns it into a ``HotlistEntry`` or refuses it with an ``EntryInvalid``
carrying a machine-readable code (``expiry_missing``, ``legal_basis_missing``, a
``PlateProblem`` value ...). ``check_entry`` holds the rules every stored entry meets,
however it was built.

Times are ISO 8601 with a UTC offset, or a date: ``valid_from`` 2026-01-31 means the start of
that day (UTC), ``expires_at`` 2026-01-31 the end of it. A time without an offset is refused:
it would mean something else on a server in another timezone.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import uuid
from dataclasses import dataclass
from typing import Annotated

import msgspec

from kruispunt.hotlists.errors import EntryInvalid
from kruispunt.hotlists.models import Category, HotlistEntry, HotlistList, Scope, ScopeKind
from kruispunt.plates import check, normalise

US_PER_DAY = 86_400_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DEFAULT_MAX_EXPIRY_DAYS = 366
MAX_TEXT = 200
MAX_NOTE = 1000
MAX_WARNINGS = 10
_COUNTRY = re.compile(r"[A-Z]{2}")
_LIST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


class EntryIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An entry as sent (API body or CSV row). ``expires_at`` and ``legal_basis`` are
    mandatory; they are typed optional only so that their absence gets its own code."""

    plate: Annotated[str | None, msgspec.Meta(description="The plate as written.")] = None
    country: Annotated[
        str | None, msgspec.Meta(description="ISO 3166-1 alpha-2 when known (BE, NL ...).")
    ] = None
    category: Annotated[
        str | None, msgspec.Meta(description="One of: " + ", ".join(c.value for c in Category))
    ] = None
    action: Annotated[
        str | None, msgspec.Meta(description='What to do on a hit, e.g. "intercept".')
    ] = None
    warnings: Annotated[
        list[str], msgspec.Meta(description='Officer-safety markers, e.g. "armed".')
    ] = []
    source: Annotated[
        str | None, msgspec.Meta(description="Where the fact comes from. Mandatory.")
    ] = None
    legal_basis: Annotated[
        str | None, msgspec.Meta(description="Why the police may hold it. Mandatory.")
    ] = None
    scope: Annotated[
        str | None,
        msgspec.Meta(
            description="own_zone, named_zones, network or partners (default: the list's)"
        ),
    ] = None
    scope_zones: Annotated[list[str], msgspec.Meta(description="Zone ids for named_zones.")] = []
    valid_from: Annotated[
        str | None, msgspec.Meta(description="ISO 8601 with offset, or a date. Default: now.")
    ] = None
    expires_at: Annotated[
        str | None,
        msgspec.Meta(description="The weed date: ISO 8601 with offset, or a date. Mandatory."),
    ] = None
    note: str = ""


class ListIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A list as sent. ``owner_zone_id`` defaults to the caller's zone; ``id`` to a new one."""

    name: Text
    id: str | None = None
    owner_zone_id: str | None = None
    description: Annotated[str, msgspec.Meta(max_length=MAX_NOTE)] = ""
    min_confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    default_scope: Scope = Scope(kind=ScopeKind.OWN_ZONE)
    active: bool = True


@dataclass(frozen=True, slots=True)
class EntryRules:
    """What the node allows: the zones a scope may name, how far ahead an expiry may be."""

    zone_ids: frozenset[str]
    max_expiry_days: int = DEFAULT_MAX_EXPIRY_DAYS

    @property
    def max_expiry_us(self) -> int:
        return self.max_expiry_days * US_PER_DAY


def new_entry_id() -> str:
    return "e-" + os.urandom(8).hex()  # 64 random bits: no collision in a billion entries


def new_list_id() -> str:
    return "l-" + uuid.uuid4().hex[:12]


def to_us(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def from_us(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def format_time(us: int) -> str:
    return from_us(us).isoformat()


def parse_time(text: str, *, end_of_day: bool, code: str, name: str) -> int:
    return _parse_time(text.strip(), end_of_day, code, name)


@functools.lru_cache(maxsize=4096)  # a bulk file often gives every row the same weed date
def _parse_time(text: str, end_of_day: bool, code: str, name: str) -> int:
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return to_us(start) + (US_PER_DAY if end_of_day else 0)
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise EntryInvalid(f"{name}: not an ISO 8601 time or date: {text!r}", code) from None
    if t.tzinfo is None:
        raise EntryInvalid(f"{name}: give a UTC offset (e.g. +01:00 or Z): {text!r}", code)
    return to_us(t)


def mask_plate(raw: str) -> str:
    """Enough of a plate for an auditor to tell entries apart, not enough to name a car:
    ``1-ABC-123`` -> ``1-AB*-***``."""
    n = sum(ch.isalnum() for ch in raw)
    keep = min(3, n // 2)
    out = []
    for ch in raw:
        if ch.isalnum():
            out.append(ch if keep > 0 else "*")
            keep -= 1
        else:
            out.append(ch)
    return "".join(out)


def _required(value: str | None, name: str, code: str) -> str:
    if value is None or not value.strip():
        raise EntryInvalid(f"{name}: mandatory, must not be blank", code)
    return value.strip()


def _text(value: str, name: str, limit: int = MAX_TEXT) -> str:
    if len(value) > limit:
        raise EntryInvalid(f"{name}: longer than {limit} characters", "text_too_long")
    return value


def parse_scope(kind: str | None, zones: list[str], default: Scope) -> Scope:
    if kind is None or not kind.strip():
        if zones:
            return Scope(kind=ScopeKind.NAMED_ZONES, zones=tuple(zones))
        return default
    try:
        scope_kind = ScopeKind(kind.strip())
    except ValueError:
        allowed = ", ".join(k.value for k in ScopeKind)
        raise EntryInvalid(f"scope: {kind!r} is not one of {allowed}", "scope_invalid") from None
    return Scope(kind=scope_kind, zones=tuple(z.strip() for z in zones if z.strip()))


def parse_entry(
    draft: EntryIn,
    *,
    lst: HotlistList,
    entry_id: str,
    now_us: int,
    created_by: str,
    rules: EntryRules,
) -> HotlistEntry:
    """The entry ``draft`` describes on list ``lst``, or ``EntryInvalid`` with the first
    problem found."""
    raw = (draft.plate or "").strip()
    problem = check(raw)
    if problem is not None:
        raise EntryInvalid(f"plate: {problem.value.replace('_', ' ')}", problem.value)
    country = (draft.country or "").strip().upper() or None
    if country is not None and _COUNTRY.fullmatch(country) is None:
        raise EntryInvalid(
            f"country: not an ISO 3166-1 alpha-2 code: {country!r}", "country_invalid"
        )
    category_text = _required(draft.category, "category", "category_missing")
    try:
        category = Category(category_text)
    except ValueError:
        allowed = ", ".join(c.value for c in Category)
        raise EntryInvalid(
            f"category: {category_text!r} is not one of {allowed}", "category_invalid"
        ) from None
    expires_text = _required(draft.expires_at, "expires_at", "expiry_missing")
    valid_from = (
        now_us
        if draft.valid_from is None or not draft.valid_from.strip()
        else parse_time(draft.valid_from, end_of_day=False, code="valid_from_invalid",
                        name="valid_from")
    )  # fmt: skip
    entry = HotlistEntry(
        id=entry_id,
        list_id=lst.id,
        plate_raw=raw,
        plate=normalise(raw),
        country=country,
        category=category,
        action=_required(draft.action, "action", "action_missing"),
        warnings=tuple(w.strip() for w in draft.warnings if w.strip()),
        source=_required(draft.source, "source", "source_missing"),
        legal_basis=_required(draft.legal_basis, "legal_basis", "legal_basis_missing"),
        scope=parse_scope(draft.scope, draft.scope_zones, lst.default_scope),
        valid_from_us=valid_from,
        expires_at_us=parse_time(
            expires_text, end_of_day=True, code="expiry_invalid", name="expires_at"
        ),
        created_us=now_us,
        created_by=created_by,
        note=draft.note.strip(),
    )
    _check_fields(entry, now_us=now_us, rules=rules)  # the plate was checked above
    return entry


def check_scope(scope: Scope, zone_ids: frozenset[str]) -> None:
    """named_zones names network zones; partners may name the partner networks that receive
    it besides the whole network (known ids only)."""
    if scope.kind == ScopeKind.PARTNERS:
        unknown = sorted(set(scope.zones) - zone_ids)
        if unknown:
            raise EntryInvalid(
                f"scope: unknown partner(s) {', '.join(unknown)}", "scope_zone_unknown"
            )
    elif scope.kind == ScopeKind.NAMED_ZONES:
        if not scope.zones:
            raise EntryInvalid("scope: named_zones needs at least one zone", "scope_zones_missing")
        unknown = sorted(set(scope.zones) - zone_ids)
        if unknown:
            raise EntryInvalid(f"scope: unknown zone(s) {', '.join(unknown)}", "scope_zone_unknown")
    elif scope.zones:
        raise EntryInvalid(
            f"scope: zones are only for named_zones and partners, not {scope.kind}",
            "scope_invalid",
        )


def check_entry(entry: HotlistEntry, *, now_us: int, rules: EntryRules) -> None:
    """The rules every stored entry meets (however it was built)."""
    problem = check(entry.plate_raw)
    if problem is not None:
        raise EntryInvalid(f"plate: {problem.value.replace('_', ' ')}", problem.value)
    if entry.plate != normalise(entry.plate_raw):
        raise EntryInvalid("plate: not the normalised form of plate_raw", "plate_not_normalised")
    _check_fields(entry, now_us=now_us, rules=rules)


def _check_fields(entry: HotlistEntry, *, now_us: int, rules: EntryRules) -> None:
    if entry.country is not None and _COUNTRY.fullmatch(entry.country) is None:
        raise EntryInvalid("country: not an ISO 3166-1 alpha-2 code", "country_invalid")
    for value, name, code in (
        (entry.action, "action", "action_missing"),
        (entry.source, "source", "source_missing"),
        (entry.legal_basis, "legal_basis", "legal_basis_missing"),
    ):
        if not value.strip():
            raise EntryInvalid(f"{name}: mandatory, must not be blank", code)
        _text(value, name)
    _text(entry.note, "note", MAX_NOTE)
    if len(entry.warnings) > MAX_WARNINGS:
        raise EntryInvalid(f"warnings: at most {MAX_WARNINGS}", "too_many_warnings")
    for warning in entry.warnings:
        _text(warning, "warnings")
        if ";" in warning:
            # ';' separates warnings in CSV: such a warning would not survive an export.
            raise EntryInvalid("warnings: a warning may not contain ';'", "warning_invalid")
    check_scope(entry.scope, rules.zone_ids)
    if entry.expires_at_us <= now_us:
        raise EntryInvalid("expires_at: must be in the future", "expiry_in_past")
    if entry.expires_at_us > now_us + rules.max_expiry_us:
        raise EntryInvalid(
            f"expires_at: at most {rules.max_expiry_days} days ahead", "expiry_too_far"
        )
    if entry.valid_from_us >= entry.expires_at_us:
        raise EntryInvalid("valid_from: must be before expires_at", "valid_from_after_expiry")


def build_list(draft: ListIn, *, list_id: str, owner_zone_id: str) -> HotlistList:
    """The list ``draft`` describes (checked by ``check_list`` when it is saved)."""
    return HotlistList(
        id=list_id,
        name=draft.name.strip(),
        owner_zone_id=owner_zone_id,
        description=draft.description,
        min_confidence=draft.min_confidence,
        default_scope=draft.default_scope,
        active=draft.active,
    )


def check_list(lst: HotlistList, *, owner_ids: frozenset[str], zone_ids: frozenset[str]) -> None:
    if _LIST_ID.fullmatch(lst.id) is None:
        raise EntryInvalid("id: 1 to 64 of A-Z a-z 0-9 _ . - (not starting with . _ -)",
                           "list_id_invalid")  # fmt: skip
    if not lst.name.strip():
        raise EntryInvalid("name: must not be blank", "name_missing")
    if len(lst.name) > MAX_TEXT or len(lst.description) > MAX_NOTE:
        raise EntryInvalid("name or description too long", "text_too_long")
    if lst.owner_zone_id not in owner_ids:
        raise EntryInvalid(f"owner_zone_id: unknown zone {lst.owner_zone_id!r}", "unknown_zone")
    if not 0.0 <= lst.min_confidence <= 1.0:
        raise EntryInvalid("min_confidence: between 0 and 1", "min_confidence_invalid")
    check_scope(lst.default_scope, zone_ids)
