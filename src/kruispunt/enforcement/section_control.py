"""The section-control processor: pairs entry and exit reads over the log into offences.

State, in memory only: per section, the open passages (normalised plate and country -> a
small ``ReadRef`` tuple of the entry read); with the NL route rule, per (route, vehicle) the
offending sections of a route passage not finished yet; per camera, the clock estimate.
An exit read closes its passage at once: a compliant one leaves nothing behind but a count
in the speed histogram (``section_speeds``, no plate); an offence is stored with the cursor.
A passage whose window has passed (by the node's arrival clock, plus a grace for late exit
reads) is dropped without a trace: never exiting, or exiting too late, is no offence.

Purpose limitation: only reads of cameras registered with the ``section_control`` purpose
enter. Clocks: only reads of cameras whose clock is checked (measured skew within
``sections.max_clock_skew_s``) are used; the others are counted, logged once per camera and
dropped, and a passage whose exit is such a read is dropped with it. Until the health module
(issue 8) measures clocks, ``ArrivalClockEstimator`` estimates a camera's skew from its reads:
minus the least arrival delay (``received_us - captured_us``) over its last reads. That is the
true skew less the least transmission delay, so a slow upload looks like a slow clock:
reads are then excluded, never wrongly used.

Restart: the state is not stored. The first slice after a start (or after a slice was
processed but not committed) rebuilds it by replaying, from the store, the section cameras'
reads before the slice over the longest window (a route's chained windows plus the grace).
What that replay finds was committed before; only the open passages are kept. It differs from
the first run only for exit reads that reached the log later than the grace, and for clock
estimates that lack the reads from before the window. This is the one I/O ``process`` does.

Limits, all in the driver's favour: reads pair in log (arrival) order, so an exit read that
reaches the log before its entry read (a camera holding reads back longer than the trip) is
not paired; a vehicle is keyed by plate *and* country, so two vendors that disagree on the
country do not pair either. Both are counted (``exit_unmatched``), never guessed.
"""

from __future__ import annotations

import collections
import gc
import logging
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import ClassVar, NamedTuple, Protocol, get_args

from pydantic import ValidationError

from kruispunt.config import SectionsConfig
from kruispunt.domain.cameras import Camera, Purpose
from kruispunt.domain.reads import Read
from kruispunt.enforcement.offences import Offence, OffenceStore
from kruispunt.enforcement.sections import (
    US,
    ClockStatus,
    MarginRule,
    Outcome,
    ReadRef,
    RouteRule,
    Section,
    SectionPlan,
    VehicleClass,
    clock_checked,
    evidence,
    highest_excess,
    judge,
    local_day,
    make_offence,
    next_sections,
    pair_clock_checked,
    with_route,
)
from kruispunt.enforcement.stats import SectionPassage, SpeedKey, SpeedStatsStore, add_passages
from kruispunt.processors.base import Processor
from kruispunt.store.base import ReadStore, StoreError
from kruispunt.store.sql import DB_ERRORS, SqlStore

log = logging.getLogger(__name__)

DATA_FILE = "sections.toml"
SWEEP_US = 10 * US  # how often (log time) expired passages are looked for
_CLASSES = {c: c for c in get_args(VehicleClass)}  # one string object per class


class SectionsFileError(ValueError):
    """The sections file is unreadable or wrong; the message names every problem."""


def load_plan(path: Path | None = None) -> SectionPlan:
    """The sections file at ``path``, else the packaged one (the simulated province)."""
    import tomllib

    origin = str(path) if path is not None else DATA_FILE
    try:
        if path is None:
            text = resources.files("kruispunt.data").joinpath(DATA_FILE).read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        return SectionPlan.model_validate(tomllib.loads(text))
    except OSError as exc:
        raise SectionsFileError(f"{origin}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SectionsFileError(f"{origin}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
                 for e in exc.errors()]  # fmt: skip
        raise SectionsFileError(f"{origin}: " + "; ".join(lines)) from None


# -- clocks -------------------------------------------------------------------------------
class ClockSource(Protocol):
    """Where a camera's clock status comes from (``observe`` sees every read used)."""

    source: str

    def observe(self, read: Read) -> None: ...

    def status(self, camera_id: str) -> ClockStatus | None: ...


