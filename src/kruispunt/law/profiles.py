"""Jurisdiction profiles: the law on ANPR data as frozen, validated data.

A profile says how long reads and images are kept, and splits the retention period into
``Tier``s by age of the data: each tier lists the purposes it allows and the authorisation it
requires. The profiles live in the packaged file ``kruispunt/data/jurisdictions.toml``; each
rule there names its source. Loading validates the file and fails loudly, naming the profile
and the rule: tiers must start at day 0, follow each other without gap or overlap and end
exactly at ``reads_max_days``; every source a rule names must exist; every case format must
accept its examples and refuse its near-misses.

Public: ``profile(name)``, ``profiles()``, ``default_profile()``, ``reason_rules()``, and
``load(text)`` to check another copy of the file (``ProfileError`` on a bad one).
"""

from __future__ import annotations

import enum
import functools
import itertools
import tomllib
from importlib import resources
from typing import Any

import msgspec

from kruispunt.law.purpose import CaseFormat, Purpose, ReasonRules

SCHEMA = 1
DATA_FILE = "jurisdictions.toml"


class ProfileError(ValueError):
    """A jurisdiction file or profile name that cannot be used; the message says where."""


class AuthorisationKind(enum.StrEnum):
    """Who issued an authorisation recorded in the system."""

    PROSECUTOR = "prosecutor"
    """Belgium: written, reasoned decision of the procureur des Konings / du Roi."""
    SENIOR_OFFICER = "senior_officer"
    """United Kingdom: authorisation by a senior officer."""
    PROSECUTOR_ORDER = "prosecutor_order"
    """The Netherlands: order (bevel) of the officier van justitie."""


class Requirement(enum.StrEnum):
    """The authorisation a tier requires before its reads may be returned."""

    NONE = "none"
    PROSECUTOR = "prosecutor"
    SENIOR_OFFICER = "senior_officer"
    PROSECUTOR_ORDER_EVERY_QUERY = "prosecutor_order_every_query"

    @property
    def kind(self) -> AuthorisationKind | None:
        """The kind of authorisation that meets this requirement (None: none needed)."""
        return _KIND[self]

    @property
    def every_query(self) -> bool:
        """True when an authorisation covers only the one query it was given for."""
        return self is Requirement.PROSECUTOR_ORDER_EVERY_QUERY

    @property
    def phrase(self) -> str:
        return _PHRASE[self]


_KIND: dict[Requirement, AuthorisationKind | None] = {
    Requirement.NONE: None,
    Requirement.PROSECUTOR: AuthorisationKind.PROSECUTOR,
    Requirement.SENIOR_OFFICER: AuthorisationKind.SENIOR_OFFICER,
    Requirement.PROSECUTOR_ORDER_EVERY_QUERY: AuthorisationKind.PROSECUTOR_ORDER,
}
_PHRASE: dict[Requirement, str] = {
    Requirement.NONE: "no authorisation",
    Requirement.PROSECUTOR: "a prosecutor's written, reasoned authorisation",
    Requirement.SENIOR_OFFICER: "a senior officer's authorisation",
    Requirement.PROSECUTOR_ORDER_EVERY_QUERY: "a prosecutor's order for this very query",
}


