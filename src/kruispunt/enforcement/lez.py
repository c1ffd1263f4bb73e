"""The low-emission zone's admission rules (pure): may this vehicle enter on this day?

The rules are data (``kruispunt/data/lez_antwerp.toml``, or the file ``lez.rules_file``
names), loaded once into a ``RuleSet``: which vehicle categories are covered, the fuel
classes, per fuel class the minimum Euro norm of each period (a particle-filter exception, a
ban), the norm to assume from the date of first registration when the registry does not
know it, which countries' vehicles need no registration, and how many day passes a vehicle
may have a year. Every ``Decision`` cites the rule set's version, its file's digest and the
rule applied, so an offence says which text of the rules it broke.

``admit`` decides, in this order:

1. an exemption or a day pass valid at the moment: admitted;
2. a foreign vehicle (not of ``home_country``) with a valid registration: the rules apply to
   the vehicle its registration declares (no cross-border request needed);
3. no vehicle data (the registry knows no such vehicle): unknown (never a fine);
4. a vehicle of a category the rules do not cover, a fuel class without a rule in force:
   admitted as not covered;
5. a banned fuel class, or a norm below the rule's: refused (``emissions``, ``banned``);
6. a compliant vehicle of a country outside ``registration_exempt_countries`` without a
   registration: refused (``unregistered``);
7. otherwise admitted (``compliant``).

``penalty`` then says what a refused entry costs: a warning (the vehicle's first offence,
or every offence of the first weeks) or a fine from the configured amounts.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import itertools
import tomllib
import zoneinfo
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import msgspec

from kruispunt.enforcement.offences import OffenceStatus
from kruispunt.registries.base import Fuel

PACKAGED_RULES = "lez_antwerp.toml"
US_PER_S = 1_000_000


class RulesError(ValueError):
    """The rule data cannot be used (the message names the file and what is wrong)."""


# -- the rule data --------------------------------------------------------------------------
class Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    fuel_class: str
    since: dt.date
    until: dt.date | None = None
    """The last day it applies (included); None: open-ended."""
    min_euro: str | None = None
    particle_filter_euro: str | None = None
    """Admitted from this (lower) norm with a particle filter."""
    banned: bool = False
    status: str = "in_force"
    """``in_force`` or ``announced`` (a future rule the city may still change)."""

    def covers(self, day: dt.date) -> bool:
        return self.since <= day and (self.until is None or day <= self.until)


class EuroSince(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    since: dt.date
    euro: str


class DayPasses(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    per_year: int
    after_days: int = 0


class RuleData(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The rule file as written."""

    name: str
    city: str
    version: str
    published: dt.date
    changes: tuple[str, ...] = ()
    in_force_since: dt.date
    time_zone: str
    area: str | None = None
    categories: tuple[str, ...]
    euro_norms: tuple[str, ...]
    home_country: str
    registration_exempt_countries: tuple[str, ...]
    fuel_classes: dict[str, tuple[str, ...]]
    day_passes: DayPasses
    euro_by_first_registration: tuple[EuroSince, ...]
    rules: tuple[Rule, ...]


