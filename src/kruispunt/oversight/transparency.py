"""The transparency report: what the node did in a period, in figures only (pure).

Inputs are read already (``kruispunt.oversight.source``): the cameras as registered now, the
reads per camera (from the traffic counts, which outlive the reads), the hits raised in the
period (those retention has not purged yet) and the audit records of the period. No plate,
no name of a searched vehicle, no free text of a consultation reaches the report: purposes
outside the known list are counted as ``(invalid)``, refusals by their code.

With a zone: cameras and reads of that zone's cameras, hits raised by its cameras,
consultations and logins by its people, grants, authorisations, approvals and holds that
name it. Purges are the node's, whatever the zone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from kruispunt.audit import AuditRecord
from kruispunt.domain.cameras import Camera
from kruispunt.hits.models import Hit, HitStatus, Outcome
from kruispunt.hotlists.models import COVERT_CATEGORIES, Category
from kruispunt.law.purpose import Purpose
from kruispunt.oversight.period import Period
from kruispunt.oversight.records import base_action, is_consultation, zones_of

NO_PURPOSE = "(none)"
INVALID_PURPOSE = "(invalid)"
UNKNOWN_ZONE = "(unknown)"


class CameraReads(msgspec.Struct, frozen=True):
    """The reads of one camera in the period (sums of its traffic counts)."""

    camera_id: str
    reads: int
    low_confidence: int = 0
    foreign: int = 0


class ZoneCameras(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    active: int


class CameraFigures(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    active: int
    by_zone: dict[str, ZoneCameras]


class ReadFigures(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    low_confidence: int
    foreign: int
    by_zone: dict[str, int]


class HitFigures(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    historic: int
    by_category: dict[str, int]
    by_status: dict[str, int]
    by_outcome: dict[str, int]
    by_zone: dict[str, int]
    """By the zone of the camera that read the plate."""


class ConsultationFigures(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    ran: int
    refused: int
    results: int
    """Results returned by the consultations that ran, summed."""
    users: int
    without_case: int
    by_purpose: dict[str, int]
    by_action: dict[str, int]
    refused_by_code: dict[str, int]
    by_zone: dict[str, int]
    """By the zone of the person consulting."""


class GrantFigures(msgspec.Struct, frozen=True, kw_only=True):
    requested: int
    approved: int
    refused: int
    revoked: int
    expired: int
    forbidden: int
    """Attempts to decide a grant by someone who may not."""


class AuthorisationFigures(msgspec.Struct, frozen=True, kw_only=True):
    recorded: int
    revoked: int


class ApprovalFigures(msgspec.Struct, frozen=True, kw_only=True):
    requested: int
    approved: int
    refused: int


class HoldFigures(msgspec.Struct, frozen=True, kw_only=True):
    created: int
    released: int
    expired: int


class PurgeRun(msgspec.Struct, frozen=True, kw_only=True):
    at_us: int
    days: int
    reads: int
    hits: int
    images: int | None


class PurgeFigures(msgspec.Struct, frozen=True, kw_only=True):
    runs: int
    reads: int
    hits: int
    images: int
    details: tuple[PurgeRun, ...]
    """Each run, oldest first."""


class LoginFigures(msgspec.Struct, frozen=True, kw_only=True):
    ok: int
    failed: int
    locked: int


class Jurisdiction(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    country: str


class PeriodOut(msgspec.Struct, frozen=True, kw_only=True):
    since: str
    until: str
    """Exclusive."""
    since_us: int
    until_us: int
    timezone: str
    days: float

    @classmethod
    def of(cls, period: Period) -> PeriodOut:
        return cls(
            since=period.local(period.since_us).isoformat(),
            until=period.local(period.until_us).isoformat(),
            since_us=period.since_us,
            until_us=period.until_us,
            timezone=period.timezone,
            days=round(period.days, 3),
        )


class TransparencyReport(msgspec.Struct, frozen=True, kw_only=True):
    kind: str = "transparency"
    period: PeriodOut
    zone: str | None
    """None: the whole node."""
    generated_at: str
    generated_us: int
    jurisdiction: Jurisdiction
    cameras: CameraFigures
    reads: ReadFigures
    hits: HitFigures
    consultations: ConsultationFigures
    grants: GrantFigures
    authorisations: AuthorisationFigures
    approvals: ApprovalFigures
    legal_holds: HoldFigures
    purges: PurgeFigures
    logins: LoginFigures
    reports_read: dict[str, int]
    """Transparency and abuse reports read in the period (oversight of the oversight)."""
    notes: tuple[str, ...]


NOTES = (
    "Cameras: as registered when the report was made (the registry keeps no history).",
    "Reads: from the traffic counts per quarter hour, which hold no plate and outlive "
    "the reads themselves.",
    "Hits: those raised in the period and not yet purged by retention.",
    "Consultations, grants, authorisations, approvals, holds, purges and logins: from the "
    "audit log.",
)


def _sorted(counter: Mapping[str, int]) -> dict[str, int]:
    return {k: counter[k] for k in sorted(counter)}


def camera_figures(cameras: Sequence[Camera], zone: str | None) -> CameraFigures:
    total: Counter[str] = Counter()
    active: Counter[str] = Counter()
    for cam in cameras:
        if zone is not None and cam.zone_id != zone:
            continue
        total[cam.zone_id] += 1
        active[cam.zone_id] += cam.active
    by_zone = {z: ZoneCameras(total=total[z], active=active[z]) for z in sorted(total)}
    return CameraFigures(total=total.total(), active=active.total(), by_zone=by_zone)


def read_figures(
    cameras: Sequence[Camera], reads: Iterable[CameraReads], zone: str | None
) -> ReadFigures:
    zone_of = {c.id: c.zone_id for c in cameras}
    by_zone: Counter[str] = Counter()
    low = foreign = 0
    for r in reads:
        cam_zone = zone_of.get(r.camera_id, UNKNOWN_ZONE)  # a camera deleted since
        if zone is not None and cam_zone != zone:
            continue
        by_zone[cam_zone] += r.reads
        low += r.low_confidence
        foreign += r.foreign
    return ReadFigures(
        total=by_zone.total(), low_confidence=low, foreign=foreign, by_zone=_sorted(by_zone)
    )


def hit_figures(hits: Iterable[Hit], zone: str | None) -> HitFigures:
    category: Counter[str] = Counter()
    status: Counter[str] = Counter()
    outcome: Counter[str] = Counter()
    by_zone: Counter[str] = Counter()
    historic = 0
    for h in hits:
        if zone is not None and h.camera_zone_id != zone:
            continue
        category[str(h.category)] += 1
        status[str(h.status)] += 1
        if h.status is HitStatus.CLOSED:
            outcome[str(h.outcome) if h.outcome else str(Outcome.OTHER)] += 1
        by_zone[h.camera_zone_id] += 1
        historic += h.historic
    return HitFigures(
        total=by_zone.total(), historic=historic, by_category=_sorted(category),
        by_status=_sorted(status), by_outcome=_sorted(outcome), by_zone=_sorted(by_zone),
    )  # fmt: skip


_PURPOSES = frozenset(p.value for p in Purpose)


def _purpose(record: AuditRecord) -> str:
    purpose = record.purpose
    if not purpose:
        return NO_PURPOSE
    return purpose if purpose in _PURPOSES else INVALID_PURPOSE


class _Tally:
    """Counts the audit records of a period, one pass."""

    def __init__(self, zone: str | None):
        self.zone = zone
        self.actions: Counter[str] = Counter()
        self.purpose: Counter[str] = Counter()
        self.action: Counter[str] = Counter()
        self.refused_code: Counter[str] = Counter()
        self.consult_zone: Counter[str] = Counter()
        self.users: set[str] = set()
        self.ran = self.refused = self.results = self.without_case = 0
        self.purges: list[PurgeRun] = []

    def add(self, r: AuditRecord) -> None:
        if is_consultation(r):
            if self.zone is None or r.actor_zone == self.zone:
                self._consultation(r)
            return
        if r.action == "retention.purge":
            self.purges.append(_purge(r))
            return
        if self.zone is None or self.zone in zones_of(r):
            self.actions[r.action] += 1

    def _consultation(self, r: AuditRecord) -> None:
        action, refused = base_action(r.action)
        self.action[action] += 1
        self.purpose[_purpose(r)] += 1
        self.consult_zone[r.actor_zone or UNKNOWN_ZONE] += 1
        self.users.add(r.actor)
        self.without_case += not (r.case or "").strip()
        if refused:
            self.refused += 1
            code = r.detail.get("code")
            self.refused_code[code if isinstance(code, str) else "(unknown)"] += 1
        else:
            self.ran += 1
            self.results += r.results or 0

    def count(self, action: str) -> int:
        return self.actions[action]

    def consultations(self) -> ConsultationFigures:
        return ConsultationFigures(
            total=self.ran + self.refused, ran=self.ran, refused=self.refused,
            results=self.results, users=len(self.users), without_case=self.without_case,
            by_purpose=_sorted(self.purpose), by_action=_sorted(self.action),
            refused_by_code=_sorted(self.refused_code), by_zone=_sorted(self.consult_zone),
        )  # fmt: skip


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _purge(r: AuditRecord) -> PurgeRun:
    days = r.detail.get("days")
    images = r.detail.get("images")
    return PurgeRun(
        at_us=r.at_us,
        days=len(days) if isinstance(days, list) else _int(days),
        reads=_int(r.detail.get("reads")),
        hits=_int(r.detail.get("hits")),
        images=_int(images) if images is not None else None,
    )


def build_transparency(
    *,
    period: Period,
    zone: str | None,
    cameras: Sequence[Camera],
    reads: Iterable[CameraReads],
    hits: Iterable[Hit],
    records: Iterable[AuditRecord],
    generated_us: int,
    jurisdiction: Jurisdiction,
) -> TransparencyReport:
    """The report of ``period`` (``zone`` None: the whole node). ``records`` may hold records
    outside the period: they are skipped."""
    tally = _Tally(zone)
    for r in records:
        if period.contains(r.at_us):
            tally.add(r)
    c = tally.count
    purges = tally.purges
    return TransparencyReport(
        period=PeriodOut.of(period),
        zone=zone,
        generated_at=period.local(generated_us).isoformat(timespec="seconds"),
        generated_us=generated_us,
        jurisdiction=jurisdiction,
        cameras=camera_figures(cameras, zone),
        reads=read_figures(cameras, reads, zone),
        hits=hit_figures(hits, zone),
        consultations=tally.consultations(),
        grants=GrantFigures(
            requested=c("grant.request"),
            approved=c("grant.approve"),
            refused=c("grant.refuse"),
            revoked=c("grant.revoke"),
            expired=c("grant.expire"),
            forbidden=c("grant.forbidden"),
        ),
        authorisations=AuthorisationFigures(
            recorded=c("authorisation.record"), revoked=c("authorisation.revoke")
        ),
        approvals=ApprovalFigures(
            requested=c("approval.request"),
            approved=c("approval.approve"),
            refused=c("approval.refuse"),
        ),
        legal_holds=HoldFigures(
            created=c("hold.create"), released=c("hold.release"), expired=c("hold.expire")
        ),
        purges=PurgeFigures(
            runs=len(purges),
            reads=sum(p.reads for p in purges),
            hits=sum(p.hits for p in purges),
            images=sum(p.images or 0 for p in purges),
            details=tuple(sorted(purges, key=lambda p: p.at_us)),
        ),
        logins=LoginFigures(ok=c("login"), failed=c("login.failed"), locked=c("login.locked")),
        reports_read={"transparency": c("report.transparency"), "abuse": c("report.abuse")},
        notes=NOTES,
    )


def figures_only(report: TransparencyReport) -> TransparencyReport:
    """The report as a municipality may see it: covert hit categories (investigation,
    observation) are counted under ``other``, so a count cannot tip anyone off."""
    covert = {str(c) for c in COVERT_CATEGORIES}
    categories: Counter[str] = Counter()
    for name, n in report.hits.by_category.items():
        categories[str(Category.OTHER) if name in covert else name] += n
    hits = msgspec.structs.replace(report.hits, by_category=_sorted(categories))
    return msgspec.structs.replace(report, hits=hits)
