"""Section (average-speed) control: the sections as data and the pure decision rules.

A section runs from an entry camera to an exit camera (of any zone or vendor) over a road
length. A vehicle's average speed is the length over the time between its two reads; the
jurisdiction's technical margin is taken off, and only a corrected speed above the limit
that applied (by vehicle class and local time) is an offence. Everything here is pure: the
processor (``section_control``) feeds it reads and stores what it decides.

In doubt, in favour of the driver: the highest limit of the vehicle classes the two cameras
saw and of the local times at entry and exit; the corrected speed rounded down; a pair whose
camera clocks are not checked is not judged at all; an exit after the section's window (the
length at ``min_speed_kmh``, at most every limit) is no offence.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import math
import zoneinfo
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import msgspec
from pydantic import Field, model_validator

from kruispunt.config import Strict, TimeZone
from kruispunt.enforcement.offences import Offence, OffenceCategory, offence_id

MODULE = "section_control"
US = 1_000_000
VehicleClass = Literal["car", "van", "truck", "bus", "motorcycle", "trailer", "other"]


class RouteRule(enum.StrEnum):
    EACH_SECTION = "each_section"
    """Every section of a route is judged (and fined) on its own."""
    HIGHEST_EXCESS = "highest_excess"
    """One offence per passage of a route of chained sections: the highest excess (NL)."""


class MarginRule(Strict):
    """A jurisdiction's technical margin: ``fixed_kmh`` while the basis speed is at most
    ``up_to_kmh``, ``percent`` of it above (BE: 6 km/h / 6 %, NL: 3 km/h / 3 %)."""

    fixed_kmh: float = Field(ge=0, le=50, description="Margin up to up_to_kmh (km/h).")
    up_to_kmh: float = Field(gt=0, le=300, description="Speeds up to this get the fixed margin.")
    percent: float = Field(ge=0, le=50, description="Above: this percentage of the basis speed.")
    basis: Literal["measured", "limit"] = Field(
        "measured", description="Which speed the threshold and the percentage apply to."
    )
    round_down: bool = Field(True, description="The corrected speed in whole km/h, rounded down.")
    route_rule: RouteRule = RouteRule.EACH_SECTION
    min_section_m: float = Field(0.0, ge=0, description="Shortest section allowed (NL: 200 m).")
    source: str = Field(min_length=1, description="Where the rule comes from.")


class LimitRule(Strict):
    """A limit for some vehicle classes and/or local times; the first rule that matches wins,
    else the section's ``limit_kmh``."""

    limit_kmh: int = Field(gt=0, le=300)
    vehicle_classes: tuple[VehicleClass, ...] = Field((), description="Empty: every class.")
    from_time: dt.time | None = Field(None, description="Local; with until_time (may wrap).")
    until_time: dt.time | None = None
    weekdays: tuple[int, ...] = Field((), description="ISO weekdays 1-7; empty: every day.")

    @model_validator(mode="after")
    def _times(self) -> LimitRule:
        if (self.from_time is None) != (self.until_time is None):
            raise ValueError("from_time and until_time go together")
        if any(not 1 <= d <= 7 for d in self.weekdays):
            raise ValueError("weekdays: ISO days 1 (Monday) to 7 (Sunday)")
        return self

    def matches(self, vehicle_class: str | None, local: dt.datetime) -> bool:
        if self.vehicle_classes and vehicle_class not in self.vehicle_classes:
            return False
        if self.weekdays and local.isoweekday() not in self.weekdays:
            return False
        if self.from_time is None or self.until_time is None:
            return True
        t = local.time()
        if self.from_time <= self.until_time:
            return self.from_time <= t < self.until_time
        return t >= self.from_time or t < self.until_time  # e.g. 22:00 to 06:00