class RuleSet(msgspec.Struct, frozen=True, kw_only=True):
    """The rules as loaded: the data, the file's digest, and look-ups made once."""

    data: RuleData
    digest: str
    """The first 16 hex digits of the file's SHA-256: two texts, two digests."""
    fuel_class_of: dict[str, str]
    rank: dict[str, int]

    @property
    def version(self) -> str:
        return self.data.version

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return _zone(self.data.time_zone)

    def cite(self) -> dict[str, str]:
        return {"rules": self.data.name, "version": self.data.version, "digest": self.digest}


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def norm(text: str | None) -> str | None:
    """A Euro norm as the rules write it: lower case, no spaces, dashes or underscores."""
    if text is None:
        return None
    out = "".join(c for c in text.lower() if c.isalnum())
    return out or None


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules in ``path`` (TOML), or the packaged Antwerp rules."""
    if path is None:
        raw = resources.files("kruispunt.data").joinpath(PACKAGED_RULES).read_bytes()
        where = f"kruispunt/data/{PACKAGED_RULES}"
    else:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise RulesError(f"{path}: cannot read: {exc.strerror}") from exc
        where = str(path)
    return parse_rules(raw, where=where)


def parse_rules(raw: bytes, *, where: str = "rules") -> RuleSet:
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
        data = msgspec.convert(doc, RuleData)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise RulesError(f"{where}: {exc}") from None
    problems = rule_problems(data)
    if problems:
        raise RulesError(f"{where}: " + "; ".join(problems))
    fuel_class_of = {fuel: cls for cls, fuels in data.fuel_classes.items() for fuel in fuels}
    return RuleSet(
        data=data,
        digest=hashlib.sha256(raw).hexdigest()[:16],
        fuel_class_of=fuel_class_of,
        rank={name: i for i, name in enumerate(data.euro_norms)},
    )


def rule_problems(data: RuleData) -> list[str]:
    """What is wrong with rule data; empty when it can be used."""
    problems: list[str] = []
    norms = set(data.euro_norms)
    if len(norms) != len(data.euro_norms) or any(norm(n) != n for n in data.euro_norms):
        problems.append("euro_norms: distinct, lower case, letters and digits only")
    try:
        _zone(data.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"time_zone: unknown {data.time_zone!r}")
    fuels = [f for fs in data.fuel_classes.values() for f in fs]
    known = {str(f) for f in Fuel}
    if len(set(fuels)) != len(fuels):
        problems.append("fuel_classes: a fuel is in one class only")
    problems += [f"fuel_classes: unknown fuel {f!r}" for f in fuels if f not in known]
    if data.day_passes.per_year < 0 or data.day_passes.after_days < 0:
        problems.append("day_passes: per_year and after_days are not negative")
    eras = data.euro_by_first_registration
    if not eras or [e.since for e in eras] != sorted({e.since for e in eras}):
        problems.append("euro_by_first_registration: one or more, dates ascending")
    problems += [
        f"euro_by_first_registration: unknown norm {e.euro!r}" for e in eras if e.euro not in norms
    ]
    ids = [r.id for r in data.rules]
    if len(set(ids)) != len(ids):
        problems.append("rules: ids are unique")
    for r in data.rules:
        problems += [f"rules.{r.id}: {p}" for p in _rule_problems(r, data, norms)]
    for cls in data.fuel_classes:
        periods = sorted((r for r in data.rules if r.fuel_class == cls), key=lambda r: r.since)
        for a, b in itertools.pairwise(periods):
            if a.until is None or a.until >= b.since:
                problems.append(f"rules.{a.id} and rules.{b.id}: periods overlap")
    return problems


def _rule_problems(r: Rule, data: RuleData, norms: set[str]) -> list[str]:
    out = []
    if r.fuel_class not in data.fuel_classes:
        out.append(f"unknown fuel_class {r.fuel_class!r}")
    if r.until is not None and r.until < r.since:
        out.append("until before since")
    if r.banned == (r.min_euro is not None):
        out.append("either banned or a min_euro")
    for name in (r.min_euro, r.particle_filter_euro):
        if name is not None and name not in norms:
            out.append(f"unknown norm {name!r}")
    if r.status not in ("in_force", "announced"):
        out.append("status: in_force or announced")
    return out


# -- permits --------------------------------------------------------------------------------
class PermitKind(enum.StrEnum):
    REGISTRATION = "registration"
    """A foreign vehicle registered with the city (declaring its fuel and Euro norm)."""
    EXEMPTION = "exemption"
    """Admitted whatever its norm (an adapted vehicle for a disabled person ...)."""
    DAY_PASS = "day_pass"
    """A non-compliant vehicle admitted for one local day (a limited number a year)."""


class DeclaredVehicle(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a registration declares of a foreign vehicle (the city checks the papers)."""

    category: str
    fuel: Fuel
    euro_norm: str | None = None
    first_registration: dt.date
    particle_filter: bool = False


