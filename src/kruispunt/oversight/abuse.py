"""The abuse review: consultation patterns an oversight body should look at (pure).

Four rules over the consultations (searches, image views, exports, ...; refused attempts
included) of a period, thresholds from ``OversightConfig``:

- ``outlying_rate``: a user's consultations per active (local) day far above their peers':
  above max(floor, median + k × MAD, ratio × median), where MAD is scaled to a standard
  deviation (× 1.4826) and the peers are the users of the same role with at least the
  minimum number of consultations (all such users when a role has too few).
- ``off_hours_bulk``: many consultations by one user within one window (60 minutes) in
  the night (22:00 to 06:00 local): the densest window of each night is judged.
- ``wide_wildcard``: partial-plate searches with a leading wildcard, few known
  characters or many wildcards (patterns are kept by shape only: ``#`` a known character).
- ``single_use_cases``: a user whose consultations name, more often than the share and
  the minimum, a case number that no other audit record uses (counted over the period
  widened by ``case_context_days`` on both sides): a sign of invented case numbers.

A flag is a reason to look, not a finding: it names the user, zone and role, explains the
numbers, and lists the audit seqs to read. Detection runs over the whole node (peers are
network-wide); ``build_abuse`` then keeps the people of one zone.
"""

from __future__ import annotations

import datetime as dt
import enum
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from kruispunt.audit import AuditRecord
from kruispunt.config import OversightConfig
from kruispunt.oversight.period import US_PER_DAY, Period, local_time
from kruispunt.oversight.records import SYSTEM_ACTOR, case_key, is_consultation, wildcard_shapes
from kruispunt.oversight.transparency import Jurisdiction, PeriodOut

MAD_TO_SD = 1.4826  # MAD × this estimates the standard deviation of normal data
US_PER_MIN = 60_000_000
EXAMPLE_SHAPES = 5


class FlagKind(enum.StrEnum):
    OUTLYING_RATE = "outlying_rate"
    OFF_HOURS_BULK = "off_hours_bulk"
    WIDE_WILDCARD = "wide_wildcard"
    SINGLE_USE_CASES = "single_use_cases"


class AbuseFlag(msgspec.Struct, frozen=True, kw_only=True):
    kind: FlagKind
    user: str
    zone: str | None
    role: str | None
    explanation: str
    figures: dict[str, Any]
    evidence: tuple[int, ...]
    """Audit seqs to read (at most ``evidence_max``)."""
    evidence_total: int


class AbuseReport(msgspec.Struct, frozen=True, kw_only=True):
    kind: str = "abuse"
    period: PeriodOut
    zone: str | None
    generated_at: str
    generated_us: int
    jurisdiction: Jurisdiction
    users_reviewed: int
    consultations_reviewed: int
    by_kind: dict[str, int]
    flags: tuple[AbuseFlag, ...]
    thresholds: dict[str, Any]
    notes: tuple[str, ...]


class _User:
    """One person's consultations in the period."""

    def __init__(self, user: str):
        self.user = user
        self.zone: str | None = None
        self.role: str | None = None
        self.records: list[AuditRecord] = []

    def add(self, r: AuditRecord) -> None:
        self.records.append(r)
        self.zone = r.actor_zone or self.zone  # the latest known
        self.role = r.role or self.role

    def flag(
        self,
        kind: FlagKind,
        explanation: str,
        figures: dict[str, Any],
        evidence: Sequence[AuditRecord],
        rules: OversightConfig,
    ) -> AbuseFlag:
        seqs = sorted(r.seq for r in evidence)
        return AbuseFlag(
            kind=kind, user=self.user, zone=self.zone, role=self.role, explanation=explanation,
            figures=figures, evidence=tuple(seqs[: rules.evidence_max]),
            evidence_total=len(seqs),
        )  # fmt: skip


def _users(records: Iterable[AuditRecord], period: Period) -> dict[str, _User]:
    users: dict[str, _User] = {}
    for r in records:
        if period.contains(r.at_us) and is_consultation(r) and r.actor != SYSTEM_ACTOR:
            if r.actor not in users:
                users[r.actor] = _User(r.actor)
            users[r.actor].add(r)
    return users


# -- (a) outlying search rates --------------------------------------------------------------
def _rate(u: _User, timezone: str) -> tuple[float, int]:
    days = {local_time(r.at_us, timezone).date() for r in u.records}
    return len(u.records) / len(days), len(days)


