"""Pure access decisions over a jurisdiction profile.

``allowed_windows`` turns a query (purpose, capture period, recorded authorisations, scope) into
the capture-time windows it may read, each inclusive at both ends like SQL ``BETWEEN``, and a
``Refusal`` for every part it cut, saying what would be needed to open it. The store reads only
inside the windows, so no row past a tier comes back without the authorisation that tier needs.

Time is integer microseconds since the Unix epoch (UTC). The age of a read is
``now_us - captured_us``; a tier covers ages in ``[from_day, until_day)`` days, and a read from
the future (a camera clock running ahead) counts as age 0. Reads of age ``reads_max_days`` days
or more are never readable, whatever the authorisation.

An authorisation opens the reads of a tier when all of these hold: its kind is the one the
tier requires; it is valid now (``valid_from_us <= now_us < valid_until_us``); it was recorded
with a reference, an issuer and its grounds; it was given for the query's case; it was not
issued by the user who runs the query; its scope covers the query's plates, cameras and zones
(an empty list in the authorisation leaves that dimension open; a restricted dimension needs a
query restricted within it); it is bound to this query when it names one, and must name one
where the tier requires an order for every query. Its optional data period limits the reads it
opens.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence

import msgspec

from kruispunt.law.profiles import (
    AuthorisationKind,
    JurisdictionProfile,
    Requirement,
    Tier,
    WideSearchCaps,
)
from kruispunt.law.purpose import Purpose

__all__ = [
    "Access",
    "Authorisation",
    "AuthorisationKind",
    "AuthorisationScope",
    "IgnoredAuthorisation",
    "QueryScope",
    "Refusal",
    "RefusalCode",
    "WideSearchCaps",
    "Window",
    "access_at",
    "allowed_windows",
    "authorisation_problems",
    "image_visible",
    "needs_approval",
]

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR


class AuthorisationScope(msgspec.Struct, frozen=True, kw_only=True):
    """What an authorisation covers; an empty tuple leaves that dimension open."""

    plates: tuple[str, ...] = ()
    plate_patterns: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    since_us: int | None = None
    """Oldest capture time the authorisation opens (None: no lower bound)."""
    until_us: int | None = None
    """Newest capture time the authorisation opens (None: no upper bound)."""


class Authorisation(msgspec.Struct, frozen=True, kw_only=True):
    """An authorisation recorded in the system (reference, issuer, grounds, scope, validity)."""

    kind: AuthorisationKind
    reference: str
    issued_by: str
    grounds: str
    """The reasons written in the decision: an authorisation without them is not counted."""
    case: str
    valid_from_us: int
    valid_until_us: int
    scope: AuthorisationScope = AuthorisationScope()
    query_id: str | None = None
    """Set when the authorisation was given for one query only (the Dutch order)."""


class QueryScope(msgspec.Struct, frozen=True, kw_only=True):
    """Who asks, under which case, and what the query reads (empty: no restriction)."""

    case: str | None = None
    user: str | None = None
    query_id: str | None = None
    plates: tuple[str, ...] = ()
    plate_patterns: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()


NO_SCOPE = QueryScope()
"""A query with no case, user or restriction: no authorisation can serve it."""


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """Capture times [since_us, until_us] (inclusive) the query may read, and what opened them."""

    since_us: int
    until_us: int
    tier: str
    authorisation: str | None
    """Reference of the authorisation that opened the window; None when the tier needs none."""


class RefusalCode(enum.StrEnum):
    BEYOND_RETENTION = "beyond_retention"
    PURPOSE_NOT_ALLOWED = "purpose_not_allowed"
    AUTHORISATION_REQUIRED = "authorisation_required"


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Capture times [since_us, until_us] cut from the query, why, and what would open them."""

    since_us: int
    until_us: int
    code: RefusalCode
    message: str
    tier: str | None
    needs: Requirement | None
    allowed_purposes: tuple[Purpose, ...]
    source: str
    """Title of the legal source of the rule that cut it."""


class IgnoredAuthorisation(msgspec.Struct, frozen=True, kw_only=True):
    reference: str
    problem: str