class ArrivalClockEstimator:
    """Skew = minus the least ``received_us - captured_us`` over a camera's last reads."""

    source = "arrival_delay"

    def __init__(self, samples: int = 32, min_samples: int = 5):
        self._samples = samples
        self._min = min_samples
        self._delays: dict[str, collections.deque[int]] = {}
        # The status is kept while the estimate holds: passages share its skew object.
        self._status: dict[str, ClockStatus] = {}

    def observe(self, read: Read) -> None:
        if read.backfilled:  # a replayed buffer arrives late by design: no clock evidence
            return
        cam = read.camera_id
        delays = self._delays.get(cam)
        if delays is None:
            delays = self._delays[cam] = collections.deque(maxlen=self._samples)
        delays.append(read.received_us - read.captured_us)
        skew = -min(delays) if len(delays) >= self._min else None
        old = self._status.get(cam)
        if old is None or old.skew_us != skew or old.samples < self._samples:
            self._status[cam] = ClockStatus(cam, skew, len(delays), self.source)

    def status(self, camera_id: str) -> ClockStatus | None:
        return self._status.get(camera_id)


class StaticClocks:
    """Known skews (a measurement from elsewhere; tests and the memory measurement)."""

    def __init__(self, skews_us: dict[str, int], source: str = "static"):
        self._skews = skews_us
        self.source = source

    def observe(self, read: Read) -> None:
        pass

    def status(self, camera_id: str) -> ClockStatus | None:
        skew = self._skews.get(camera_id)
        return None if skew is None else ClockStatus(camera_id, skew, 1, self.source)


# -- the processor ------------------------------------------------------------------------
class CameraLookup(Protocol):
    def get(self, camera_id: str, /) -> Camera | None: ...


class SectionFindings(NamedTuple):
    offences: list[Offence]
    speeds: dict[SpeedKey, int]


@dataclass(slots=True)
class _Found:
    offences: list[Offence] = field(default_factory=list)
    passages: list[SectionPassage] = field(default_factory=list)


@dataclass(slots=True)
class _RoutePassage:
    """NL rule: the offending sections of a route passage, until it ends."""

    offences: list[Offence]
    deadline_us: int  # the next section's window closes


def _key(plate: str, country: str | None) -> str:
    return plate if country is None else f"{plate}\x1f{country}"


def now_us() -> int:
    return time.time_ns() // 1000


