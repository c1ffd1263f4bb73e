"""The registry checks: a processor over the log that looks passing vehicles up in the
insurance and driving-licence registers and raises hits for the uninsured and for holders
without a valid licence. The rules are in ``kruispunt.registries.checks``; this module is
the loop around them.

Unlike other processors, ``process`` does I/O: it asks the registries, through their cache
(on the processor's thread; on the distributed log the pipeline runs it on the writer's, so
a slow registry holds the writer: the cache and the breaker keep that short).

The system lists are created by the first commit after a read of their zone (inside that
transaction, so it works on the writer thread of either log), and read back into the
hotlist service after it. A list its zone deleted stays deleted: the check is off there.

**A registry that is down does not stop the log.** A look-up that fails (``RegistryError``)
skips that check for that read: counted in ``kruispunt_registry_checks_total{outcome=
"skipped"}``, and the log moves on. The read is not retried later: a hit is for a vehicle
passing now, and a check of an old read would send an officer after a vehicle long gone.
The next passage of the vehicle asks again (a failure is never cached). After a few
failures in a row the registry counts as down for a while (``breaker_*`` settings): reads
are then skipped at once instead of each waiting for the registry's time-out, and one
look-up at the end of the pause tells whether it is back.

The commit stores the new hits, the queued look-up audit records and the cursor in one
transaction; the hits are published after it. Hits are never doubled: their id is fixed per
vehicle, check and day, and the store ignores an id it has.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from kruispunt.audit import write_audit
from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.hits.models import Hit
from kruispunt.hits.store import HitStore
from kruispunt.hotlists.models import HotlistList
from kruispunt.hotlists.store import HotlistStore
from kruispunt.processors.base import Processor
from kruispunt.processors.hotlist_matcher import LATE_AFTER_US, list_accepts
from kruispunt.registries import checks, metrics
from kruispunt.registries.base import RegistryError
from kruispunt.registries.checks import Check
from kruispunt.registries.lookup_audit import Lookup
from kruispunt.registries.service import Registries
from kruispunt.registries.settings import ChecksSettings
from kruispunt.store.base import ReadStore, StoreError
from kruispunt.store.sql import DB_ERRORS, Conn, SqlStore

Key = tuple[Check, str, str | None]  # check, plate, country (per local day)


class Cameras(Protocol):
    def get(self, camera_id: str) -> Camera | None: ...


class SystemLists(Protocol):
    """What the checks need of the hotlists (``HotlistService`` provides it)."""

    def list_of(self, list_id: str) -> HotlistList | None: ...

    def refresh(self, list_id: str, entry_id: str | None = None) -> None: ...


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class Slice:
    hits: list[Hit] = field(default_factory=list)
    raised: list[tuple[dt.date, Key, str]] = field(default_factory=list)
    """(day, key, list id) of each hit."""
    new_lists: dict[str, HotlistList] = field(default_factory=dict)
    """System lists not known yet: created by the commit unless they exist."""


class RegistryChecks(Processor):
    type_key: ClassVar[str] = "registry_checks"
    urgent_commit: ClassVar[bool] = True  # an officer may still stop the vehicle
    min_interval_s: ClassVar[float] = 0.5  # one commit per half second at most when caught up

    def __init__(
        self,
        *,
        registries: Registries,
        cameras: Cameras,
        hotlists: SystemLists,
        hit_store: HitStore,
        on_hits: Callable[[list[Hit]], None],
        settings: ChecksSettings,
        zone_ids: Collection[str],
        late_after_us: int = LATE_AFTER_US,
        clock: Callable[[], int] = now_us,
    ):
        self._registries = registries.for_purpose(self.type_key)
        self._auditor = registries.auditor
        self._cameras = cameras
        self._hotlists = hotlists
        self._hit_store = hit_store
        self._on_hits = on_hits
        self._settings = settings
        self._checks = tuple(Check(c) for c in settings.checks)
        self._zone_ids = frozenset(zone_ids)
        self._tz = zoneinfo.ZoneInfo(settings.timezone)
        self._late_after_us = late_after_us
        self._clock = clock
        self._raised: dict[dt.date, set[Key]] = {}  # hits stored today (no look-up again)
        self._gone: set[str] = set()  # system lists deleted by their zone: the check is off

    # -- deriving ---------------------------------------------------------------------------
    def process(self, reads: Sequence[Read]) -> Slice:
        now = self._clock()
        out = Slice()
        in_slice: set[tuple[dt.date, Key]] = set()
        for read in reads:
            camera = self._cameras.get(read.camera_id)
            if not checks.checked(read, camera, self._settings, zone_ids=self._zone_ids,
                                  now_us=now):  # fmt: skip
                continue
            day = checks.local_day(read.captured_us, self._tz)
            for check in self._checks:
                key: Key = (check, read.plate, read.country)
                if key in self._raised.get(day, ()) or (day, key) in in_slice:
                    continue
                lst = self._system_list(check, checks.list_owner(read, self._settings), out)
                if lst is None or not list_accepts(lst, read):
                    continue  # switched off, or a read too unsure to look up
                if self._judge(check, read, day):
                    entry = checks.finding_entry(check, read, lst, self._settings, day=day,
                                                 tz=self._tz, now_us=now)  # fmt: skip
                    hit = checks.finding_hit(read, entry, lst, now_us=now,
                                             late_after_us=self._late_after_us)  # fmt: skip
                    out.hits.append(hit)
                    out.raised.append((day, key, lst.id))
                    in_slice.add((day, key))
        return out

    def _system_list(self, check: Check, owner: str, out: Slice) -> HotlistList | None:
        """The check's list of ``owner``; one to create (in ``out``) when there is none
        yet; None when its zone deleted it (the check is off there)."""
        list_id = checks.system_list_id(check, owner)
        lst = self._hotlists.list_of(list_id)
        if lst is not None or list_id in self._gone:
            return lst
        if list_id not in out.new_lists:
            out.new_lists[list_id] = checks.system_list(check, owner, self._settings)
        return out.new_lists[list_id]

    def _judge(self, check: Check, read: Read, day: dt.date) -> bool:
        """Whether the registers say this read's vehicle fails the check (and metrics)."""
        assert read.country is not None  # checked() let only checked countries through
        regs = self._registries
        try:
            if check is Check.UNINSURED:
                record = regs.insurance.insurance(read.plate, read.country, zone_id=read.zone_id)
                verdict = checks.uninsured(record, day)
            else:
                vehicle = regs.vehicles.vehicle(read.plate, read.country, zone_id=read.zone_id)
                verdict = None
                if vehicle is not None:
                    licence = regs.licences.licence(vehicle.holder_id, zone_id=read.zone_id)
                    verdict = checks.unlicensed(licence)
        except RegistryError:
            metrics.CHECKS.labels(check.value, "skipped").inc()
            return False
        outcome = "unknown" if verdict is None else "finding" if verdict else "clear"
        metrics.CHECKS.labels(check.value, outcome).inc()
        return bool(verdict)

    # -- storing ----------------------------------------------------------------------------
    def commit(
        self, store: ReadStore, from_cursor: int, cursor: int, derived: Slice
    ) -> tuple[list[Hit], Slice]:
        if not isinstance(store, SqlStore):
            raise StoreError(f"{self.name} needs a SQL store")
        lookups: list[Lookup] = self._auditor.take()
        try:
            with store.transaction() as conn:
                gone = self._create_lists(conn, derived.new_lists.values())
                if gone:
                    derived = _without(derived, gone)
                new = self._hit_store.insert(conn, derived.hits)
                self._auditor.write(conn, lookups)
                store.move_cursor(conn, self.name, from_cursor, cursor)
        except DB_ERRORS as exc:
            self._auditor.requeue(lookups)
            raise StoreError(f"{self.name}: commit failed: {exc}") from exc
        except BaseException:
            self._auditor.requeue(lookups)
            raise
        self._gone |= gone
        return new, derived

    def _create_lists(self, conn: Conn, lists: Iterable[HotlistList]) -> set[str]:
        """Create the system lists that do not exist; returns those their zone deleted."""
        gone: set[str] = set()
        now = self._clock()
        for lst in lists:
            if HotlistStore.list_existed(conn, lst.id):
                # Created meanwhile (another partition, another process), or deleted.
                row = conn.execute("SELECT deleted FROM hotlists WHERE id=?", (lst.id,)).fetchone()
                if row is not None and row[0]:
                    gone.add(lst.id)
                continue
            HotlistStore.insert_list(conn, lst, now)
            write_audit(
                conn, actor=checks.SYSTEM_ACTOR, actor_zone=None, action="hotlist.create",
                object_type="hotlist", object_id=lst.id, at_us=now,
                detail={"name": lst.name, "owner_zone_id": lst.owner_zone_id,
                        "scope": lst.default_scope.kind.value, "system": True},
            )  # fmt: skip
        return gone

    def after_commit(self, committed: tuple[list[Hit], Slice]) -> None:
        new, derived = committed
        for list_id in derived.new_lists:
            if list_id not in self._gone:
                self._hotlists.refresh(list_id)  # now in memory: the API and the next slices
        for day, key, _ in derived.raised:
            self._raised.setdefault(day, set()).add(key)
        if len(self._raised) > 2:  # keep today and yesterday (reads cross midnight)
            for day in sorted(self._raised)[:-2]:
                del self._raised[day]
        if new:
            self._on_hits(new)


def _without(derived: Slice, gone: set[str]) -> Slice:
    """The slice without the hits on deleted lists."""
    return Slice(
        hits=[h for h in derived.hits if h.list_id not in gone],
        raised=[r for r in derived.raised if r[2] not in gone],
        new_lists={k: v for k, v in derived.new_lists.items() if k not in gone},
    )
