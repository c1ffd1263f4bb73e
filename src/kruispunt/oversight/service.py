"""Who may read which report, for which zone; building it; auditing that it was read.

- Transparency: the auditor, the DPO, a magistrate and the administrator, for any zone or
  the whole node; a zone chief and a municipality for their own zone only (a user of the
  ``network`` zone: any). A municipality sees figures only (``figures_only``).
- Abuse: the auditor and the DPO, for any zone or the whole node; a zone chief for their
  own zone's people only.

Every report read writes one audit record (``report.transparency`` / ``report.abuse``)
with the reader, role, period, zone and format, and no purpose (it is not a consultation
of reads). The node's administrator at the command line (``local_admin``) is not checked
against these roles (it holds the database already) but is audited the same way.

Errors::

    Refused
    ├── PeriodError      400: ``bad_date``, ``bad_period``, ``period_too_long``
    └── ReportRefused    403: ``role_not_allowed``, ``zone_not_visible``;
                         400: ``unknown_zone``
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from kruispunt.access.principals import Principal, Role
from kruispunt.audit import write_audit
from kruispunt.config import OversightConfig
from kruispunt.domain.zones import Zone
from kruispunt.errors import Refused
from kruispunt.hits.store import HitStore
from kruispunt.law.profiles import JurisdictionProfile
from kruispunt.oversight import source
from kruispunt.oversight.abuse import AbuseReport, build_abuse, detect
from kruispunt.oversight.period import US_PER_DAY, Period, period_from
from kruispunt.oversight.transparency import (
    Jurisdiction,
    TransparencyReport,
    build_transparency,
    figures_only,
)
from kruispunt.registry import CameraRegistry
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore
from kruispunt.writer import Writer

if TYPE_CHECKING:
    from kruispunt.node import Node

NETWORK = "network"
Format = Literal["json", "html"]


class Kind(enum.StrEnum):
    TRANSPARENCY = "transparency"
    ABUSE = "abuse"


READERS: dict[Kind, frozenset[Role]] = {
    Kind.TRANSPARENCY: frozenset(
        {Role.AUDITOR, Role.DPO, Role.MAGISTRATE, Role.ZONE_CHIEF, Role.MUNICIPALITY, Role.ADMIN}
    ),
    Kind.ABUSE: frozenset({Role.AUDITOR, Role.DPO, Role.ZONE_CHIEF}),
}
OWN_ZONE_ONLY = frozenset({Role.ZONE_CHIEF, Role.MUNICIPALITY})


class ReportRefused(Refused):
    status = 403

    def __init__(self, message: str, code: str, status: int = 403):
        super().__init__(message, code)
        self.status = status


def report_zone(
    principal: Principal, kind: Kind, asked: str | None, zone_ids: Iterable[str]
) -> str | None:
    """The zone the report is for (None: the whole node), or ReportRefused."""
    if principal.role not in READERS[kind]:
        raise ReportRefused(
            f"a {principal.role} may not read the {kind} report", "role_not_allowed"
        )
    asked = None if asked in (None, "", NETWORK) else asked
    if asked is not None and asked not in set(zone_ids):
        raise ReportRefused(f"zone: no zone {asked[:40]!r}", "unknown_zone", 400)
    if principal.role in OWN_ZONE_ONLY and principal.zone_id != NETWORK:
        if asked is not None and asked != principal.zone_id:
            raise ReportRefused(
                f"a {principal.role} reads the reports of their own zone "
                f"({principal.zone_id}) only",
                "zone_not_visible",
            )
        return principal.zone_id
    return asked


def _now_us() -> int:
    return time.time_ns() // 1000


class OversightService:
    def __init__(
        self,
        *,
        store: SqlStore,
        writer: Writer,
        registry: CameraRegistry,
        hit_store: HitStore,
        zones: Iterable[Zone],
        law: JurisdictionProfile,
        config: OversightConfig,
        clock: Callable[[], int] = _now_us,
    ):
        self._store = store
        self._writer = writer
        self._registry = registry
        self._hit_store = hit_store
        self.zone_ids = tuple(z.id for z in zones)
        self.jurisdiction = Jurisdiction(key=law.key, name=law.name, country=law.country)
        self.config = config
        self._clock = clock

    @classmethod
    def of(cls, node: Node) -> OversightService:
        assert isinstance(node.store, SqlStore)
        return cls(
            store=node.store, writer=node.writer, registry=node.registry,
            hit_store=node.hit_store, zones=node.zones, law=node.law,
            config=node.config.oversight,
        )  # fmt: skip

    def period(self, since: str | None, until: str | None) -> Period:
        c = self.config
        return period_from(
            since, until, now_us=self._clock(), timezone=c.timezone,
            default_days=c.default_days, max_days=c.max_period_days,
        )  # fmt: skip

    # -- the reports ------------------------------------------------------------------------
    def transparency(
        self,
        principal: Principal,
        *,
        since: str | None = None,
        until: str | None = None,
        zone: str | None = None,
        fmt: Format = "json",
        source_of_request: str | None = None,
        local_admin: bool = False,
    ) -> TransparencyReport:
        zone, period = self._ask(principal, Kind.TRANSPARENCY, since, until, zone, local_admin)
        reader = self._store.reader()
        report = build_transparency(
            period=period, zone=zone, cameras=self._registry.all(),
            reads=source.reads_per_camera(reader, period.since_us, period.until_us),
            hits=source.hits_between(self._hit_store, period.since_us, period.until_us),
            records=source.audit_between(reader, period.since_us, period.until_us),
            generated_us=self._clock(), jurisdiction=self.jurisdiction,
        )  # fmt: skip
        if principal.role is Role.MUNICIPALITY:
            report = figures_only(report)
        self._audit(principal, Kind.TRANSPARENCY, period, zone, fmt, source_of_request, None)
        return report

    def abuse(
        self,
        principal: Principal,
        *,
        since: str | None = None,
        until: str | None = None,
        zone: str | None = None,
        fmt: Format = "json",
        source_of_request: str | None = None,
        local_admin: bool = False,
    ) -> AbuseReport:
        zone, period = self._ask(principal, Kind.ABUSE, since, until, zone, local_admin)
        widen = self.config.case_context_days * US_PER_DAY
        records = source.audit_between(
            self._store.reader(), period.since_us - widen, period.until_us + widen
        )
        review = detect(records, period=period, rules=self.config)
        report = build_abuse(
            review, period=period, zone=zone, generated_us=self._clock(),
            jurisdiction=self.jurisdiction, rules=self.config,
        )  # fmt: skip
        self._audit(principal, Kind.ABUSE, period, zone, fmt, source_of_request, len(report.flags))
        return report

    def _ask(
        self,
        principal: Principal,
        kind: Kind,
        since: str | None,
        until: str | None,
        zone: str | None,
        local_admin: bool,
    ) -> tuple[str | None, Period]:
        if local_admin:
            asked = None if zone in (None, "", NETWORK) else zone
            if asked is not None and asked not in self.zone_ids:
                raise ReportRefused(f"zone: no zone {asked[:40]!r}", "unknown_zone", 400)
            chosen = asked
        else:
            chosen = report_zone(principal, kind, zone, self.zone_ids)
        return chosen, self.period(since, until)

    def _audit(
        self,
        principal: Principal,
        kind: Kind,
        period: Period,
        zone: str | None,
        fmt: Format,
        source_of_request: str | None,
        results: int | None,
    ) -> None:
        scope: dict[str, Any] = {
            "since_us": period.since_us,
            "until_us": period.until_us,
            "zones": [zone or NETWORK],
        }

        def record(store: ReadStore) -> None:
            assert isinstance(store, SqlStore)
            with store.transaction() as conn:
                write_audit(
                    conn, actor=principal.user_id, actor_zone=principal.zone_id,
                    action=f"report.{kind}", object_type="report", object_id=str(kind),
                    detail={"zone": zone or NETWORK, "format": fmt,
                            "since": period.local(period.since_us).isoformat(),
                            "until": period.local(period.until_us).isoformat()},
                    role=str(principal.role), source=source_of_request, scope=scope,
                    results=results,
                )  # fmt: skip

        self._writer.call(record).result()