class Permit(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: PermitKind
    plate: str
    """Normalised."""
    country: str
    valid_from_us: int
    valid_until_us: int
    """Excluded: valid while ``valid_from_us <= t < valid_until_us``."""
    zone_id: str
    reason: str = ""
    day: dt.date | None = None
    """A day pass: the local day it covers."""
    vehicle: DeclaredVehicle | None = None
    created_by: str
    created_us: int
    revoked_us: int | None = None
    revoked_by: str | None = None
    revoke_note: str | None = None

    def valid_at(self, at_us: int) -> bool:
        if self.revoked_us is not None and self.revoked_us <= at_us:
            return False
        return self.valid_from_us <= at_us < self.valid_until_us


# -- the decision ---------------------------------------------------------------------------
class VehicleFacts(Protocol):
    """What the rules need of a vehicle (a registry's ``VehicleRecord``, a declaration)."""

    @property
    def category(self) -> str: ...

    @property
    def fuel(self) -> Fuel: ...

    @property
    def euro_norm(self) -> str | None: ...

    @property
    def first_registration(self) -> dt.date: ...

    @property
    def particle_filter(self) -> bool: ...


class Outcome(enum.StrEnum):
    ADMITTED = "admitted"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    """No decision possible (no vehicle data): never a fine."""


class Reason(enum.StrEnum):
    COMPLIANT = "compliant"
    NOT_COVERED = "not_covered"
    EXEMPTION = "exemption"
    DAY_PASS = "day_pass"
    EMISSIONS = "emissions"
    BANNED = "banned"
    UNREGISTERED = "unregistered"
    UNKNOWN_VEHICLE = "unknown_vehicle"
    UNREADABLE = "unreadable"
    """The read is not good enough to decide on (low confidence, no country)."""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Outcome
    reason: Reason
    day: dt.date
    """The local day of the entry."""
    version: str
    digest: str
    rule: str | None = None
    """The rule applied (its id); ``registration`` for an unregistered foreign vehicle."""
    fuel_class: str | None = None
    euro: str | None = None
    euro_from_first_registration: bool = False
    permit_id: str | None = None
    registered: bool = False
    """The vehicle facts came from a registration (no registry was asked)."""

    @property
    def admitted(self) -> bool:
        return self.outcome is Outcome.ADMITTED

    def cite(self) -> dict[str, Any]:
        """The decision as an offence's evidence quotes it."""
        return {k: v for k, v in msgspec.to_builtins(self).items() if v not in (None, False)}


def local_day(at_us: int, rules: RuleSet) -> dt.date:
    """The local day (the rules' time zone) of a moment in microseconds since the epoch."""
    return dt.datetime.fromtimestamp(at_us / US_PER_S, rules.tz).date()


def day_bounds_us(day: dt.date, rules: RuleSet) -> tuple[int, int]:
    """The first moment of ``day`` and of the next, local time (microseconds)."""
    tz = rules.tz
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return int(start.timestamp()) * US_PER_S, int(end.timestamp()) * US_PER_S


def euro_of(vehicle: VehicleFacts, rules: RuleSet) -> tuple[str, bool]:
    """The vehicle's Euro norm, and whether it came from its date of first registration
    (the registry does not know the norm, or writes one the rules do not name)."""
    known = norm(vehicle.euro_norm)
    if known is not None and known in rules.rank:
        return known, False
    era = rules.data.euro_by_first_registration[0].euro
    for entry in rules.data.euro_by_first_registration:
        if entry.since <= vehicle.first_registration:
            era = entry.euro
    return era, True


def rule_for(rules: RuleSet, fuel_class: str, day: dt.date) -> Rule | None:
    if day < rules.data.in_force_since:
        return None
    return next((r for r in rules.data.rules if r.fuel_class == fuel_class and r.covers(day)),
                None)  # fmt: skip


def complies(rule: Rule, euro: str, particle_filter: bool, rules: RuleSet) -> bool:
    if rule.banned or rule.min_euro is None:
        return False
    rank = rules.rank[euro]
    if rank >= rules.rank[rule.min_euro]:
        return True
    exception = rule.particle_filter_euro
    return particle_filter and exception is not None and rank >= rules.rank[exception]


def admitting_permit(permits: Iterable[Permit], at_us: int) -> Permit | None:
    """An exemption or a day pass valid at the moment (an exemption first)."""
    valid = [p for p in permits if p.kind is not PermitKind.REGISTRATION and p.valid_at(at_us)]
    valid.sort(key=lambda p: (p.kind is not PermitKind.EXEMPTION, p.id))
    return valid[0] if valid else None


def registration(permits: Iterable[Permit], at_us: int) -> Permit | None:
    found = [p for p in permits if p.kind is PermitKind.REGISTRATION and p.valid_at(at_us)]
    return max(found, key=lambda p: (p.valid_from_us, p.id)) if found else None


def needs_lookup(country: str, permits: Sequence[Permit], at_us: int, rules: RuleSet) -> bool:
    """Whether the decision needs a registry (a permit admits, or a foreign vehicle's
    registration declares it: no request leaves the node)."""
    if admitting_permit(permits, at_us) is not None:
        return False
    if country == rules.data.home_country:
        return True
    registered = registration(permits, at_us)
    return registered is None or registered.vehicle is None


def admit(
    vehicle: VehicleFacts | None,
    *,
    country: str,
    at_us: int,
    permits: Sequence[Permit],
    rules: RuleSet,
) -> Decision:
    """May the vehicle enter at ``at_us``? (See the module's docstring for the order.)"""
    day = local_day(at_us, rules)
    base: dict[str, Any] = {"day": day, "version": rules.version, "digest": rules.digest}
    permit = admitting_permit(permits, at_us)
    if permit is not None:
        reason = Reason.EXEMPTION if permit.kind is PermitKind.EXEMPTION else Reason.DAY_PASS
        return Decision(outcome=Outcome.ADMITTED, reason=reason, permit_id=permit.id, **base)
    home = rules.data.home_country
    registered = registration(permits, at_us) if country != home else None
    facts: VehicleFacts | None = vehicle
    if registered is not None and registered.vehicle is not None:
        facts = registered.vehicle
        base |= {"registered": True, "permit_id": registered.id}
    if facts is None:
        return Decision(outcome=Outcome.UNKNOWN, reason=Reason.UNKNOWN_VEHICLE, **base)
    fuel_class = rules.fuel_class_of.get(str(facts.fuel))
    rule = None if fuel_class is None else rule_for(rules, fuel_class, day)
    if facts.category not in rules.data.categories or rule is None:
        return Decision(outcome=Outcome.ADMITTED, reason=Reason.NOT_COVERED,
                        fuel_class=fuel_class, **base)  # fmt: skip
    euro, derived = euro_of(facts, rules)
    base |= {"fuel_class": fuel_class, "euro": euro, "euro_from_first_registration": derived}
    if not complies(rule, euro, facts.particle_filter, rules):
        reason = Reason.BANNED if rule.banned else Reason.EMISSIONS
        return Decision(outcome=Outcome.REFUSED, reason=reason, rule=rule.id, **base)
    if registered is None and country not in rules.data.registration_exempt_countries:
        return Decision(outcome=Outcome.REFUSED, reason=Reason.UNREGISTERED,
                        rule="registration", **base)  # fmt: skip
    return Decision(outcome=Outcome.ADMITTED, reason=Reason.COMPLIANT, rule=rule.id, **base)


# -- what a refusal costs -------------------------------------------------------------------
class FineStep(Protocol):
    """Fine amounts from a date on: the first fine, then each repeat (the last repeats)."""

    @property
    def since(self) -> dt.date: ...

    @property
    def amounts_eur(self) -> tuple[int, ...]: ...


def penalty(
    day: dt.date,
    *,
    earlier_offences: int,
    earlier_fines: int,
    fines: Sequence[FineStep],
    first_offence_warning: bool,
    warnings_until: dt.date | None,
) -> tuple[OffenceStatus, int | None]:
    """The status and fine of a vehicle's offence on ``day``: a warning in the first weeks
    (up to ``warnings_until``) and for a first offence, else the fine of the amounts in
    force that day for the vehicle's ``earlier_fines``-th repeat."""
    if warnings_until is not None and day <= warnings_until:
        return OffenceStatus.WARNING, None
    if first_offence_warning and earlier_offences == 0:
        return OffenceStatus.WARNING, None
    steps = [s for s in fines if s.since <= day]
    if not steps:
        return OffenceStatus.WARNING, None
    amounts = max(steps, key=lambda s: s.since).amounts_eur
    return OffenceStatus.NEW, amounts[min(earlier_fines, len(amounts) - 1)]