class Access(msgspec.Struct, frozen=True, kw_only=True):
    """The decision for one query: windows to read, parts refused, authorisations not used."""

    windows: tuple[Window, ...]
    refused: tuple[Refusal, ...]
    ignored: tuple[IgnoredAuthorisation, ...] = ()

    @property
    def complete(self) -> bool:
        """True when nothing of the requested period was cut."""
        return not self.refused

    def readable(self, captured_us: int) -> bool:
        return any(w.since_us <= captured_us <= w.until_us for w in self.windows)

    def spans(self) -> list[tuple[int, int]]:
        """The windows as [since_us, until_us] ranges, adjacent ones merged: what a store reads."""
        merged: list[tuple[int, int]] = []
        for w in self.windows:  # sorted by since_us, disjoint
            if merged and w.since_us == merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], w.until_us)
            else:
                merged.append((w.since_us, w.until_us))
        return merged


# --- intervals (inclusive integer ranges) -------------------------------------------------------

_Span = tuple[int, int]


def _cut(spans: Iterable[_Span], lo: int, hi: int) -> tuple[list[_Span], list[_Span]]:
    """Split ``spans`` into the parts inside [lo, hi] and the parts outside it."""
    inside: list[_Span] = []
    outside: list[_Span] = []
    for a, b in spans:
        if b < lo or a > hi:
            outside.append((a, b))
            continue
        if a < lo:
            outside.append((a, lo - 1))
        if b > hi:
            outside.append((hi + 1, b))
        inside.append((max(a, lo), min(b, hi)))
    return inside, outside


# --- authorisations -----------------------------------------------------------------------------


def _same(a: str, b: str) -> bool:
    return "".join(a.split()).upper() == "".join(b.split()).upper()


def _plate_key(plate: str) -> str:
    return "".join(c for c in plate.upper() if c.isalnum())


def _scope_problems(scope: AuthorisationScope, query: QueryScope) -> list[str]:
    problems: list[str] = []
    if scope.plates or scope.plate_patterns:
        plates = {_plate_key(p) for p in scope.plates}
        patterns = {p.strip().upper() for p in scope.plate_patterns}
        if not (query.plates or query.plate_patterns):
            problems.append("it is limited to some plates; the query names none")
        missing = sum(_plate_key(p) not in plates for p in query.plates)
        missing += sum(p.strip().upper() not in patterns for p in query.plate_patterns)
        if missing:
            problems.append(f"it does not cover {missing} of the query's plates")
    if scope.cameras or scope.zones:
        if not (query.cameras or query.zones):
            problems.append("it is limited to some cameras or zones; the query reads them all")
        missing = len(set(query.cameras) - set(scope.cameras))
        missing += len(set(query.zones) - set(scope.zones))
        if missing:
            problems.append(f"it does not cover {missing} of the query's cameras or zones")
    if (
        scope.since_us is not None
        and scope.until_us is not None
        and scope.since_us > scope.until_us
    ):
        problems.append("its data period is empty")
    return problems


def authorisation_problems(auth: Authorisation, *, now_us: int, scope: QueryScope) -> list[str]:
    """Why ``auth`` cannot serve this query at all (whatever the tier); empty when it can."""
    problems: list[str] = []
    for field, value in (("reference", auth.reference), ("issuer", auth.issued_by)):
        if not value.strip():
            problems.append(f"no {field} recorded")
    if not auth.grounds.strip():
        problems.append("no grounds recorded: the decision must be reasoned")
    if now_us < auth.valid_from_us:
        problems.append("not valid yet")
    if now_us >= auth.valid_until_us:
        problems.append("expired")
    if scope.case is None or not _same(auth.case, scope.case):
        problems.append("given for another case")
    if scope.user is not None and _same(auth.issued_by, scope.user):
        problems.append("issued by the user who runs the query")
    if auth.query_id is not None and auth.query_id != scope.query_id:
        problems.append("given for another query")
    return problems + _scope_problems(auth.scope, scope)


# --- windows ------------------------------------------------------------------------------------


def _ages(tier: Tier) -> str:
    if tier.from_day == 0:
        return f"reads up to {tier.until_day} days old"
    return f"reads older than {tier.from_day} days"


