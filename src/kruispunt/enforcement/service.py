"""Who reads which offence records; the back office's exports and status changes; the
dashboards' figures. Every reading, export and change writes an audit record.

Purpose limitation (``visibility``, pure): traffic enforcement is the business of the traffic
officers and the zone chief, and of nobody else (investigators do not browse fines).

- Section control is police business: the offences of the zone whose camera saw them.
- The low-emission zone is the city's business: its offences are read by the traffic
  officers and zone chief of the LEZ's zone (``enforcement.lez_zone_id``) only.

A record the caller may not read answers exactly as one that does not exist (404). Audit
records name plates as keyed tokens (``kruispunt.audit.PlateTokens``), never as text.

Errors::

    Refused
    └── OffenceRefused   400: ``bad_query``, ``bad_period``, ``note_required``;
                         403: ``module_not_visible``, ``zone_not_visible``;
                         404: ``unknown_offence``; 409: ``transition_refused``
"""

from __future__ import annotations

import datetime as dt
import re
import time
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from kruispunt.access.principals import Principal, Role
from kruispunt.audit import PlateTokens, read_audit, write_audit
from kruispunt.config import EnforcementConfig
from kruispunt.enforcement import stats
from kruispunt.enforcement.offences import (
    Offence,
    OffenceCategory,
    OffenceStatus,
    OffenceStore,
    narrowing,
)
from kruispunt.errors import Refused
from kruispunt.registry import CameraRegistry
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import Conn, SqlStore
from kruispunt.writer import Writer

if TYPE_CHECKING:
    from kruispunt.node import Node

SECTION_CONTROL = "section_control"
LEZ = "lez"
MODULES = (SECTION_CONTROL, LEZ)
OFFICERS = frozenset({Role.TRAFFIC_OFFICER, Role.ZONE_CHIEF})
"""The roles that read offence records (each for their own zone's business)."""
TRANSITIONS: Mapping[OffenceStatus, frozenset[OffenceStatus]] = {
    OffenceStatus.NEW: frozenset({OffenceStatus.EXPORTED, OffenceStatus.CANCELLED}),
    OffenceStatus.WARNING: frozenset({OffenceStatus.EXPORTED, OffenceStatus.CANCELLED}),
    OffenceStatus.EXPORTED: frozenset({OffenceStatus.CANCELLED}),
    OffenceStatus.CANCELLED: frozenset(),
}
"""Status changes a person may make: hand a record to the back office, or cancel it (with a
note; an exported record too, when the back office drops it)."""
SETTABLE = (OffenceStatus.EXPORTED, OffenceStatus.CANCELLED)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_decoder = msgspec.json.Decoder(Offence)


class OffenceRefused(Refused):
    def __init__(self, message: str, code: str, status: int = 400):
        super().__init__(message, code)
        self.status = status


# -- purpose limitation (pure) --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Visibility:
    """What a caller may read: the section-control offences of these zones, and the LEZ's."""

    section_zones: frozenset[str]
    lez: bool

    def sees(self, module: str, zone_id: str) -> bool:
        if module == SECTION_CONTROL:
            return zone_id in self.section_zones
        return module == LEZ and self.lez

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(
            m for m, on in ((SECTION_CONTROL, bool(self.section_zones)), (LEZ, self.lez)) if on
        )

    def sql(self) -> tuple[str, list[Any]]:
        """The WHERE clause (and its arguments) that keeps the visible records only."""
        parts: list[str] = []
        args: list[Any] = []
        if self.section_zones:
            marks = ", ".join("?" for _ in self.section_zones)
            parts.append(f"(module = ? AND zone_id IN ({marks}))")
            args += [SECTION_CONTROL, *sorted(self.section_zones)]
        if self.lez:
            parts.append("module = ?")
            args.append(LEZ)
        return ("(" + " OR ".join(parts) + ")" if parts else "1 = 0"), args


def visibility(principal: Principal, *, lez_zone_id: str) -> Visibility:
    if principal.role not in OFFICERS:
        return Visibility(frozenset(), lez=False)
    return Visibility(frozenset({principal.zone_id}), lez=principal.zone_id == lez_zone_id)