class SectionControl(Processor):
    type_key: ClassVar[str] = "section_control"
    min_interval_s: ClassVar[float] = 1.0  # nobody waits on an offence: commit once a second

    def __init__(
        self,
        plan: SectionPlan,
        *,
        cameras: CameraLookup,
        max_skew_us: int,
        grace_us: int,
        clocks: ClockSource | None = None,
        store: SqlStore | None = None,
        partition_of: Callable[[str], int] | None = None,
        clock: Callable[[], int] = now_us,
    ):
        self._plan = plan
        self._tz = plan.tz
        self._cameras = cameras
        self._max_skew_us = max_skew_us
        self._grace_us = grace_us
        self._clocks = clocks or ArrivalClockEstimator()
        self._store = store
        self._partition_of = partition_of
        self._clock = clock
        self._next = next_sections(plan)
        self._by_entry: dict[str, list[Section]] = {}
        self._by_exit: dict[str, list[Section]] = {}
        for s in plan.sections:
            self._by_entry.setdefault(s.entry_camera, []).append(s)
            self._by_exit.setdefault(s.exit_camera, []).append(s)
        self._section_cameras = frozenset(self._by_entry) | frozenset(self._by_exit)
        self._rebuild_us = max((self._chain_window(s) for s in plan.sections), default=0)
        self._rebuild_us += grace_us
        self.stats: collections.Counter[str] = collections.Counter()
        self._drifting: set[str] = set()  # cameras whose reads are refused for their clock
        self._refused: set[str] = set()  # cameras without the section_control purpose
        self._reset()

    def _chain_window(self, section: Section) -> int:
        total, nxt = section.window_us, self._next[section.id]
        while nxt is not None and nxt is not section:
            total, nxt = total + nxt.window_us, self._next[nxt.id]
        return total

    def _reset(self) -> None:
        self._open: dict[str, dict[str, ReadRef]] = {s.id: {} for s in self._plan.sections}
        self._routes: dict[tuple[str, str], _RoutePassage] = {}
        self._watermark = 0  # the highest arrival time seen (node clock)
        self._swept_at = 0
        self._applied_seq = -1
        self._resumed = False

    def open_passages(self) -> int:
        return sum(len(o) for o in self._open.values())

    def drifting_cameras(self) -> list[str]:
        """Cameras flagged for their clock (their reads are not used until it is back)."""
        return sorted(self._drifting)

    def pending_routes(self) -> int:
        """Route passages (NL rule) with an offence waiting for the route's end."""
        return len(self._routes)

    # -- process (pure, but for the rebuild of the first slice) --------------------------
    def process(self, reads: Sequence[Read]) -> SectionFindings:
        if not reads:
            return SectionFindings([], {})
        if not self._resumed or reads[0].seq <= self._applied_seq:
            self._resume(reads[0])  # state ahead of the log (an uncommitted slice) or none
        found = _Found()
        cameras = self._section_cameras
        for read in reads:
            if read.camera_id in cameras:  # nearly every read stops here
                self._apply(read, found)
        self._applied_seq = reads[-1].seq
        self._advance(max(reads[0].received_us, reads[-1].received_us), found)
        return SectionFindings(found.offences, add_passages({}, found.passages))

    def _advance(self, received_us: int, found: _Found) -> None:
        if received_us > self._watermark:
            self._watermark = received_us
        if self._watermark - self._swept_at >= SWEEP_US:
            self._sweep(found)

    def _apply(self, read: Read, found: _Found) -> None:
        cam = read.camera_id
        camera = self._cameras.get(cam)
        if camera is None or Purpose.SECTION_CONTROL not in camera.purposes:
            self.stats["purpose_excluded"] += 1
            if cam not in self._refused:
                self._refused.add(cam)
                if camera is not None:
                    log.warning("section control: camera %s is not registered for section "
                                "control: its reads are not used", cam)  # fmt: skip
            return
        self._clocks.observe(read)
        status = self._clocks.status(cam)
        key = _key(read.plate, read.country)
        if not clock_checked(status, self._max_skew_us):
            self.stats["clock_excluded"] += 1
            self._flag_clock(cam, status)
            for section in self._by_exit.get(cam, ()):  # the passage cannot be judged: drop it
                if self._open[section.id].pop(key, None) is not None:
                    self.stats["pairs_clock_excluded"] += 1
            for section in self._by_entry.get(cam, ()):
                self._open[section.id].pop(key, None)
            return
        assert status is not None and status.skew_us is not None
        self._drifting.discard(cam)
        self._refused.discard(cam)
        vclass = _CLASSES.get(read.vehicle_class or "", read.vehicle_class)
        for section in self._by_exit.get(cam, ()):
            if read.confidence < section.min_confidence:
                self.stats["low_confidence"] += 1
                continue
            entry = self._open[section.id].pop(key, None)
            if entry is None:
                self.stats["exit_unmatched"] += 1
                continue
            entry_status = ClockStatus(entry.camera_id, entry.skew_us, 1, self._clocks.source)
            if not pair_clock_checked(entry_status, status, self._max_skew_us):
                self.stats["pairs_clock_excluded"] += 1
                continue
            exit = ReadRef(cam, read.read_id, read.seq, read.captured_us, read.confidence,
                           status.skew_us, vclass)  # fmt: skip
            self._close(section, entry, exit, read, found)
        for section in self._by_entry.get(cam, ()):
            if read.confidence < section.min_confidence:
                self.stats["low_confidence"] += 1
                continue
            # A newer entry replaces an open one: the vehicle came round again.
            self._open[section.id][key] = ReadRef(
                section.entry_camera, read.read_id, read.seq, read.captured_us,
                read.confidence, status.skew_us, vclass,
            )  # fmt: skip
            self.stats["opened"] += 1

    def _close(
        self, section: Section, entry: ReadRef, exit: ReadRef, read: Read, found: _Found
    ) -> None:
        rule = self._plan.margins[section.jurisdiction]
        verdict = judge(section, rule, entry, exit, self._tz)
        self.stats[str(verdict.outcome)] += 1
        offence = None
        if verdict.outcome in (Outcome.OFFENCE, Outcome.COMPLIANT):
            day = local_day(exit.at_us, self._tz)
            passage = SectionPassage(section.id, read.zone_id, day, verdict.average_kmh)
            found.passages.append(passage)
        if verdict.outcome is Outcome.OFFENCE:
            proof = evidence(
                section, section.jurisdiction, rule, verdict, entry, exit, tz=self._tz,
                max_skew_us=self._max_skew_us, clock_source=self._clocks.source,
            )  # fmt: skip
            offence = make_offence(
                section, proof, entry, exit, plate=read.plate, country=read.country,
                zone_id=read.zone_id, created_us=self._clock(), tz=self._tz,
            )  # fmt: skip
        self._route_step(section, rule, _key(read.plate, read.country), entry, exit, offence,
                         found)  # fmt: skip

    def _route_step(
        self,
        section: Section,
        rule: MarginRule,
        key: str,
        entry: ReadRef,
        exit: ReadRef,
        offence: Offence | None,
        found: _Found,
    ) -> None:
        if section.route is None or rule.route_rule is RouteRule.EACH_SECTION:
            if offence is not None:
                found.offences.append(offence)
            return
        rkey = (section.route, key)
        pending = self._routes.pop(rkey, None)
        if pending is not None and entry.at_us > pending.deadline_us:  # an earlier passage
            found.offences.append(self._route_offence(section.route, pending.offences))
            pending = None
        offending = [*(pending.offences if pending else ()), *((offence,) if offence else ())]
        if not offending:
            return  # compliant so far: nothing kept
        nxt = self._next[section.id]
        if nxt is None:  # the route's last section: one offence, the highest excess
            found.offences.append(self._route_offence(section.route, offending))
        else:
            self._routes[rkey] = _RoutePassage(offending, exit.at_us + nxt.window_us)

    @staticmethod
    def _route_offence(route: str, offending: list[Offence]) -> Offence:
        return with_route(highest_excess(offending), route, offending)

    def _sweep(self, found: _Found) -> None:
        """Forget passages whose window has passed; end route passages whose next section
        was not driven in time."""
        horizon = self._watermark - self._grace_us
        for section in self._plan.sections:
            opened, window = self._open[section.id], section.window_us
            stale = [k for k, e in opened.items() if e.at_us + window < horizon]
            for k in stale:
                del opened[k]
            self.stats["expired"] += len(stale)
        for rkey, pending in list(self._routes.items()):
            if pending.deadline_us < horizon:
                del self._routes[rkey]
                found.offences.append(self._route_offence(rkey[0], pending.offences))
        self._swept_at = self._watermark

    def _flag_clock(self, camera_id: str, status: ClockStatus | None) -> None:
        if status is None or status.skew_us is None:
            return  # not measured yet (a few reads): nothing to report
        if camera_id not in self._drifting:
            self._drifting.add(camera_id)
            log.warning(
                "section control: camera %s clock is off by %+.3f s (bound %g s): its reads are "
                "not used", camera_id, status.skew_us / US, self._max_skew_us / US,
            )  # fmt: skip

    # -- restart ----------------------------------------------------------------------------
    def _resume(self, first: Read) -> None:
        """Rebuild the open passages from the section cameras' reads before ``first``."""
        self._reset()
        self._resumed = True
        if self._store is None or not self._plan.sections:
            return
        # Anchored on arrival (the node's clock), not capture: the slice may open with a
        # camera's backlog of old reads while the open passages are the recent ones.
        since, until = first.received_us - self._rebuild_us, first.received_us + self._rebuild_us
        store = self._store
        reads = [
            r
            for r in store.reads_captured(
                store.reader(), since, until, cameras=sorted(self._section_cameras)
            )
            if r.seq < first.seq and self._mine(r)
        ]
        reads.sort(key=lambda r: r.seq)
        kept, scratch = self.stats.copy(), _Found()  # found before: counted and stored then
        for r in reads:
            self._apply(r, scratch)
            self._advance(r.received_us, scratch)
        self.stats = kept
        self.stats["rebuilt_from_reads"] += len(reads)
        log.info(
            "section control: %d open passages rebuilt from %d reads", self.open_passages(),
            len(reads),
        )  # fmt: skip

    def _mine(self, read: Read) -> bool:
        """On the distributed log: only this partition's vehicles."""
        return (
            self.partition is None
            or self._partition_of is None
            or self._partition_of(read.plate) == self.partition
        )

    # -- commit (writer thread) -------------------------------------------------------------
    def commit(
        self, store: ReadStore, from_cursor: int, cursor: int, derived: SectionFindings
    ) -> list[Offence]:
        if not isinstance(store, SqlStore):
            raise StoreError(f"{self.name} needs a SQL store")
        try:
            with store.transaction() as conn:
                new = OffenceStore.insert(conn, derived.offences)
                SpeedStatsStore.commit(conn, derived.speeds)
                store.move_cursor(conn, self.name, from_cursor, cursor)
        except DB_ERRORS as exc:
            raise StoreError(f"{self.name}: commit failed: {exc}") from exc
        return new

    def after_commit(self, committed: list[Offence]) -> None:
        if committed:
            log.info("section control: %d new offence(s)", len(committed))