def _tier_span(profile: JurisdictionProfile, index: int, now_us: int, until_us: int) -> _Span:
    tier = profile.tiers[index]
    lo = now_us - tier.until_day * US_PER_DAY + 1
    hi = until_us if index == 0 else now_us - tier.from_day * US_PER_DAY
    return lo, hi


def _refusal(
    span: _Span, code: RefusalCode, message: str, tier: Tier | None, source: str
) -> Refusal:
    return Refusal(
        since_us=span[0],
        until_us=span[1],
        code=code,
        message=message,
        tier=None if tier is None else tier.label,
        needs=None if tier is None else tier.authorisation,
        allowed_purposes=() if tier is None else tier.purposes,
        source=source,
    )


def _open_tier(
    tier: Tier, part: _Span, usable: Sequence[Authorisation], unused: dict[str, str]
) -> tuple[list[Window], list[_Span]]:
    """Windows that the usable authorisations open in ``part``, and what stays closed."""
    req = tier.authorisation
    if req.kind is None:
        return [Window(since_us=part[0], until_us=part[1], tier=tier.label, authorisation=None)], []
    windows: list[Window] = []
    closed = [part]
    for auth in usable:
        if auth.kind is not req.kind:
            unused.setdefault(
                auth.reference, f"a {auth.kind} authorisation does not open {tier.label}"
            )
            continue
        if req.every_query and auth.query_id is None:
            unused[auth.reference] = "an order must be given for this very query"
            continue
        lo = part[0] if auth.scope.since_us is None else auth.scope.since_us
        hi = part[1] if auth.scope.until_us is None else auth.scope.until_us
        opened, closed = _cut(closed, lo, hi)
        for a, b in opened:
            windows.append(
                Window(since_us=a, until_us=b, tier=tier.label, authorisation=auth.reference)
            )
        if opened:
            unused.pop(auth.reference, None)
        elif hi < part[0] or lo > part[1]:
            unused.setdefault(auth.reference, "its data period does not reach these reads")
        else:
            unused.setdefault(auth.reference, "another authorisation already opens these reads")
    return windows, closed


def allowed_windows(
    profile: JurisdictionProfile,
    purpose: Purpose,
    *,
    now_us: int,
    since_us: int,
    until_us: int,
    authorisations: Sequence[Authorisation] = (),
    scope: QueryScope = NO_SCOPE,
) -> Access:
    """The capture-time windows a query for ``purpose`` over [since_us, until_us] may read.

    Every part of the requested period lands in exactly one window or one refusal.
    """
    if since_us > until_us:
        raise ValueError(f"since_us {since_us} is after until_us {until_us}")
    windows: list[Window] = []
    refused: list[Refusal] = []
    ignored: list[IgnoredAuthorisation] = []
    usable: list[Authorisation] = []
    for auth in authorisations:
        problems = authorisation_problems(auth, now_us=now_us, scope=scope)
        if problems:
            ignored.append(
                IgnoredAuthorisation(reference=auth.reference, problem="; ".join(problems))
            )
        else:
            usable.append(auth)
    unused: dict[str, str] = {}
    oldest = now_us - profile.reads_max_days * US_PER_DAY + 1
    if since_us < oldest:
        message = (
            f"reads older than {profile.reads_max_days} days are past the retention limit of "
            f"{profile.name} and are never readable"
        )
        span = (since_us, min(until_us, oldest - 1))
        cite = profile.cite(profile.reads_source)
        refused.append(_refusal(span, RefusalCode.BEYOND_RETENTION, message, None, cite))
    for index, tier in enumerate(profile.tiers):
        lo, hi = _tier_span(profile, index, now_us, until_us)
        part = (max(lo, since_us), min(hi, until_us))
        if part[0] > part[1]:
            continue
        cite = profile.cite(tier.source)
        if purpose not in tier.purposes:
            allowed = ", ".join(tier.purposes)
            message = f"{_ages(tier)} may not be read for {purpose} ({tier.label} allows {allowed})"
            refused.append(_refusal(part, RefusalCode.PURPOSE_NOT_ALLOWED, message, tier, cite))
            continue
        opened, closed = _open_tier(tier, part, usable, unused)
        windows += opened
        message = f"{_ages(tier)} need {tier.authorisation.phrase} ({tier.label})"
        for span in closed:
            refused.append(_refusal(span, RefusalCode.AUTHORISATION_REQUIRED, message, tier, cite))
    used = {w.authorisation for w in windows}
    for auth in usable:
        if auth.reference not in used:
            problem = unused.get(auth.reference, "not needed: no tier of this query requires it")
            ignored.append(IgnoredAuthorisation(reference=auth.reference, problem=problem))
    return Access(
        windows=tuple(sorted(windows, key=lambda w: w.since_us)),
        refused=tuple(sorted(refused, key=lambda r: r.since_us)),
        ignored=tuple(ignored),
    )