class Section(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    name: str = Field(min_length=1)
    entry_camera: str = Field(min_length=1)
    exit_camera: str = Field(min_length=1)
    length_m: float = Field(gt=0, le=100_000, description="Road length between the cameras.")
    limit_kmh: int = Field(gt=0, le=300)
    limits: tuple[LimitRule, ...] = ()
    jurisdiction: str = Field(min_length=2, description="A key of the file's margins.")
    route: str | None = Field(None, description="Chained sections share a route id.")
    min_speed_kmh: float = Field(
        20.0, gt=0, description="The exit window is length_m at this speed (at most any limit)."
    )
    max_speed_kmh: float = Field(
        250.0, gt=0, description="Faster: two vehicles under one plate, not a measurement."
    )
    min_confidence: float = Field(0.0, ge=0, le=1, description="Reads below are not used.")

    @property
    def window_us(self) -> int:
        """How long after its entry a passage can still end: beyond it, no offence."""
        return int(self.length_m / (self.min_speed_kmh / 3.6) * US)

    def lowest_limit(self) -> int:
        return min([self.limit_kmh, *(r.limit_kmh for r in self.limits)])


class SectionPlan(Strict):
    """The sections file (``kruispunt/data/sections.toml`` is the simulated province's)."""

    version: Literal[1] = Field(alias="schema")
    timezone: TimeZone = "Europe/Brussels"
    margins: dict[str, MarginRule]
    sections: tuple[Section, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """``[defaults]`` fills what a section leaves out."""
        if isinstance(data, dict) and isinstance(data.get("defaults"), dict):
            data = dict(data)
            defaults = data.pop("defaults")
            data["sections"] = [
                {**defaults, **s} if isinstance(s, dict) else s for s in data.get("sections", ())
            ]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> SectionPlan:
        problems = plan_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def plan_problems(plan: SectionPlan) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for s in plan.sections:
        where = f"section {s.id}"
        if s.id in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(s.id)
        rule = plan.margins.get(s.jurisdiction)
        if rule is None:
            problems.append(f"{where}: no margins for jurisdiction {s.jurisdiction!r}")
        elif s.length_m < rule.min_section_m:
            problems.append(f"{where}: shorter than {rule.min_section_m:g} m ({s.jurisdiction})")
        if s.entry_camera == s.exit_camera:
            problems.append(f"{where}: entry and exit are the same camera")
        if s.min_speed_kmh > s.lowest_limit():
            problems.append(f"{where}: min_speed_kmh above a limit (offences would be dropped)")
        if s.max_speed_kmh <= s.limit_kmh:
            problems.append(f"{where}: max_speed_kmh must be above the limit")
    for route, members in routes(plan).items():
        if len({s.jurisdiction for s in members}) > 1:
            problems.append(f"route {route}: sections of one jurisdiction only")
        if len(chain(members)) != len(members):
            problems.append(f"route {route}: sections must chain (each exit the next entry)")
    return problems


def routes(plan: SectionPlan) -> dict[str, list[Section]]:
    out: dict[str, list[Section]] = {}
    for s in plan.sections:
        if s.route is not None:
            out.setdefault(s.route, []).append(s)
    return out


def chain(members: list[Section]) -> list[Section]:
    """The sections in driving order (exit of one = entry of the next); shorter than
    ``members`` when they do not form one chain."""
    by_entry = {s.entry_camera: s for s in members}
    exits = {s.exit_camera for s in members}
    starts = [s for s in members if s.entry_camera not in exits]
    if len(starts) != 1 or len(by_entry) != len(members):
        return []
    ordered = [starts[0]]
    while (nxt := by_entry.get(ordered[-1].exit_camera)) is not None and len(ordered) <= len(
        members
    ):
        ordered.append(nxt)
    return ordered


def next_sections(plan: SectionPlan) -> dict[str, Section | None]:
    """Per section, the next one of its route (None: the last, or no route)."""
    out: dict[str, Section | None] = {s.id: None for s in plan.sections}
    for members in routes(plan).values():
        ordered = chain(members)
        for a, b in itertools.pairwise(ordered):
            out[a.id] = b
    return out


# -- reads and clocks ---------------------------------------------------------------------
class ReadRef(NamedTuple):
    """What a decision needs of one read (and all an open passage keeps: a small tuple)."""

    camera_id: str
    read_id: str
    seq: int
    at_us: int
    """Capture time, by the camera's clock."""
    confidence: float
    skew_us: int
    """The camera's clock skew when it took the read (camera minus true time)."""
    vehicle_class: str | None


@dataclass(frozen=True, slots=True)
class ClockStatus:
    """A camera's clock as measured: ``skew_us`` is camera minus true time (None: not
    measured yet). The health module (issue 8) will provide it; until then section control
    estimates it from arrival delays (``section_control.ArrivalClockEstimator``)."""

    camera_id: str
    skew_us: int | None
    samples: int
    source: str


def clock_checked(status: ClockStatus | None, max_skew_us: int) -> bool:
    """Only a measured clock within the bound is fit for an average-speed measurement."""
    return status is not None and status.skew_us is not None and abs(status.skew_us) <= max_skew_us


def pair_clock_checked(
    entry: ClockStatus | None, exit: ClockStatus | None, max_skew_us: int
) -> bool:
    return clock_checked(entry, max_skew_us) and clock_checked(exit, max_skew_us)


# -- the computation ----------------------------------------------------------------------
def average_speed_kmh(length_m: float, duration_us: int) -> float:
    return length_m / (duration_us / US) * 3.6


def clock_error_shift_kmh(length_m: float, speed_kmh: float, error_s: float) -> float:
    """How much a clock error of ``error_s`` (the duration that much too short) raises the
    measured speed of a vehicle at ``speed_kmh``: 1 s over 1 km at 70 km/h ≈ 1.4 km/h."""
    duration_s = length_m / (speed_kmh / 3.6)
    return length_m / (duration_s - error_s) * 3.6 - speed_kmh


def speed_range_kmh(length_m: float, duration_us: int, max_skew_us: int) -> tuple[float, float]:
    """The average speed if each clock were off by the bound, either way (the evidence)."""
    slack = 2 * max_skew_us
    low = average_speed_kmh(length_m, duration_us + slack)
    high = average_speed_kmh(length_m, duration_us - slack) if duration_us > slack else math.inf
    return low, high


def margin_kmh(rule: MarginRule, measured_kmh: float, limit_kmh: float) -> float:
    basis = measured_kmh if rule.basis == "measured" else limit_kmh
    return rule.fixed_kmh if basis <= rule.up_to_kmh else basis * rule.percent / 100.0


def corrected_kmh(rule: MarginRule, measured_kmh: float, limit_kmh: float) -> float:
    corrected = measured_kmh - margin_kmh(rule, measured_kmh, limit_kmh)
    # round() first: 129 × 0.94 must not come out as 121.2599… floored wrongly
    return float(math.floor(round(corrected, 6))) if rule.round_down else corrected


def margin_text(rule: MarginRule) -> str:
    return (
        f"{rule.fixed_kmh:g} km/h up to {rule.up_to_kmh:g} km/h, {rule.percent:g}% above "
        f"(of the {rule.basis} speed){', rounded down' if rule.round_down else ''}"
    )


def applicable_limit(
    section: Section, classes: set[str | None], times: tuple[dt.datetime, ...]
) -> tuple[int, str]:
    """The limit in the driver's favour: the highest over the classes the cameras saw and the
    local times of entry and exit; with which rule gave it."""
    found = [(section.limit_kmh, "section")] if not classes or not times else []
    for vclass in classes:
        for local in times:
            found.append(_limit_at(section, vclass, local))
    return max(found, key=lambda f: f[0])


def _limit_at(section: Section, vclass: str | None, local: dt.datetime) -> tuple[int, str]:
    for i, rule in enumerate(section.limits):
        if rule.matches(vclass, local):
            return rule.limit_kmh, f"limits[{i}]"
    return section.limit_kmh, "section"


class Outcome(enum.StrEnum):
    OFFENCE = "offence"
    COMPLIANT = "compliant"
    TOO_LATE = "too_late"
    """The exit came after the section's window: no offence, no trace."""
    IMPLAUSIBLE = "implausible"
    """Exit before entry, or faster than ``max_speed_kmh``: a pairing error, not evidence."""


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    duration_us: int
    average_kmh: float = 0.0
    margin_kmh: float = 0.0
    corrected_kmh: float = 0.0
    limit_kmh: int = 0
    limit_rule: str = ""
    excess_kmh: float = 0.0


def judge(
    section: Section, rule: MarginRule, entry: ReadRef, exit: ReadRef, tz: dt.tzinfo
) -> Verdict:
    """Offence or not, for one vehicle's entry and exit reads of a section (clocks checked
    by the caller)."""
    duration = exit.at_us - entry.at_us
    if duration > section.window_us:
        return Verdict(Outcome.TOO_LATE, duration)
    if duration <= 0:
        return Verdict(Outcome.IMPLAUSIBLE, duration)
    measured = average_speed_kmh(section.length_m, duration)
    if measured > section.max_speed_kmh:
        return Verdict(Outcome.IMPLAUSIBLE, duration, measured)
    times = (local_time(entry.at_us, tz), local_time(exit.at_us, tz))
    limit, which = applicable_limit(section, {entry.vehicle_class, exit.vehicle_class}, times)
    margin = margin_kmh(rule, measured, limit)
    corrected = corrected_kmh(rule, measured, limit)
    outcome = Outcome.OFFENCE if corrected > limit else Outcome.COMPLIANT
    return Verdict(
        outcome, duration, measured, margin, corrected, limit, which, max(0.0, corrected - limit)
    )


def local_time(at_us: int, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(at_us / US, tz)


def local_day(at_us: int, tz: dt.tzinfo) -> str:
    return local_time(at_us, tz).date().isoformat()


# -- the record -----------------------------------------------------------------------------
def _read_evidence(ref: ReadRef, tz: dt.tzinfo) -> dict[str, Any]:
    return {
        "camera_id": ref.camera_id,
        "read_id": ref.read_id,
        "seq": ref.seq,
        "captured_us": ref.at_us,
        "captured_at": local_time(ref.at_us, tz).isoformat(timespec="microseconds"),
        "confidence": ref.confidence,
        "vehicle_class": ref.vehicle_class,
        "clock_skew_s": ref.skew_us / US,
    }


def evidence(
    section: Section,
    jurisdiction: str,
    rule: MarginRule,
    verdict: Verdict,
    entry: ReadRef,
    exit: ReadRef,
    *,
    tz: dt.tzinfo,
    max_skew_us: int,
    clock_source: str,
) -> dict[str, Any]:
    low, high = speed_range_kmh(section.length_m, verdict.duration_us, max_skew_us)
    return {
        "section_id": section.id,
        "section_name": section.name,
        "length_m": section.length_m,
        "entry": _read_evidence(entry, tz),
        "exit": _read_evidence(exit, tz),
        "duration_s": verdict.duration_us / US,
        "average_kmh": round(verdict.average_kmh, 3),
        "computation": "average_kmh = length_m / duration_s × 3.6",
        "limit_kmh": verdict.limit_kmh,
        "limit_rule": verdict.limit_rule,
        "margin": {
            "jurisdiction": jurisdiction,
            "rule": margin_text(rule),
            "source": rule.source,
            "margin_kmh": round(verdict.margin_kmh, 3),
        },
        "corrected_kmh": verdict.corrected_kmh,
        "excess_kmh": verdict.excess_kmh,
        "clock": {
            "source": clock_source,
            "max_skew_s": max_skew_us / US,
            "speed_range_kmh": [round(low, 3), round(high, 3) if math.isfinite(high) else None],
        },
    }


def make_offence(
    section: Section,
    evidence: dict[str, Any],
    entry: ReadRef,
    exit: ReadRef,
    *,
    plate: str,
    country: str | None,
    zone_id: str,
    created_us: int,
    tz: dt.tzinfo,
) -> Offence:
    """The offence of one passage; its id comes from the section and the two reads, so the
    same passage judged again (a replayed log) is the same offence."""
    return Offence(
        id=offence_id(MODULE, section.id, entry.camera_id, entry.read_id, exit.camera_id,
                      exit.read_id),
        module=MODULE,
        category=OffenceCategory.SPEEDING,
        plate=plate,
        country=country,
        day=local_day(exit.at_us, tz),
        occurred_us=exit.at_us,
        created_us=created_us,
        zone_id=zone_id,
        camera_ids=(entry.camera_id, exit.camera_id),
        evidence=evidence,
    )  # fmt: skip


def highest_excess(offences: list[Offence]) -> Offence:
    """NL: on a route of chained sections, one fine: the section with the highest excess
    (the earlier one on a tie)."""
    return max(offences, key=lambda o: (o.evidence["excess_kmh"], -o.occurred_us))


def with_route(chosen: Offence, route: str, considered: list[Offence]) -> Offence:
    """``chosen`` with the route's other offending sections in its evidence."""
    summary = [
        {"section_id": o.evidence["section_id"], "offence_id": o.id,
         "corrected_kmh": o.evidence["corrected_kmh"], "limit_kmh": o.evidence["limit_kmh"],
         "excess_kmh": o.evidence["excess_kmh"]}
        for o in considered
    ]  # fmt: skip
    route_evidence = {"id": route, "rule": str(RouteRule.HIGHEST_EXCESS), "offending": summary}
    return msgspec.structs.replace(chosen, evidence={**chosen.evidence, "route": route_evidence})