def build_section_control(
    config: SectionsConfig,
    *,
    cameras: CameraLookup,
    store: SqlStore | None,
    partitions: int | None = None,
) -> SectionControl:
    """The processor as the node's configuration describes it."""
    part: Callable[[str], int] | None = None
    if partitions is not None:
        from kruispunt.bus.jetstream import partition_of

        def part(plate: str) -> int:
            return partition_of(plate, partitions)

    return SectionControl(
        load_plan(config.file),
        cameras=cameras,
        max_skew_us=round(config.max_clock_skew_s * US),
        grace_us=round(config.arrival_grace_s * US),
        clocks=ArrivalClockEstimator(config.clock_samples, config.clock_min_samples),
        store=store,
        partition_of=part,
    )


# -- memory (the bench's bytes_per_open_passage) ---------------------------------------------
def open_passage_bytes(n: int = 20_000) -> float:
    """Bytes one open passage holds, measured with tracemalloc: ``n`` vehicles enter a section
    and none leaves; what stays allocated once their reads are gone, divided by ``n``."""
    entry = Camera(
        id="bench-entry", name="entry", owner="bench", manager="bench", zone_id="bench",
        lon=4.7, lat=51.3, purposes=(Purpose.SECTION_CONTROL,),
    )  # fmt: skip
    plan = SectionPlan.model_validate(
        {
            "schema": 1,
            "margins": {"BE": {"fixed_kmh": 6, "up_to_kmh": 100, "percent": 6, "source": "-"}},
            "sections": [
                {"id": "bench", "name": "bench", "entry_camera": entry.id,
                 "exit_camera": "bench-exit", "length_m": 3200, "limit_kmh": 70,
                 "jurisdiction": "BE", "max_speed_kmh": 250}
            ],
        }
    )  # fmt: skip
    processor = SectionControl(
        plan, cameras={entry.id: entry}, max_skew_us=US, grace_us=0,
        clocks=ArrivalClockEstimator(min_samples=1),
    )  # fmt: skip
    t0 = 1_790_000_000_000_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        reads = [_bench_read(i, entry.id, t0) for i in range(n)]
        processor.process(reads)
        del reads
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    if processor.open_passages() != n:
        raise AssertionError("every vehicle should still be in the section")
    return held / n


def _bench_read(i: int, camera_id: str, t0: int) -> Read:
    at = t0 + i * 1000
    letters = _letters(i)
    return Read(
        i + 1, f"r{i:010d}", camera_id, "bench", at, at + 50_000, f"1-{letters}-{i % 1000:03d}",
        f"1{letters}{i % 1000:03d}", "BE", False, "BE.current", 0.9, vehicle_class="car",
    )  # fmt: skip


def _letters(i: int) -> str:
    return "".join(chr(65 + (i // 26**k) % 26) for k in range(3))