# -- queries (pure) -------------------------------------------------------------------------
class OffenceFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which offences a list or an export asks for; every field narrows."""

    module: str | None = None
    since_day: str | None = None
    until_day: str | None = None
    """Inclusive (local days, YYYY-MM-DD)."""
    status: OffenceStatus | None = None
    category: OffenceCategory | None = None
    zone: str | None = None


def _day(name: str, text: str | None) -> str | None:
    if not text:
        return None
    try:
        if not _DAY.match(text):
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        message = f"{name}: a day (2026-03-01), not {text[:40]!r}"
        raise OffenceRefused(message, "bad_query") from None


def _choice(name: str, text: str | None, kind: Callable[[str], Any], known: Iterable[str]) -> Any:
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise OffenceRefused(f"{name}: one of {', '.join(known)}", "bad_query") from None


def parse_filter(params: Mapping[str, str]) -> OffenceFilter:
    """The filter of a list's or an export's query parameters: ``module``, ``since`` and
    ``until`` (days), ``status``, ``category``, ``zone``."""

    def module(text: str) -> str:
        if text not in MODULES:
            raise ValueError
        return text

    f = OffenceFilter(
        module=_choice("module", params.get("module"), module, MODULES),
        since_day=_day("since", params.get("since")),
        until_day=_day("until", params.get("until")),
        status=_choice("status", params.get("status"), OffenceStatus, list(OffenceStatus)),
        category=_choice(
            "category", params.get("category"), OffenceCategory, list(OffenceCategory)
        ),
        zone=params.get("zone") or None,
    )
    if f.since_day and f.until_day and f.since_day > f.until_day:
        raise OffenceRefused("since: on or before until", "bad_query")
    return f


def check_filter(vis: Visibility, f: OffenceFilter) -> None:
    """Refuses a filter that names a module or zone the caller may not read (403): asking
    is not a way to learn what is there."""
    if f.module is not None and f.module not in vis.modules:
        raise OffenceRefused(
            f"the {f.module} offences are not yours to read", "module_not_visible", 403
        )
    if f.zone is None or f.zone in vis.section_zones:
        return
    if not (vis.lez and f.module != SECTION_CONTROL):
        raise OffenceRefused(
            f"zone: the offences of {f.zone[:40]!r} are not yours to read", "zone_not_visible", 403
        )


def filter_sql(vis: Visibility, f: OffenceFilter) -> tuple[list[str], list[Any]]:
    where, args = vis.sql()
    clauses, values = narrowing(
        (("module", f.module), ("status", f.status), ("category", f.category), ("zone_id", f.zone)),
        since_day=f.since_day, until_day=f.until_day,
    )  # fmt: skip
    return [where, *clauses], [*args, *values]


def cursor_of(o: Offence) -> str:
    """The page cursor after ``o`` (oldest first: occurred time, then id)."""
    return f"{o.occurred_us}.{o.id}"


def parse_cursor(text: str | None) -> tuple[int, str] | None:
    if not text:
        return None
    us, _, oid = text.partition(".")
    if not (us.isascii() and us.isdigit() and oid) or len(text) > 100:
        raise OffenceRefused("after: the 'next' of the previous page", "bad_query")
    return int(us), oid


def check_transition(current: OffenceStatus, target: OffenceStatus, note: str) -> None:
    if target not in SETTABLE:
        known = ", ".join(s.value for s in SETTABLE)
        raise OffenceRefused(f"status: one of {known}", "bad_query")
    if target not in TRANSITIONS[current]:
        raise OffenceRefused(
            f"an offence that is {current} cannot become {target}", "transition_refused", 409
        )
    if target is OffenceStatus.CANCELLED and not note.strip():
        raise OffenceRefused("note: say why the offence is cancelled", "note_required")


# -- what the service answers -------------------------------------------------------------
class OffencePage(msgspec.Struct, frozen=True, kw_only=True):
    offences: list[Offence]
    next: str | None
    """Give it as ``after`` for the next page (None: this was the last)."""


class StatusChange(msgspec.Struct, frozen=True, kw_only=True):
    """One status change of an offence, from the audit log."""

    at_us: int
    actor: str
    role: str | None
    from_status: str | None
    to_status: str | None
    note: str | None


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    module: str
    since: str
    until: str
    """Local days, inclusive."""
    zones: list[str]
    """Section control: the zones whose offences are counted; the LEZ: its zone."""
    total: int
    warnings: int
    fines: int
    cancelled: int
    fines_eur: int
    """The sum of the fines not cancelled."""
    per_day: list[stats.DayCount]
    categories: dict[str, int]
    top: list[stats.TopRow]
    """Section control: the sections with the most offences; the LEZ: the entry cameras."""
    speeds: list[stats.SpeedBin]
    speeds_source: str
    """``passages`` (every measured passage), ``offences`` (the offences' measured speeds,
    until section control stores its passages) or ``none`` (the LEZ)."""


def _now_us() -> int:
    return time.time_ns() // 1000


class OffenceService:
    def __init__(
        self,
        *,
        store: SqlStore,
        writer: Writer,
        registry: CameraRegistry,
        plate_tokens: PlateTokens,
        config: EnforcementConfig,
        timezone: str = "Europe/Brussels",
        clock: Callable[[], int] = _now_us,
    ):
        self._store = store
        self._writer = writer
        self._registry = registry
        self._tokens = plate_tokens
        self.config = config
        self.timezone = timezone
        self._clock = clock

    @classmethod
    def of(cls, node: Node) -> OffenceService:
        assert isinstance(node.store, SqlStore)
        return cls(
            store=node.store, writer=node.writer, registry=node.registry,
            plate_tokens=node.plate_tokens, config=node.config.enforcement,
            timezone=node.config.oversight.timezone,
        )  # fmt: skip

    def visibility(self, principal: Principal) -> Visibility:
        return visibility(principal, lez_zone_id=self.config.lez_zone_id)

    def camera_names(self) -> dict[str, str]:
        return {c.id: c.name for c in self._registry.all()}

    # -- records ----------------------------------------------------------------------------
    def records(
        self,
        principal: Principal,
        f: OffenceFilter,
        *,
        after: str | None = None,
        limit: int = 100,
        source: str | None = None,
    ) -> OffencePage:
        vis = self.visibility(principal)
        check_filter(vis, f)
        found = self._query(vis, f, parse_cursor(after), limit + 1)
        page = found[:limit]
        nxt = cursor_of(page[-1]) if len(found) > limit else None
        self._audit(
            principal, "offence.list", "list", detail=_detail(f) | {"after": after},
            plates=[o.plate for o in page], results=len(page), source=source,
        )  # fmt: skip
        return OffencePage(offences=page, next=nxt)

    def export(
        self, principal: Principal, f: OffenceFilter, *, fmt: str, source: str | None = None
    ) -> tuple[list[Offence], bool]:
        """The offences of ``f`` for the back office (oldest first) and whether the node's
        cap cut them short."""
        vis = self.visibility(principal)
        check_filter(vis, f)
        most = self.config.export_max
        found = self._query(vis, f, None, most + 1)
        offences, truncated = found[:most], len(found) > most
        self._audit(
            principal, "offence.export", fmt, detail=_detail(f) | {"format": fmt,
            "truncated": truncated}, plates=[o.plate for o in offences],
            results=len(offences), source=source,
        )  # fmt: skip
        return offences, truncated

    def get(
        self, principal: Principal, offence_id: str, *, source: str | None = None
    ) -> tuple[Offence, list[StatusChange]]:
        """One offence with its evidence, and its status changes."""
        conn = self._store.reader()
        offence = self._visible(conn, principal, offence_id)
        history = [
            StatusChange(
                at_us=r.at_us,
                actor=r.actor,
                role=r.role,
                from_status=r.detail.get("from"),
                to_status=r.detail.get("to"),
                note=r.detail.get("note"),
            )
            for r in read_audit(conn, object_type="offence", object_id=offence.id)
            if r.action == "offence.status"
        ]
        self._audit(
            principal, "offence.read", offence.id, detail={"module": offence.module},
            plates=[offence.plate], results=1, source=source,
        )  # fmt: skip
        return offence, history

    def set_status(
        self,
        principal: Principal,
        offence_id: str,
        status: OffenceStatus,
        *,
        note: str = "",
        source: str | None = None,
    ) -> Offence:
        """Hand an offence to the back office (``exported``) or cancel it (a note why)."""

        def change(store: ReadStore) -> Offence:
            assert isinstance(store, SqlStore)
            at = self._clock()
            with store.transaction() as conn:
                offence = self._visible(conn, principal, offence_id)
                check_transition(offence.status, status, note)
                OffenceStore.set_status(conn, offence.id, status, at)
                write_audit(
                    conn, actor=principal.user_id, actor_zone=principal.zone_id,
                    action="offence.status", object_type="offence", object_id=offence.id,
                    detail={"module": offence.module, "from": str(offence.status),
                            "to": str(status), "note": note or None},
                    at_us=at, role=str(principal.role), source=source,
                    scope={"plates": self._tokens.scope([offence.plate])}, results=1,
                )  # fmt: skip
            return msgspec.structs.replace(offence, status=status)

        return self._writer.call(change).result()

    def _visible(self, conn: Conn, principal: Principal, offence_id: str) -> Offence:
        row = conn.execute("SELECT doc FROM offences WHERE id = ?", (offence_id,)).fetchone()
        offence = None if row is None else _decoder.decode(bytes(row[0]))
        if offence is None or not self.visibility(principal).sees(offence.module, offence.zone_id):
            raise OffenceRefused(f"no offence {offence_id[:40]!r}", "unknown_offence", 404)
        return offence

    def _query(
        self, vis: Visibility, f: OffenceFilter, after: tuple[int, str] | None, limit: int
    ) -> list[Offence]:
        clauses, args = filter_sql(vis, f)
        if after is not None:
            clauses.append("(occurred_us > ? OR (occurred_us = ? AND id > ?))")
            args += [after[0], after[0], after[1]]
        rows = self._store.reader().execute(
            f"SELECT doc FROM offences WHERE {' AND '.join(clauses)} "
            "ORDER BY occurred_us, id LIMIT ?",
            [*args, limit],
        )
        return [_decoder.decode(bytes(r[0])) for r in rows]

    # -- dashboards -------------------------------------------------------------------------
    def period(self, since: str | None, until: str | None) -> tuple[str, str]:
        """The dashboard's days (inclusive): the last ``default_days`` up to today (local)
        unless given."""
        today = dt.datetime.now(zoneinfo.ZoneInfo(self.timezone)).date()
        last = _day("until", until) or today.isoformat()
        first = (
            _day("since", since)
            or (
                dt.date.fromisoformat(last) - dt.timedelta(days=self.config.default_days - 1)
            ).isoformat()
        )
        span = (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
        if span < 1:
            raise OffenceRefused("since: on or before until", "bad_period")
        if span > self.config.max_days:
            raise OffenceRefused(
                f"a dashboard covers {self.config.max_days} days at most", "bad_period"
            )
        return first, last

    def dashboard(
        self,
        principal: Principal,
        module: str,
        *,
        since: str | None = None,
        until: str | None = None,
        section: str | None = None,
        source: str | None = None,
    ) -> Dashboard:
        """The figures of one module's dashboard over a period (no plate in them)."""
        vis = self.visibility(principal)
        f = OffenceFilter(module=module)
        check_filter(vis, f)
        first, last = self.period(since, until)
        f = OffenceFilter(module=module, since_day=first, until_day=last)
        facts = self._facts(vis, f)
        names = self.camera_names()
        if module == SECTION_CONTROL and section:
            facts = [x for x in facts if stats.section_of(x) == section]
        live = [x for x in facts if x.status is not OffenceStatus.CANCELLED]
        lez_zones = [self.config.lez_zone_id]
        zones = sorted(vis.section_zones) if module == SECTION_CONTROL else lez_zones
        if module == SECTION_CONTROL:
            top = stats.top_sections(facts, stats.section_names(facts, names), self.config.top)
            bins = stats.SpeedStatsStore.distribution(
                self._store.reader(), zones=zones, since_day=first, until_day=last,
                section_id=section or None,
            )  # fmt: skip
            source_of_speeds = "passages" if bins else "offences"
            bins = bins or stats.offence_speeds(live)
        else:
            top = stats.top_cameras(facts, names, self.config.top)
            bins, source_of_speeds = {}, "none"
        days = stats.per_day(facts, stats.days_between(first, last))
        board = Dashboard(
            module=module, since=first, until=last, zones=zones, total=len(facts),
            warnings=sum(d.warnings for d in days), fines=sum(d.fines for d in days),
            cancelled=sum(d.cancelled for d in days),
            fines_eur=sum(x.fine_eur or 0 for x in live if stats.kind_of(x) == "fine"),
            per_day=days, categories=dict(Counter(str(x.category) for x in facts)), top=top,
            speeds=stats.histogram(bins), speeds_source=source_of_speeds,
        )  # fmt: skip
        self._audit(
            principal, "offence.stats", module,
            detail={"module": module, "since": first, "until": last, "section": section},
            plates=None, results=len(facts), source=source,
        )  # fmt: skip
        return board

    def _facts(self, vis: Visibility, f: OffenceFilter) -> list[stats.OffenceFacts]:
        clauses, args = filter_sql(vis, f)
        rows = self._store.reader().execute(
            f"SELECT doc FROM offences WHERE {' AND '.join(clauses)}", args
        )
        return [stats.facts_decoder.decode(bytes(r[0])) for r in rows]

    # -- audit ------------------------------------------------------------------------------
    def _audit(
        self,
        principal: Principal,
        action: str,
        object_id: str,
        *,
        detail: dict[str, Any],
        plates: list[str] | None,
        results: int,
        source: str | None,
    ) -> None:
        scope: dict[str, Any] = {"modules": list(self.visibility(principal).modules)}
        if plates is not None:
            tokens = self._tokens.scope(set(plates))
            scope["plates"] = sorted(tokens) if isinstance(tokens, list) else tokens

        def record(store: ReadStore) -> None:
            assert isinstance(store, SqlStore)
            with store.transaction() as conn:
                write_audit(
                    conn, actor=principal.user_id, actor_zone=principal.zone_id, action=action,
                    object_type="offence", object_id=object_id, detail=detail,
                    role=str(principal.role), source=source, scope=scope, results=results,
                )  # fmt: skip

        self._writer.call(record).result()


def _detail(f: OffenceFilter) -> dict[str, Any]:
    return {k: (None if v is None else str(v)) for k, v in msgspec.structs.asdict(f).items()}