def outlying_rates(
    users: dict[str, _User], rules: OversightConfig, timezone: str
) -> tuple[list[AbuseFlag], list[str]]:
    eligible = [u for u in users.values() if len(u.records) >= rules.rate_min_consultations]
    if len(eligible) < rules.rate_min_peers:
        return [], [
            f"Outlying rates: {len(eligible)} users with at least "
            f"{rules.rate_min_consultations} consultations; {rules.rate_min_peers} are needed "
            "to compare (not judged)."
        ]
    rates = {u.user: _rate(u, timezone) for u in eligible}
    by_role: dict[str | None, list[_User]] = defaultdict(list)
    for u in eligible:
        by_role[u.role].append(u)
    flags = []
    for u in eligible:
        same_role = by_role[u.role]
        peers, group = (
            (same_role, f"{u.role}s" if u.role else "users with no role recorded")
            if len(same_role) >= rules.rate_min_peers
            else (eligible, "users of any role")
        )
        values = [rates[p.user][0] for p in peers]
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values) * MAD_TO_SD
        threshold = max(
            rules.rate_floor_per_day, median + rules.rate_k * mad, rules.rate_min_ratio * median
        )
        rate, days = rates[u.user]
        if rate <= threshold:
            continue
        explanation = (
            f"{len(u.records)} consultations on {days} active days: {rate:.1f} a day, "
            f"against a median of {median:.1f} (MAD {mad:.1f}) among {len(peers)} {group}; "
            f"the threshold is {threshold:.1f} a day."
        )
        figures = {
            "consultations": len(u.records), "active_days": days, "per_day": round(rate, 2),
            "peer_median": round(median, 2), "peer_mad": round(mad, 2),
            "peers": len(peers), "peer_group": group, "threshold": round(threshold, 2),
        }  # fmt: skip
        flags.append(u.flag(FlagKind.OUTLYING_RATE, explanation, figures, u.records, rules))
    return flags, []


# -- (b) off-hours bulk searches ------------------------------------------------------------
def _night_of(at_us: int, rules: OversightConfig, timezone: str) -> str | None:
    """The night a moment lies in (the local date it began), or None in working hours."""
    local = local_time(at_us, timezone)
    start, end, hour = rules.night_start_hour, rules.night_end_hour, local.hour
    if start == end:
        return None
    if start > end:  # across midnight
        if hour >= start:
            return local.date().isoformat()
        return (local.date() - dt.timedelta(days=1)).isoformat() if hour < end else None
    return local.date().isoformat() if start <= hour < end else None


def _densest(records: list[AuditRecord], window_us: int) -> list[AuditRecord]:
    """The most records within any window of ``window_us`` (earliest such window)."""
    records = sorted(records, key=lambda r: (r.at_us, r.seq))
    best = (0, 0)
    j = 0
    for i, r in enumerate(records):
        j = max(j, i)
        while j < len(records) and records[j].at_us < r.at_us + window_us:
            j += 1
        if j - i > best[1] - best[0]:
            best = (i, j)
    return records[best[0] : best[1]]


def off_hours_bulk(
    users: dict[str, _User], rules: OversightConfig, timezone: str
) -> list[AbuseFlag]:
    flags = []
    window_us = rules.night_window_min * US_PER_MIN
    for u in users.values():
        nights: dict[str, list[AuditRecord]] = defaultdict(list)
        for r in u.records:
            night = _night_of(r.at_us, rules, timezone)
            if night is not None:
                nights[night].append(r)
        for night in sorted(nights):
            burst = _densest(nights[night], window_us)
            if len(burst) < rules.night_bulk_min:
                continue
            first = local_time(burst[0].at_us, timezone)
            last = local_time(burst[-1].at_us, timezone)
            explanation = (
                f"{len(burst)} consultations between {first:%H:%M} and {last:%H:%M} in the "
                f"night of {night} ({timezone}); {len(nights[night])} that night in all. "
                f"The limit is {rules.night_bulk_min} within {rules.night_window_min} minutes "
                f"between {rules.night_start_hour:02d}:00 and {rules.night_end_hour:02d}:00."
            )
            figures = {
                "night": night, "in_window": len(burst), "in_night": len(nights[night]),
                "from": first.isoformat(timespec="minutes"),
                "to": last.isoformat(timespec="minutes"),
                "limit": rules.night_bulk_min, "window_min": rules.night_window_min,
            }  # fmt: skip
            flags.append(u.flag(FlagKind.OFF_HOURS_BULK, explanation, figures, burst, rules))
    return flags


# -- (c) wide wildcard searches -------------------------------------------------------------
def why_wide(shape: str, rules: OversightConfig) -> list[str]:
    """Why a partial-plate pattern (by shape) is wide; empty when it is not."""
    reasons = []
    if shape[:1] in ("?", "*"):
        reasons.append("a leading wildcard")
    if shape.count("#") < rules.wildcard_min_known:
        reasons.append(f"fewer than {rules.wildcard_min_known} known characters")
    if shape.count("?") + shape.count("*") >= rules.wildcard_max_wildcards:
        reasons.append(f"{rules.wildcard_max_wildcards} wildcards or more")
    return reasons


