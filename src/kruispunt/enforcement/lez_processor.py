"""The LEZ processor: entries seen by the city's LEZ cameras, decided against the rules.

Purpose limitation: it looks only at reads of cameras of the LEZ's zone that have the LEZ
purpose; every other read passes by untouched. For each entry it reads the vehicle's permits
and, when the decision needs one (``lez.needs_lookup``), asks a registry: the national
vehicle registry for a plate of the rules' home country, the cross-border identification
route (the national contact point) for any other. The pure ``lez.admit`` decides.

- Refused: one offence per vehicle (plate, country) per local day, with a deterministic id,
  so a replayed log never makes a second one. Its status and fine come from the vehicle's
  earlier offences (``lez.penalty``: a warning first, then the configured amounts).
- A registry that cannot answer (``RegistryError``): the read waits in memory and is asked
  about again after ``lez.registry_retry_s``; never a fine, never a decision on missing data.
- Admitted, or unknown (no such vehicle, an unreadable read), on a camera whose only purpose
  is the LEZ: the read has no further use and is deleted from the log
  ``lez.compliant_reads_delete_after_s`` after the decision (well within the 24 hours the
  law allows), in the transaction of a commit. Refused reads stay as the offence's evidence,
  for the reads' ordinary retention, and so does a read a live legal hold covers (the
  retention purge copies it for its case). Cameras with other purposes keep their reads.

Durability: the stored cursor never passes a read still waiting for a registry or for its
deletion (it stays just below the oldest), so after a restart those reads are decided again
(offences are idempotent) and their deletion is not lost. With the distributed log the
partition's redelivery does not go back that far: what was waiting in memory then stays
undecided (no fine) until the reads' retention.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from kruispunt.access.holds import LegalHoldService
from kruispunt.config import LezConfig
from kruispunt.domain.cameras import Camera, Purpose
from kruispunt.domain.reads import Read
from kruispunt.enforcement.lez import (
    Decision,
    Outcome,
    Permit,
    Reason,
    RuleSet,
    admit,
    local_day,
    needs_lookup,
    penalty,
)
from kruispunt.enforcement.offences import (
    Offence,
    OffenceCategory,
    OffenceStatus,
    OffenceStore,
    offence_id,
)
from kruispunt.processors.base import Processor
from kruispunt.registries.base import (
    CrossBorderContact,
    RegistryError,
    VehicleRecord,
    VehicleRegistry,
)
from kruispunt.store.base import ReadStore, StoreError
from kruispunt.store.sql import DB_ERRORS, Conn, SqlStore, now_us

log = logging.getLogger(__name__)

MODULE = "lez"
EVIDENCE_READS = 10
"""Reads quoted in an offence's evidence (the rest of the day's stay in the log)."""
US_PER_S = 1_000_000

Vehicle = tuple[str, str]
"""(plate, country)"""


class CameraLookup(Protocol):
    def get(self, camera_id: str) -> Camera | None: ...


class PermitLookup(Protocol):
    """What the processor needs of the permits (``PermitService`` provides it)."""

    def for_vehicles(
        self, vehicles: Collection[Vehicle], since_us: int, until_us: int
    ) -> Mapping[Vehicle, Sequence[Permit]]: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """A vehicle's refused entries of one local day in a slice (one offence at most)."""

    plate: str
    country: str
    day: str
    decision: Decision
    reads: tuple[Read, ...]
    source: str


@dataclass(slots=True)
class LezSlice:
    findings: list[Finding] = field(default_factory=list)
    decided: int = 0
    waiting: int = 0


@dataclass(frozen=True, slots=True)
class LezCommitted:
    offences: list[Offence]
    deleted: int