class Source(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A citation: where a rule comes from, and how far we checked it."""

    id: str
    title: str
    url: str
    summary: str
    checked: str


class Tier(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Reads of age in [from_day, until_day) days: who may read them, for what."""

    label: str
    from_day: int
    until_day: int
    purposes: tuple[Purpose, ...]
    authorisation: Requirement
    source: str

    def __post_init__(self) -> None:
        if self.from_day < 0 or self.until_day <= self.from_day:
            raise ValueError(
                f"tier {self.label!r}: need 0 <= from_day < until_day, "
                f"got {self.from_day}..{self.until_day}"
            )
        if not self.purposes:
            raise ValueError(f"tier {self.label!r} allows no purpose: leave the tier out")
        if len(set(self.purposes)) != len(self.purposes):
            raise ValueError(f"tier {self.label!r} lists a purpose twice")


class WideSearchCaps(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Above these, a search needs a supervisor's approval (policy, see ``decide``)."""

    max_days: int = 14
    max_plates: int = 10
    max_cameras: int = 25
    max_zones: int = 1
    area_max_hours: int = 4
    min_known_chars: int = 4
    max_wildcards: int = 3
    leading_wildcard: bool = False
    basis: str = "project policy"

    def __post_init__(self) -> None:
        for name in ("max_days", "max_plates", "max_cameras", "area_max_hours"):
            if getattr(self, name) < 1:
                raise ValueError(f"wide_search.{name} must be >= 1")
        for name in ("max_zones", "min_known_chars", "max_wildcards"):
            if getattr(self, name) < 0:
                raise ValueError(f"wide_search.{name} must be >= 0")


class JurisdictionProfile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The law of one jurisdiction on ANPR data (see the module docstring)."""

    key: str
    name: str
    country: str
    reads_max_days: int
    reads_source: str
    images_max_days: int
    images_source: str
    images_case_max_days: int | None = None
    """How long an image linked to a case may be kept; None: a case link does not extend."""
    tiers: tuple[Tier, ...]
    sources: tuple[Source, ...]
    case_formats: tuple[CaseFormat, ...]
    purpose_notes: dict[Purpose, str] = {}
    wide_search: WideSearchCaps = WideSearchCaps()
    notes: str = ""

    @property
    def images_case_link_extends(self) -> bool:
        return self.images_case_max_days is not None

    def source(self, source_id: str) -> Source:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)

    def cite(self, source_id: str) -> str:
        """A short citation for messages: the source's title."""
        return self.source(source_id).title

    def __post_init__(self) -> None:
        if len(self.country) != 2 or not self.country.isupper():
            raise ValueError(f"country must be an ISO 3166 alpha-2 code, got {self.country!r}")
        if self.reads_max_days < 1:
            raise ValueError("reads_max_days must be >= 1")
        self._check_tiers()
        self._check_images()
        self._check_sources()
        keys = [f.key for f in self.case_formats]
        if not keys:
            raise ValueError("give at least one case format")
        if len(set(keys)) != len(keys):
            raise ValueError(f"case format keys repeat: {keys}")

    def _check_images(self) -> None:
        if not 1 <= self.images_max_days <= self.reads_max_days:
            raise ValueError(
                f"images_max_days must lie in [1, reads_max_days = {self.reads_max_days}], "
                f"got {self.images_max_days}"
            )
        case_max = self.images_case_max_days
        if case_max is not None and not self.images_max_days <= case_max <= self.reads_max_days:
            raise ValueError(
                f"images_case_max_days must lie in [images_max_days, reads_max_days] = "
                f"[{self.images_max_days}, {self.reads_max_days}], got {case_max}"
            )

    def _check_sources(self) -> None:
        ids = [s.id for s in self.sources]
        if len(set(ids)) != len(ids):
            raise ValueError(f"source ids repeat: {ids}")
        cited = {"reads_source": self.reads_source, "images_source": self.images_source}
        cited |= {f"tier {t.label!r}": t.source for t in self.tiers}
        cited |= {f"case format {f.key!r}": f.source for f in self.case_formats}
        for where, source_id in cited.items():
            if source_id not in ids:
                raise ValueError(f"{where} cites unknown source {source_id!r} (known: {ids})")

    def _check_tiers(self) -> None:
        if not self.tiers:
            raise ValueError("give at least one tier")
        labels = [t.label for t in self.tiers]
        if len(set(labels)) != len(labels):
            raise ValueError(f"tier labels repeat: {labels}")
        if self.tiers[0].from_day != 0:
            raise ValueError(
                f"the first tier {labels[0]!r} starts at day {self.tiers[0].from_day}: "
                "tiers must start at day 0"
            )
        for prev, tier in itertools.pairwise(self.tiers):
            if tier.from_day > prev.until_day:
                raise ValueError(
                    f"gap between tiers: {prev.label!r} ends at day {prev.until_day}, "
                    f"{tier.label!r} starts at day {tier.from_day}"
                )
            if tier.from_day < prev.until_day:
                raise ValueError(
                    f"tiers overlap: {prev.label!r} ends at day {prev.until_day}, "
                    f"{tier.label!r} starts at day {tier.from_day}"
                )
        last = self.tiers[-1]
        if last.until_day != self.reads_max_days:
            where = "past" if last.until_day > self.reads_max_days else "short of"
            raise ValueError(
                f"the last tier {last.label!r} ends at day {last.until_day}, {where} "
                f"reads_max_days = {self.reads_max_days}: the tiers must end exactly there"
            )


class LawData(msgspec.Struct, frozen=True, kw_only=True):
    """The whole jurisdictions file, validated."""

    default: str
    reasons: ReasonRules
    profiles: dict[str, JurisdictionProfile]


def _convert(raw: Any, type_: Any, where: str) -> Any:
    try:
        return msgspec.convert(raw, type_)
    except msgspec.ValidationError as exc:
        raise ProfileError(f"{where}: {exc}") from None


def load(text: str, *, origin: str = "<string>") -> LawData:
    """Parse and validate a jurisdictions file; ``ProfileError`` says what is wrong, and where."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - {"schema", "default", "reasons", "profiles"})
    if unknown:
        raise ProfileError(f"{origin}: unknown top-level keys {unknown}")
    if raw.get("schema") != SCHEMA:
        raise ProfileError(f"{origin}: schema must be {SCHEMA}, got {raw.get('schema')!r}")
    raw_profiles = raw.get("profiles")
    if not isinstance(raw_profiles, dict) or not raw_profiles:
        raise ProfileError(f"{origin}: no [profiles.<KEY>] table")
    reasons: ReasonRules = _convert(raw.get("reasons", {}), ReasonRules, f"{origin}: [reasons]")
    loaded: dict[str, JurisdictionProfile] = {}
    for key, body in raw_profiles.items():
        where = f"{origin}: profile {key!r}"
        if not isinstance(body, dict) or "key" in body:
            raise ProfileError(f"{where}: must be a table, without a 'key' field (the name is it)")
        loaded[key] = _convert({**body, "key": key}, JurisdictionProfile, where)
    default = raw.get("default")
    if default not in loaded:
        raise ProfileError(f"{origin}: default {default!r} is not one of {sorted(loaded)}")
    return LawData(default=default, reasons=reasons, profiles=loaded)


@functools.cache
def law_data() -> LawData:
    """The packaged jurisdictions file, loaded once."""
    text = resources.files("kruispunt.data").joinpath(DATA_FILE).read_text("utf-8")
    return load(text, origin=DATA_FILE)


def profiles() -> dict[str, JurisdictionProfile]:
    """Every packaged profile by key ("BE", "NL", "UK")."""
    return dict(law_data().profiles)


def profile(name: str) -> JurisdictionProfile:
    """The packaged profile with this key (any case), e.g. ``profile("be")``."""
    found = law_data().profiles.get(name.strip().upper())
    if found is None:
        known = ", ".join(sorted(law_data().profiles))
        raise ProfileError(f"unknown jurisdiction profile {name!r}; known: {known}")
    return found


def default_profile() -> JurisdictionProfile:
    """The profile the demo and a fresh node use (Belgium)."""
    data = law_data()
    return data.profiles[data.default]


def reason_rules() -> ReasonRules:
    """The packaged rules for free-text reasons."""
    return law_data().reasons