def wide_wildcards(users: dict[str, _User], rules: OversightConfig) -> list[AbuseFlag]:
    flags = []
    for u in users.values():
        wide: list[AuditRecord] = []
        reasons: Counter[str] = Counter()
        shapes: list[str] = []
        for r in u.records:
            found = [(s, why) for s in wildcard_shapes(r) if (why := why_wide(s, rules))]
            if not found:
                continue
            wide.append(r)
            for shape, why in found:
                if shape not in shapes:
                    shapes.append(shape)
                reasons.update(why)
        if not wide:
            continue
        examples = shapes[:EXAMPLE_SHAPES]
        explanation = (
            f"{len(wide)} partial-plate searches with wide patterns (e.g. "
            f"{', '.join(examples)}): "
            + "; ".join(f"{reason} in {n}" for reason, n in sorted(reasons.items()))
            + "."
        )
        figures = {"searches": len(wide), "shapes": examples, "reasons": dict(reasons)}
        flags.append(u.flag(FlagKind.WIDE_WILDCARD, explanation, figures, wide, rules))
    return flags


# -- (d) case numbers used only once --------------------------------------------------------
def single_use_cases(
    users: dict[str, _User], uses: Counter[str], rules: OversightConfig, context: str
) -> list[AbuseFlag]:
    flags = []
    for u in users.values():
        with_case = [r for r in u.records if case_key(r) is not None]
        single = [r for r in with_case if uses[case_key(r) or ""] == 1]
        if not with_case or len(single) < rules.single_case_min:
            continue
        share = len(single) / len(with_case)
        if share < rules.single_case_share:
            continue
        explanation = (
            f"{len(single)} of {len(with_case)} consultations ({share:.0%}) name a case number "
            f"that no other audit record uses {context}. The limit is "
            f"{rules.single_case_min} and {rules.single_case_share:.0%}."
        )
        figures = {
            "single_use": len(single), "with_case": len(with_case), "share": round(share, 3),
            "limit": rules.single_case_min, "limit_share": rules.single_case_share,
        }  # fmt: skip
        flags.append(u.flag(FlagKind.SINGLE_USE_CASES, explanation, figures, single, rules))
    return flags


# -- the review -----------------------------------------------------------------------------
def case_uses(records: Iterable[AuditRecord]) -> Counter[str]:
    """How many audit records name each case (consultations, grants, authorisations ...)."""
    uses: Counter[str] = Counter()
    for r in records:
        key = case_key(r)
        if key is not None:
            uses[key] += 1
    return uses


class Review(msgspec.Struct, frozen=True, kw_only=True):
    """What ``detect`` found over the whole node, before a zone is chosen."""

    flags: tuple[AbuseFlag, ...]
    consultations: dict[str, tuple[str | None, int]]
    """Per user reviewed: (zone, consultations in the period)."""
    notes: tuple[str, ...]


def detect(records: Iterable[AuditRecord], *, period: Period, rules: OversightConfig) -> Review:
    """The review of the whole node. ``records``: the audit records of the period widened
    by ``case_context_days`` on both sides (the wider part only counts uses of cases)."""
    records = list(records)
    users = _users(records, period)
    tz = period.timezone
    rate_flags, notes = outlying_rates(users, rules, tz)
    widen = rules.case_context_days * US_PER_DAY
    first = local_time(period.since_us - widen, tz)
    last = local_time(period.until_us + widen - 1, tz)
    context = f"in the audit log from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    flags = [
        *rate_flags,
        *off_hours_bulk(users, rules, tz),
        *wide_wildcards(users, rules),
        *single_use_cases(users, case_uses(records), rules, context),
    ]
    order = list(FlagKind)
    flags.sort(key=lambda f: (f.zone or "", f.user, order.index(f.kind)))
    return Review(
        flags=tuple(flags),
        consultations={u.user: (u.zone, len(u.records)) for u in users.values()},
        notes=tuple(notes),
    )


def build_abuse(
    review: Review,
    *,
    period: Period,
    zone: str | None,
    generated_us: int,
    jurisdiction: Jurisdiction,
    rules: OversightConfig,
) -> AbuseReport:
    """The report of ``review`` for the people of ``zone`` (None: the whole node)."""
    flags = tuple(f for f in review.flags if zone is None or f.zone == zone)
    reviewed = [n for z, n in review.consultations.values() if zone is None or z == zone]
    by_kind = Counter(str(f.kind) for f in flags)
    return AbuseReport(
        period=PeriodOut.of(period),
        zone=zone,
        generated_at=period.local(generated_us).isoformat(timespec="seconds"),
        generated_us=generated_us,
        jurisdiction=jurisdiction,
        users_reviewed=len(reviewed),
        consultations_reviewed=sum(reviewed),
        by_kind={str(k): by_kind[str(k)] for k in FlagKind},
        flags=flags,
        thresholds=rules.model_dump(exclude={"default_days", "max_period_days"}),
        notes=(
            *review.notes,
            "A flag is a reason to look, not a finding: read the audit records it lists.",
            "Peers are compared across the whole node, also when the report is for one zone.",
        ),
    )