def access_at(
    profile: JurisdictionProfile,
    purpose: Purpose,
    *,
    captured_us: int,
    now_us: int,
    authorisations: Sequence[Authorisation] = (),
    scope: QueryScope = NO_SCOPE,
) -> Access:
    """The decision for one read (an image view or an export of one record)."""
    return allowed_windows(
        profile,
        purpose,
        now_us=now_us,
        since_us=captured_us,
        until_us=captured_us,
        authorisations=authorisations,
        scope=scope,
    )


def image_visible(
    profile: JurisdictionProfile, *, captured_us: int, now_us: int, linked_to_case: bool
) -> bool:
    """Whether the image of a read captured at ``captured_us`` may still be kept and shown.

    Only retention: who may see it, for what, is ``access_at`` for the same capture time.
    """
    days = profile.images_max_days
    if linked_to_case and profile.images_case_max_days is not None:
        days = profile.images_case_max_days
    return now_us - captured_us < days * US_PER_DAY


# --- wide searches ------------------------------------------------------------------------------

_WILDCARDS = "*?"


def _pattern_problems(caps: WideSearchCaps, number: int, pattern: str) -> list[str]:
    text = re.sub(r"[^A-Z0-9*?]", "", pattern.upper())
    known = sum(c.isalnum() for c in text)
    wild = sum(c in _WILDCARDS for c in text)
    problems: list[str] = []
    if known < caps.min_known_chars:
        problems.append(
            f"partial plate {number} has {known} known characters, "
            f"fewer than {caps.min_known_chars}"
        )
    if wild > caps.max_wildcards:
        problems.append(
            f"partial plate {number} has {wild} wildcards, more than {caps.max_wildcards}"
        )
    if text[:1] in tuple(_WILDCARDS) and not caps.leading_wildcard:
        problems.append(f"partial plate {number} starts with a wildcard")
    return problems


def needs_approval(
    caps: WideSearchCaps, scope: QueryScope, *, since_us: int, until_us: int
) -> list[str]:
    """Why this search is wide enough to need a supervisor's approval; empty when it is not."""
    problems: list[str] = []
    span = until_us - since_us
    if span > caps.max_days * US_PER_DAY:
        problems.append(f"the period spans {span / US_PER_DAY:.1f} days, more than {caps.max_days}")
    if len(scope.plates) > caps.max_plates:
        problems.append(f"{len(scope.plates)} plates, more than {caps.max_plates}")
    for number, pattern in enumerate(scope.plate_patterns, start=1):
        problems += _pattern_problems(caps, number, pattern)
    if not (scope.plates or scope.plate_patterns):
        if not (scope.cameras or scope.zones):
            problems.append("a search without a plate over every camera")
        if len(scope.cameras) > caps.max_cameras:
            problems.append(
                f"a search without a plate over {len(scope.cameras)} cameras, "
                f"more than {caps.max_cameras}"
            )
        if len(scope.zones) > caps.max_zones:
            problems.append(
                f"a search without a plate over {len(scope.zones)} zones, "
                f"more than {caps.max_zones}"
            )
        if span > caps.area_max_hours * US_PER_HOUR:
            problems.append(
                f"a search without a plate over {span / US_PER_HOUR:.1f} hours, "
                f"more than {caps.area_max_hours}"
            )
    return problems
