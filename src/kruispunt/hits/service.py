"""Hits for people: reading them (audited), the workflow, statistics, retroactive search and
the pursuit trail. Who may do what is decided by ``kruispunt.hits.policy``; this module does
the I/O around it.

A hit that a person may not receive is, to that person, a hit that does not exist
(``UnknownHit``): no answer reveals that a covert entry hit somewhere.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Protocol

from kruispunt import metrics
from kruispunt.access.principals import Principal, Role
from kruispunt.audit import PlateTokens, write_audit
from kruispunt.domain.reads import Read
from kruispunt.hits.models import Hit, HitEvent, HitStatus, MatchKind, Outcome
from kruispunt.hits.policy import (
    LIVE_ROLES,
    TRAFFIC_ROLES,
    audience_of,
    is_active,
    may_receive,
    role_receives,
    view_for,
)
from kruispunt.hits.store import HitError, HitStore, UnknownHit
from kruispunt.hits.views import (
    Counts,
    HitDetail,
    HitPage,
    HitStats,
    HitView,
    ListStats,
    Passage,
    Trail,
    ZoneStats,
)
from kruispunt.hotlists.index import countries_agree
from kruispunt.hotlists.models import COVERT_CATEGORIES, HotlistEntry
from kruispunt.law.decide import Access
from kruispunt.law.purpose import Purpose
from kruispunt.processors.hotlist_matcher import (
    LATE_AFTER_US,
    HotlistLookup,
    list_accepts,
    make_hit,
    now_us,
)
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore
from kruispunt.store.sqlite import US_PER_DAY
from kruispunt.writer import Writer

log = logging.getLogger(__name__)

US_PER_MINUTE = 60_000_000
TRAIL_WINDOW_US = 15 * US_PER_MINUTE
RETRO_MAX_DAYS = 30
STATS_ALL_ROLES = frozenset({Role.ADMIN, Role.ZONE_CHIEF})  # statistics for every zone
_SCAN_BATCH = 1000
_SCAN_BUDGET = 20_000  # hits looked at per listing request; the page says where it stopped


class HitNotActive(HitError):
    """The trail is only for an open, live hit raised in the last minutes."""


# -- pure helpers -----------------------------------------------------------------------------
def recent_passages(
    store: ReadStore,
    plate: str,
    *,
    since_us: int,
    until_us: int,
    limit: int = 5,
    country: str | None = None,
) -> list[Passage]:
    """The last cameras a plate passed in [since_us, until_us], newest first."""
    reads = [
        r
        for r in store.reads_of_plate(plate, since_us, until_us)
        if countries_agree(country, r.country)
    ]
    reads.sort(key=lambda r: r.captured_us, reverse=True)
    return [
        Passage(camera_id=r.camera_id, zone_id=r.zone_id, captured_us=r.captured_us,
                direction=r.direction, lane=r.lane)
        for r in reads[:limit]
    ]  # fmt: skip


def _nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def count(rows: Iterable[tuple[Hit, int | None]]) -> Counts:
    """Aggregates for the statistics (``first_step_us``: the hit's first workflow step)."""
    hits = exact = possible = historic = closed = 0
    outcomes: dict[str, int] = defaultdict(int)
    waits: list[float] = []
    for hit, first_step_us in rows:
        hits += 1
        exact += hit.kind is MatchKind.EXACT
        possible += hit.kind is MatchKind.POSSIBLE
        historic += hit.historic
        if hit.status is HitStatus.CLOSED:
            closed += 1
            if hit.outcome is not None:
                outcomes[hit.outcome.value] += 1
        if first_step_us is not None and not hit.historic:
            waits.append(max(0, first_step_us - hit.created_us) / 1e6)
    waits.sort()
    return Counts(
        hits=hits,
        exact=exact,
        possible=possible,
        historic=historic,
        open=hits - closed,
        closed=closed,
        ack_median_s=statistics.median(waits) if waits else None,
        ack_p90_s=_nearest_rank(waits, 0.9) if waits else None,
        outcomes=dict(sorted(outcomes.items())),
        misread_share=outcomes[Outcome.MISREAD.value] / closed if closed else None,
    )


def build_stats(
    rows: Sequence[tuple[Hit, int | None]],
    principal: Principal,
    network_zone_ids: Collection[str],
    *,
    since_us: int,
    until_us: int,
) -> HitStats:
    """Per receiving zone and per list. The caller's own zone only, unless admin or zone chief
    (every zone). A covert hit counts only for the people who receive it (its owner zone's
    operators, chiefs and investigators): no other statistic may reveal it."""
    everything = principal.role in STATS_ALL_ROLES
    by_zone: dict[str, list[tuple[Hit, int | None]]] = defaultdict(list)
    by_list: dict[tuple[str, str], list[tuple[Hit, int | None]]] = defaultdict(list)
    for row in rows:
        hit = row[0]
        if hit.category in COVERT_CATEGORIES and not (
            principal.zone_id == hit.owner_zone_id and role_receives(principal.role, hit.category)
        ):
            continue  # no count anywhere may reveal that a covert entry hit
        zones = audience_of(hit, network_zone_ids)
        for zone in zones:
            if everything or zone == principal.zone_id:
                by_zone[zone].append(row)
        shown = everything or principal.zone_id in zones
        if hit.category in COVERT_CATEGORIES and principal.zone_id != hit.owner_zone_id:
            shown = False
        if shown:
            by_list[(hit.list_id, hit.owner_zone_id)].append(row)
    return HitStats(
        since_us=since_us,
        until_us=until_us,
        zones=[ZoneStats(zone_id=z, counts=count(r)) for z, r in sorted(by_zone.items())],
        lists=[
            ListStats(list_id=lst, owner_zone_id=owner, counts=count(r))
            for (lst, owner), r in sorted(by_list.items())
        ],
    )


def _receives_anything(principal: Principal) -> bool:
    return principal.role in LIVE_ROLES or principal.role in TRAFFIC_ROLES


class RecordWindows(Protocol):
    """The policy gate's windows for consultations a recorded fact justifies
    (``kruispunt.access.policy.PolicyGate.windows_for_record``)."""

    def windows_for_record(
        self, category: str, *, since_us: int, until_us: int, case: str | None,
        user: str | None, plates: tuple[str, ...],
    ) -> tuple[Purpose, Access]: ...  # fmt: skip


def _reads_within(store: ReadStore, plate: str, spans: Sequence[tuple[int, int]]) -> list[Read]:
    return [r for lo, hi in spans for r in store.reads_of_plate(plate, lo, hi)]


# -- the service ------------------------------------------------------------------------------
class HitService:
    def __init__(
        self,
        *,
        store: SqlStore,
        writer: Writer,
        hit_store: HitStore,
        hotlists: HotlistLookup,
        network_zone_ids: Collection[str],
        retro_max_days: int = RETRO_MAX_DAYS,
        late_after_us: int = LATE_AFTER_US,
        trail_window_us: int = TRAIL_WINDOW_US,
        clock: Callable[[], int] = now_us,
        policy: RecordWindows | None = None,
        plate_tokens: PlateTokens | None = None,
    ):
        self._store = store
        self._policy = policy
        self.plate_tokens = plate_tokens or PlateTokens()
        self._writer = writer
        self.hit_store = hit_store
        self._hotlists = hotlists
        self.network_zone_ids = frozenset(network_zone_ids)
        self._retro_max_days = retro_max_days
        self._late_after_us = late_after_us
        self._trail_window_us = trail_window_us
        self._clock = clock
        # Called with newly stored hits (live hub, webhooks); the matcher's on_hits is publish.
        self.on_hits: list[Callable[[list[Hit]], None]] = []
        # Called with a hit after each workflow step (live consoles show who took it).
        self.on_update: list[Callable[[Hit], None]] = []

    def publish(self, hits: list[Hit]) -> None:
        for hit in hits:
            metrics.HITS.labels("historic" if hit.historic else hit.kind.value).inc()
        for hook in self.on_hits:
            try:
                hook(hits)
            except Exception:  # one failing consumer must not stop the others
                log.exception("hits: an on_hits hook failed")

    def _updated(self, hit: Hit) -> None:
        for hook in self.on_update:
            try:
                hook(hit)
            except Exception:  # the step is stored; a failed notification must not undo it
                log.exception("hits: an on_update hook failed")

    def now_us(self) -> int:
        return self._clock()

    # -- reading ----------------------------------------------------------------------------
    def view(self, hit: Hit, principal: Principal) -> HitView:
        return view_for(hit, principal)

    def may_receive(self, hit: Hit, principal: Principal) -> bool:
        return may_receive(hit, principal, self.network_zone_ids)

    def _visible(self, hit_id: str, principal: Principal) -> Hit:
        hit = self.hit_store.get(hit_id)
        if hit is None or not self.may_receive(hit, principal):
            raise UnknownHit(hit_id)
        return hit

    def list_hits(
        self,
        principal: Principal,
        *,
        since: int = 0,
        limit: int = 100,
        status: HitStatus | None = None,
    ) -> HitPage:
        """The hits after ``since`` that this person receives, as their views (audited)."""
        if not _receives_anything(principal):
            return HitPage(hits=[], next_since=since)
        shown: list[Hit] = []
        cursor, scanned = since, 0
        while len(shown) < limit and scanned < _SCAN_BUDGET:
            batch = self.hit_store.since(cursor, _SCAN_BATCH, status=status)
            for hit in batch:
                cursor = hit.seq
                if self.may_receive(hit, principal):
                    shown.append(hit)
                    if len(shown) == limit:
                        break
            scanned += len(batch)
            if len(batch) < _SCAN_BATCH:
                break
        if shown:
            self._audit_view(principal, "hits", "list", {"ids": [h.id for h in shown]})
        return HitPage(hits=[view_for(h, principal) for h in shown], next_since=cursor)

    def get(self, hit_id: str, *, principal: Principal) -> HitDetail:
        hit = self._visible(hit_id, principal)
        self._audit_view(principal, "hit", hit_id, {})
        return HitDetail(hit=view_for(hit, principal), events=self.hit_store.events(hit_id))

    def _audit_view(
        self, principal: Principal, object_type: str, object_id: str, detail: dict[str, Any]
    ) -> None:
        def write(_: ReadStore) -> None:
            with self._store.transaction() as conn:
                write_audit(conn, actor=principal.user_id, actor_zone=principal.zone_id,
                            action="hits.view", object_type=object_type, object_id=object_id,
                            detail=detail)  # fmt: skip

        self._writer.call(write).result()

    # -- workflow ---------------------------------------------------------------------------
    def acknowledge(self, hit_id: str, *, principal: Principal, note: str = "") -> Hit:
        return self._step(hit_id, HitStatus.ACKNOWLEDGED, principal, None, note)

    def dispatch(self, hit_id: str, *, principal: Principal, note: str = "") -> Hit:
        return self._step(hit_id, HitStatus.DISPATCHED, principal, None, note)

    def close(
        self, hit_id: str, *, principal: Principal, outcome: Outcome | None, note: str = ""
    ) -> Hit:
        """Raises OutcomeRequired without an outcome."""
        return self._step(hit_id, HitStatus.CLOSED, principal, outcome, note)

    def _step(
        self,
        hit_id: str,
        status: HitStatus,
        principal: Principal,
        outcome: Outcome | None,
        note: str,
    ) -> Hit:
        self._visible(hit_id, principal)
        event = HitEvent(hit_id=hit_id, at_us=self._clock(), actor=principal.user_id,
                         actor_zone_id=principal.zone_id, status=status, outcome=outcome,
                         note=note)  # fmt: skip
        hit_store = self.hit_store

        def write(_: ReadStore) -> Hit:
            with self._store.transaction() as conn:
                updated = hit_store.transition(conn, event)
                write_audit(conn, actor=principal.user_id, actor_zone=principal.zone_id,
                            action=f"hits.{status.value}", object_type="hit", object_id=hit_id,
                            detail={"status": status.value,
                                    "outcome": outcome.value if outcome else None},
                            at_us=event.at_us)  # fmt: skip
            return updated

        updated = self._writer.call(write).result()
        self._updated(updated)
        return updated

    # -- statistics -------------------------------------------------------------------------
    def stats(
        self, principal: Principal, *, since_us: int, until_us: int | None = None
    ) -> HitStats:
        until = self._clock() if until_us is None else until_us
        rows = self.hit_store.window(since_us, until)
        return build_stats(rows, principal, self.network_zone_ids, since_us=since_us,
                           until_us=until)  # fmt: skip

    # -- retroactive search -----------------------------------------------------------------
    def retro_match(self, entry: HotlistEntry, days: int) -> list[Hit]:
        """Historic hits for a new entry: its exact matches among the reads of the last
        ``days`` days (at most ``retro_max_days``). Stored, published, and returned (only the
        ones not stored before). The entry's ``valid_from`` is not applied: looking back is
        the point; an expired entry or an inactive list searches nothing."""
        days = min(days, self._retro_max_days)
        now = self._clock()
        lst = self._hotlists.list_of(entry.list_id)
        if days <= 0 or lst is None or not lst.active or entry.expires_at_us <= now:
            return []
        since = now - days * US_PER_DAY
        spans, context = self._spans(
            entry.category, since, now, case=entry.legal_basis, user=entry.created_by,
            plate=entry.plate,
        )  # fmt: skip
        reads = _reads_within(self._store, entry.plate, spans)
        hits = [
            make_hit(r, entry, lst, MatchKind.EXACT, created_us=now, historic=True,
                     late_after_us=self._late_after_us)
            for r in reads
            if countries_agree(r.country, entry.country) and list_accepts(lst, r)
        ]  # fmt: skip
        hit_store = self.hit_store

        def write(_: ReadStore) -> list[Hit]:
            with self._store.transaction() as conn:
                new = hit_store.insert(conn, hits)
                write_audit(conn, actor=entry.created_by, actor_zone=lst.owner_zone_id,
                            action="hits.retro_match", object_type="hotlist_entry",
                            object_id=entry.id,
                            detail={"days": days, "reads": len(reads), "hits": len(new)}
                            | context["detail"],
                            purpose=context["purpose"], case=entry.legal_basis[:64],
                            scope=context["scope"], results=len(new), at_us=now)  # fmt: skip
            return new

        new = self._writer.call(write).result()
        if new:
            self.publish(new)
        return new

    def on_entry_added(self, entry: HotlistEntry, retro_days: int) -> None:
        """The ``HotlistService.on_entry_added`` hook."""
        if retro_days > 0:
            self.retro_match(entry, retro_days)

    def _spans(
        self, category: str, since: int, until: int, *, case: str | None, user: str | None,
        plate: str,
    ) -> tuple[list[tuple[int, int]], dict[str, Any]]:  # fmt: skip
        """The capture-time spans the law lets this hit consultation read, and what the audit
        keeps of the decision (purpose, the plate as a token, the parts cut)."""
        if self._policy is None:
            return [(since, until)], {"purpose": None, "scope": None, "detail": {}}
        purpose, access = self._policy.windows_for_record(
            category, since_us=since, until_us=until, case=case, user=user, plates=(plate,)
        )
        detail: dict[str, Any] = {}
        if access.refused:
            detail["cut"] = [
                {"since_us": r.since_us, "until_us": r.until_us, "code": str(r.code)}
                for r in access.refused
            ]
        scope = {"since_us": since, "until_us": until, "plates": self.plate_tokens.scope((plate,))}
        return access.spans(), {"purpose": str(purpose), "scope": scope, "detail": detail}

    # -- pursuit ----------------------------------------------------------------------------
    def trail(self, hit_id: str, *, principal: Principal, limit: int = 5) -> Trail:
        """The last cameras the vehicle of an active hit passed: from ``trail_window`` before
        the hit's capture until now (an active hit is at most ``trail_window`` old). Only for
        recipients of the hit; audited."""
        hit = self._visible(hit_id, principal)
        now = self._clock()
        if not is_active(hit, now_us=now, window_us=self._trail_window_us):
            raise HitNotActive(f"hit {hit_id} is closed, historic or older than the window")
        since = hit.captured_us - self._trail_window_us
        spans, context = self._spans(
            hit.category, since, now, case=None, user=principal.user_id, plate=hit.plate
        )
        passages = [
            p
            for lo, hi in spans
            for p in recent_passages(self._store, hit.plate, since_us=lo, until_us=hi,
                                     limit=limit, country=hit.country)
        ]  # fmt: skip
        passages = sorted(passages, key=lambda p: p.captured_us, reverse=True)[:limit]

        def write(_: ReadStore) -> None:
            with self._store.transaction() as conn:
                write_audit(conn, actor=principal.user_id, actor_zone=principal.zone_id,
                            action="hits.trail", object_type="hit", object_id=hit_id,
                            detail={"since_us": since, "until_us": now,
                                    "passages": len(passages)} | context["detail"],
                            role=str(principal.role), purpose=context["purpose"],
                            scope=context["scope"], results=len(passages))  # fmt: skip

        self._writer.call(write).result()
        return Trail(hit_id=hit_id, since_us=since, until_us=now, passages=passages)