class LezProcessor(Processor):
    type_key: ClassVar[str] = "lez"
    min_interval_s: ClassVar[float] = 1.0  # nobody waits on a fine: let reads gather

    def __init__(
        self,
        *,
        rules: RuleSet,
        config: LezConfig,
        zone_id: str,
        cameras: CameraLookup,
        vehicles: VehicleRegistry,
        cross_border: CrossBorderContact,
        permits: PermitLookup,
        clock: Callable[[], int] = now_us,
    ):
        self.rules = rules
        self.config = config
        self.zone_id = zone_id
        self._cameras = cameras
        self._vehicles = vehicles
        self._cross_border = cross_border
        self._permits = permits
        self._clock = clock
        self._pending: dict[int, tuple[Read, int]] = {}  # seq -> (read, next attempt)
        self._to_delete: deque[tuple[int, Read]] = deque()  # (due, read), due ascending
        self._stored: int | None = None  # the cursor as stored (None: as the runner says)

    # -- which reads ------------------------------------------------------------------------
    def _camera(self, read: Read) -> Camera | None:
        camera = self._cameras.get(read.camera_id)
        if camera is None or camera.zone_id != self.zone_id or Purpose.LEZ not in camera.purposes:
            return None
        return camera

    def _lez_only(self, read: Read) -> bool:
        camera = self._camera(read)
        return camera is not None and set(camera.purposes) == {Purpose.LEZ}

    # -- deciding (the processor's thread) --------------------------------------------------
    def process(self, reads: Sequence[Read]) -> LezSlice:
        now = self._clock()
        due = [read for read, at in self._pending.values() if at <= now]
        for read in due:
            del self._pending[read.seq]
        todo = due + [r for r in reads if self._camera(r) is not None]
        out = LezSlice()
        if not todo:
            return out
        permits = self._permits.for_vehicles(
            {(r.plate, r.country) for r in todo if r.country},
            min(r.captured_us for r in todo),
            max(r.captured_us for r in todo),
        )
        answers: dict[Vehicle, VehicleRecord | RegistryError | None] = {}
        refused: dict[tuple[str, str, str], list[tuple[Read, Decision, str]]] = {}
        delete_at = now + self.config.compliant_reads_delete_after_s * US_PER_S
        retry_at = now + int(self.config.registry_retry_s * US_PER_S)
        for read in todo:
            decided = self._decide(read, permits, answers)
            if decided is None:
                self._pending[read.seq] = (read, retry_at)
                continue
            decision, source = decided
            out.decided += 1
            if decision.outcome is Outcome.REFUSED:
                assert read.country is not None
                key = (read.plate, read.country, decision.day.isoformat())
                refused.setdefault(key, []).append((read, decision, source))
            elif self._lez_only(read):
                self._to_delete.append((delete_at, read))
        out.waiting = len(self._pending)
        if out.waiting > self.config.max_pending:
            self._reset()
            raise RegistryError(f"{out.waiting} LEZ reads wait for a registry; pausing")
        failed = sum(isinstance(a, RegistryError) for a in answers.values())
        if failed:
            log.warning("lez: %d vehicles not answered by a registry; %d reads wait",
                        failed, out.waiting)  # fmt: skip
        for (plate, country, day), entries in refused.items():
            entries.sort(key=lambda e: (e[0].captured_us, e[0].seq))
            _, decision, source = entries[0]
            out.findings.append(
                Finding(plate, country, day, decision, tuple(e[0] for e in entries), source)
            )
        return out

    def _decide(
        self,
        read: Read,
        permits: Mapping[Vehicle, Sequence[Permit]],
        answers: dict[Vehicle, VehicleRecord | RegistryError | None],
    ) -> tuple[Decision, str] | None:
        """The decision on one entry and where the vehicle's facts came from; None: a
        registry did not answer (the read waits)."""
        country = read.country
        if country is None or read.confidence < self.config.min_confidence:
            unreadable = Decision(
                outcome=Outcome.UNKNOWN, reason=Reason.UNREADABLE,
                day=local_day(read.captured_us, self.rules), version=self.rules.version,
                digest=self.rules.digest,
            )  # fmt: skip
            return unreadable, "none"
        vehicle_permits = permits.get((read.plate, country), ())
        vehicle: VehicleRecord | None = None
        source = "permit"
        if needs_lookup(country, vehicle_permits, read.captured_us, self.rules):
            key = (read.plate, country)
            if key not in answers:
                answers[key] = self._lookup(read.plate, country)
            answer = answers[key]
            if isinstance(answer, RegistryError):
                return None
            vehicle = answer
            home = country == self.rules.data.home_country
            source = "vehicle_registry" if home else "cross_border"
        decision = admit(vehicle, country=country, at_us=read.captured_us,
                         permits=vehicle_permits, rules=self.rules)  # fmt: skip
        if decision.registered:
            source = "registration"
        return decision, source

    def _lookup(self, plate: str, country: str) -> VehicleRecord | RegistryError | None:
        try:
            if country == self.rules.data.home_country:
                return self._vehicles.vehicle(plate, country)
            return self._cross_border.identify(plate, country)
        except RegistryError as exc:
            return exc

    # -- storing (the writer's thread) ------------------------------------------------------
    def commit(
        self, store: ReadStore, from_cursor: int, cursor: int, derived: LezSlice
    ) -> LezCommitted:
        if not isinstance(store, SqlStore):
            raise StoreError(f"{self.name} needs a SQL store")
        stored = from_cursor if self._stored is None else self._stored
        now = self._clock()
        due: list[Read] = []
        while self._to_delete and self._to_delete[0][0] <= now:
            due.append(self._to_delete.popleft()[1])
        new_stored = max(stored, min(cursor, self._oldest_held() - 1))
        try:
            with store.transaction() as conn:
                offences = [o for f in derived.findings for o in self._offence(conn, f, now)]
                deleted = store.delete_reads(conn, _not_held(conn, due, now)) if due else 0
                store.move_cursor(conn, self.name, stored, new_stored)
        except DB_ERRORS as exc:
            self._reset()  # the runner goes back to the stored cursor: decide it all again
            raise StoreError(f"{self.name}: commit failed: {exc}") from exc
        self._stored = new_stored
        return LezCommitted(offences, deleted)

    def after_commit(self, committed: LezCommitted) -> None:
        if committed.offences or committed.deleted:
            warnings = sum(o.status is OffenceStatus.WARNING for o in committed.offences)
            log.info(
                "lez: %d offences (%d warnings), %d reads of admitted vehicles deleted",
                len(committed.offences), warnings, committed.deleted,
            )  # fmt: skip

    def _oldest_held(self) -> int:
        """The lowest seq still waiting for a registry or its deletion (or infinity)."""
        held = list(self._pending)
        held += [read.seq for _, read in self._to_delete]
        return min(held, default=2**62)

    def _reset(self) -> None:
        self._pending.clear()
        self._to_delete.clear()
        self._stored = None

    def _offence(self, conn: Conn, finding: Finding, now: int) -> list[Offence]:
        """The vehicle's offence of the day, stored unless it is already (one a day)."""
        oid = offence_id(MODULE, finding.plate, finding.country, finding.day)
        if conn.execute("SELECT 1 FROM offences WHERE id=?", (oid,)).fetchone() is not None:
            return []
        earlier = OffenceStore.count_for_plate(conn, MODULE, finding.plate,
                                               before_day=finding.day)  # fmt: skip
        fines = _earlier_fines(conn, finding, self.config.repeat_window_days)
        status, fine = penalty(
            finding.decision.day, earlier_offences=earlier, earlier_fines=fines,
            fines=self.config.fines, first_offence_warning=self.config.first_offence_warning,
            warnings_until=self.config.warnings_until,
        )  # fmt: skip
        first = finding.reads[0]
        offence = Offence(
            id=oid, module=MODULE, category=OffenceCategory.ACCESS_RESTRICTION,
            plate=finding.plate, country=finding.country, day=finding.day,
            occurred_us=first.captured_us, created_us=now, zone_id=self.zone_id,
            camera_ids=tuple(dict.fromkeys(r.camera_id for r in finding.reads)),
            status=status, fine_eur=fine, evidence=self._evidence(finding, earlier, fines),
        )  # fmt: skip
        return OffenceStore.insert(conn, [offence])

    def _evidence(self, finding: Finding, earlier: int, fines: int) -> dict[str, Any]:
        reads = [
            {"seq": r.seq, "read_id": r.read_id, "camera_id": r.camera_id,
             "captured_us": r.captured_us, "plate_raw": r.plate_raw,
             "confidence": r.confidence, "image_ref": r.image_ref}
            for r in finding.reads[:EVIDENCE_READS]
        ]  # fmt: skip
        return {
            "reads": reads,
            "reads_in_slice": len(finding.reads),
            "decision": finding.decision.cite(),
            "rules": self.rules.cite(),
            "vehicle_from": finding.source,
            "earlier_offences": earlier,
            "earlier_fines": fines,
        }


def _not_held(conn: Conn, reads: Sequence[Read], at_us: int) -> list[Read]:
    """The reads no live legal hold covers (a held read stays for the retention purge,
    which copies it for its case before it drops the day)."""
    holds = LegalHoldService.live_holds(
        conn, at_us, since_us=min(r.captured_us for r in reads),
        until_us=max(r.captured_us for r in reads),
    )  # fmt: skip
    return [r for r in reads if not any(h.covers(r) for h in holds)]


def _earlier_fines(conn: Conn, finding: Finding, window_days: int) -> int:
    """The vehicle's fines (not warnings, not cancelled) in the window before the day."""
    since = (dt.date.fromisoformat(finding.day) - dt.timedelta(days=window_days)).isoformat()
    row = conn.execute(
        "SELECT count(*) FROM offences WHERE module=? AND plate=? AND day<? AND day>=? "
        "AND status NOT IN (?, ?)",
        (MODULE, finding.plate, finding.day, since, str(OffenceStatus.WARNING),
         str(OffenceStatus.CANCELLED)),
    ).fetchone()  # fmt: skip
    return int(row[0])
