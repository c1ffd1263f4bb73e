"""The camera health monitor: the node's loop around the pure detectors.

- **Profiles**: each camera's expected reads per quarter hour are learned from its own
  traffic counts (``store.traffic_counts``) over ``learn_days``, again every ``relearn_s``.
- **Arrivals**: the writer's ``on_commit`` only wakes the monitor's follower thread (the
  writer pays an event, nothing per read); the follower takes the new reads from the log's
  tail in memory and hands them to the ``ReadTracker`` (a few µs a read, one short lock).
  Should it ever fall behind the tail, it skips ahead: health loses samples, never reads.
  Heartbeats come from ``POST /api/v1/cameras/{id}/heartbeat``.
- **Tick** (every ``tick_s``): every active camera is judged (``assess_camera``) on the
  last hours of counts, its last read, its arrivals, its heartbeat and the pairwise clocks.

**De-duplication**: an alarm is open per (camera, kind). While the condition lasts, the
open alarm (its id, its start) stays and nothing is sent again, even where a detector's own
notion of "since" moves with its window; when a tick no longer finds it, a ``cleared``
event is sent with the same alarm id. Events are stored first (``camera_alarm_events``;
raised and cleared once each by alarm id) and published after their commit, to the hub
and the webhooks (``on_events``). After a restart the open alarms are read back, and the
last read and heartbeat of a silent camera are taken from its open alarm, so a camera
silent before the restart does not look fine after it.

The monitor follows the writer's tail, so it runs on a node with the embedded log. With the
distributed log the workers archive partitions past that tail; there it does not start yet
(it would need the partition pipeline to hand it each archived batch).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Literal

import msgspec

from kruispunt import metrics
from kruispunt.domain.cameras import Camera
from kruispunt.domain.zones import Zone
from kruispunt.health.alarms import CameraAlarm, CameraState
from kruispunt.health.assess import assess_camera
from kruispunt.health.events import AlarmEvent
from kruispunt.health.holidays import holidays
from kruispunt.health.profile import BucketCounts, CameraProfile, bucket_start, learn_profile
from kruispunt.health.routing import manager_zone
from kruispunt.health.settings import HealthMonitorConfig
from kruispunt.health.skew import detect_pair_skew, estimate_pair_skew
from kruispunt.health.stats import median
from kruispunt.health.tracker import Pair, ReadTracker
from kruispunt.processors.traffic_counts import BUCKET_US
from kruispunt.registry import CameraRegistry
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore, now_us
from kruispunt.writer import Writer

log = logging.getLogger(__name__)

US_PER_DAY = 86_400_000_000
TAIL_PAGE = 10_000
State = Literal["ok", "warning", "alarm", "unknown"]


class CameraHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One camera's health as the last tick judged it (no plate)."""

    camera_id: str
    camera_zone_id: str
    manager_zone_id: str
    state: State  # what the page shows: unknown while the profile is learning
    status: str  # the detectors' word: ok, learning, degraded, skewed, silent
    observed_us: int
    last_read_us: int | None
    last_heartbeat_us: int | None
    history_days: int
    alarms: tuple[CameraAlarm, ...] = ()


def page_state(state: CameraState, alarms: Iterable[CameraAlarm]) -> State:
    """alarm: a critical alarm; warning: any other; unknown: still learning, no alarm."""
    found = list(alarms)
    if any(a.severity == "critical" for a in found):
        return "alarm"
    if found:
        return "warning"
    return "unknown" if state.status == "learning" else "ok"


def pair_alarms(
    pairs: dict[Pair, list[tuple[int, int]]], *, now_us: int, config: HealthMonitorConfig
) -> dict[str, CameraAlarm]:
    """Per camera, the strongest pairwise clock alarm. Two cameras both ways: the typical
    travel time is the mean of the two medians, so B's offset against A is half their
    difference (a one-way link cannot tell travel time from offset and is left out)."""
    found: dict[str, CameraAlarm] = {}
    for (a, b), ab in pairs.items():
        ba = pairs.get((b, a))
        if a > b or ba is None:
            continue
        med_ab = median([(tb - ta) / 1e6 for ta, tb in ab])
        med_ba = median([(ta - tb) / 1e6 for tb, ta in ba])
        estimate = estimate_pair_skew(ab, travel_s=(med_ab + med_ba) / 2, config=config)
        if estimate is None:
            continue
        alarm = detect_pair_skew(a, b, estimate, since_us=now_us, now_us=now_us, config=config)
        if alarm is None:
            continue
        held = found.get(b)
        if held is None or abs(alarm.values["offset_s"]) > abs(held.values["offset_s"]):
            found[b] = alarm
    return found


def _empty_profile(camera_id: str, config: HealthMonitorConfig) -> CameraProfile:
    return CameraProfile(
        camera_id=camera_id, timezone=config.timezone, history_days=0,
        min_history_days=config.min_history_days, min_days_per_slot=config.min_days_per_slot,
        slots={},
    )  # fmt: skip


class HealthMonitor:
    def __init__(
        self,
        *,
        store: SqlStore,
        writer: Writer,
        registry: CameraRegistry,
        zones: Iterable[Zone],
        config: HealthMonitorConfig,
        clock: Callable[[], int] = now_us,
    ):
        self._store = store
        self._writer = writer
        self._registry = registry
        self._zones = tuple(zones)
        self.config = config
        self.clock = clock
        self.tracker = ReadTracker(
            pair_window_s=config.pair_window_s, max_plates=config.max_tracked_plates
        )
        # Called with the events just stored (monitor thread): the hub, the webhooks.
        self.on_events: list[Callable[[list[AlarmEvent]], None]] = []
        self._profiles: dict[str, CameraProfile] = {}
        self._learned_us: int | None = None
        self._open: dict[tuple[str, str], AlarmEvent] = {}
        self._health: dict[str, CameraHealth] = {}
        self._tick_lock = threading.Lock()
        self._tail_lock = threading.Lock()
        self._seq = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.skipped_reads = 0  # reads the follower missed (it fell behind the tail)

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """After the writer started (its tail begins at the log's head)."""
        self._seq = self._writer.tail.floor
        for event in self._store.open_camera_alarms():
            self._open[(event.alarm.camera_id, event.alarm.kind)] = event
            self._seed_from(event.alarm)
        self._writer.on_commit.append(self.on_commit)
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, name="camera-health", daemon=True),
            threading.Thread(target=self._follow, name="camera-health-reads", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self.on_commit in self._writer.on_commit:
            self._writer.on_commit.remove(self.on_commit)

    def _loop(self) -> None:
        # The first tick learns the profiles (and seeds each camera's last read from them).
        while not self._stop.wait(self.config.tick_s):
            try:
                self.tick()
            except Exception:
                log.exception("camera health: tick failed; will retry")

    # -- fed --------------------------------------------------------------------------------
    def on_commit(self) -> None:
        """Writer thread, after a commit of reads: wake the follower (nothing more here)."""
        self._wake.set()

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self.pull()
            except Exception:
                log.exception("camera health: following the reads failed; will retry")

    def pull(self) -> None:
        """The reads committed since the last pull, from the log's tail, to the tracker."""
        with self._tail_lock:
            tail = self._writer.tail
            while True:
                reads = tail.after(self._seq, TAIL_PAGE)
                if reads is None:  # fell behind the tail: skip what it no longer holds
                    self.skipped_reads += max(0, tail.floor - self._seq)
                    self._seq = tail.floor
                    continue
                if not reads:
                    return
                self.tracker.observe(reads)
                self._seq = reads[-1].seq
                if len(reads) < TAIL_PAGE:
                    return

    def heartbeat(self, camera_id: str, camera_clock_us: int | None = None) -> int:
        """A camera's heartbeat, received now (node clock); returns that time."""
        at = self.clock()
        self.tracker.heartbeat(camera_id, received_us=at, camera_clock_us=camera_clock_us)
        return at

    def _seed_from(self, alarm: CameraAlarm) -> None:
        if alarm.kind == "silence":
            self.tracker.seed(alarm.camera_id, last_read_us=alarm.since_us)
        elif alarm.kind == "heartbeat_lost":
            self.tracker.heartbeat(alarm.camera_id, received_us=alarm.since_us,
                                   camera_clock_us=None)  # fmt: skip

    # -- profiles ---------------------------------------------------------------------------
    def relearn(self, now_us: int | None = None) -> None:
        """Learn every camera's profile again from its own counts."""
        now = self.clock() if now_us is None else now_us
        end = bucket_start(now)
        start = end - self.config.learn_days * US_PER_DAY
        profiles: dict[str, CameraProfile] = {}
        first = dt.datetime.fromtimestamp(start / 1e6, dt.UTC).year
        last = dt.datetime.fromtimestamp(now / 1e6, dt.UTC).year + 1  # judged until relearnt
        days_off = holidays(
            range(first, last + 1), fixed=self.config.holidays_fixed,
            easter_offsets=self.config.holidays_easter_offsets,
        )  # fmt: skip
        for camera in self._registry.all():
            rows = self._store.traffic_counts(start, camera.id)
            counts = {
                c.bucket_us: (c.reads, c.low_confidence, c.foreign)
                for c in rows
                if c.bucket_us < end
            }
            profiles[camera.id] = learn_profile(
                camera.id, counts, start_us=start, end_us=end, config=self.config,
                holidays=days_off,
            )  # fmt: skip
            busy = [b for b, v in counts.items() if v[0] > 0]
            if busy:  # until a read arrives: the end of its last busy quarter hour
                self.tracker.seed(camera.id, last_read_us=min(max(busy) + BUCKET_US, now))
        with self._tick_lock:
            self._profiles = profiles
            self._learned_us = now

    # -- judging ----------------------------------------------------------------------------
    def tick(self, now_us: int | None = None) -> list[AlarmEvent]:
        """Judge every active camera; store and publish what changed. Returns the events."""
        now = self.clock() if now_us is None else now_us
        self.pull()  # every read committed before the tick counts in it
        learned = self._learned_us
        if learned is None or now - learned >= self.config.relearn_s * 1_000_000:
            self.relearn(now)
        with self._tick_lock:
            events, health = self._judge(now)
            stored = self._store_events(events) if events else []
            for event in stored:
                key = (event.alarm.camera_id, event.alarm.kind)
                if event.event == "raised":
                    self._open[key] = event
                else:
                    self._open.pop(key, None)
            self._health = self._with_open_ids(health)
            self._export_metrics(stored)
        if stored:
            for callback in self.on_events:
                try:
                    callback(stored)
                except Exception:
                    log.exception("camera health: on_events callback failed")
        return stored

    def _export_metrics(self, stored: list[AlarmEvent]) -> None:
        """The states and open alarms as Prometheus gauges (counts only, no camera ids: a
        dashboard's alerting rule, not a second health page)."""
        states = Counter(h.state for h in self._health.values())
        for state in ("ok", "warning", "alarm", "unknown"):
            metrics.CAMERAS_BY_HEALTH.labels(state).set(states.get(state, 0))
        metrics.CAMERA_ALARMS_OPEN.clear()
        for event in self._open.values():
            metrics.CAMERA_ALARMS_OPEN.labels(event.alarm.kind, event.alarm.severity).inc()
        for event in stored:
            metrics.CAMERA_ALARM_EVENTS.labels(event.event, event.alarm.kind).inc()

    def _judge(self, now: int) -> tuple[list[AlarmEvent], dict[str, CameraHealth]]:
        cfg = self.config
        window = (max(cfg.rate_window_buckets, cfg.low_conf_window_buckets) + 1) * BUCKET_US
        counts: dict[str, dict[int, tuple[int, int, int]]] = {}
        for c in self._store.traffic_counts(bucket_start(now) - window):
            counts.setdefault(c.camera_id, {})[c.bucket_us] = (c.reads, c.low_confidence,
                                                               c.foreign)  # fmt: skip
        skew_since = now - int(cfg.skew_window_s * 1_000_000)
        pairs = pair_alarms(
            self.tracker.pairs(since_us=skew_since, min_pairs=cfg.pair_min_pairs),
            now_us=now, config=cfg,
        )  # fmt: skip
        found: dict[tuple[str, str], tuple[CameraAlarm, Camera, str]] = {}
        health: dict[str, CameraHealth] = {}
        for camera in self._registry.all():
            if not camera.active:
                continue
            managed_by = manager_zone(camera, self._zones)
            state = self._assess(camera.id, counts.get(camera.id, {}), pairs, now, skew_since)
            for alarm in state.alarms:
                found.setdefault((camera.id, alarm.kind), (alarm, camera, managed_by))
            health[camera.id] = self._health_of(camera, managed_by, state, now)
        events: list[AlarmEvent] = []
        for key, (alarm, camera, managed_by) in found.items():
            if key not in self._open:
                events.append(AlarmEvent(
                    seq=0, event="raised", at_us=now, camera_zone_id=camera.zone_id,
                    manager_zone_id=managed_by, alarm=alarm,
                ))  # fmt: skip
        for key, opened in self._open.items():
            if key not in found:
                events.append(msgspec.structs.replace(opened, seq=0, event="cleared", at_us=now))
        return events, health

    def _assess(
        self,
        camera_id: str,
        counts: BucketCounts,
        pairs: dict[str, CameraAlarm],
        now: int,
        skew_since: int,
    ) -> CameraState:
        profile = self._profiles.get(camera_id) or _empty_profile(camera_id, self.config)
        snap = self.tracker.snapshot(camera_id, since_us=skew_since)
        extra = [pairs[camera_id]] if camera_id in pairs else []
        return assess_camera(
            profile, counts, now_us=now,
            last_read_us=snap.last_received_us if snap else None,
            arrivals=snap.arrivals if snap else (),
            last_heartbeat_us=snap.last_heartbeat_us if snap else None,
            extra=extra, config=self.config,
        )  # fmt: skip

    def _health_of(
        self, camera: Camera, managed_by: str, state: CameraState, now: int
    ) -> CameraHealth:
        snap = self.tracker.snapshot(camera.id, since_us=now)
        profile = self._profiles.get(camera.id)
        return CameraHealth(
            camera_id=camera.id, camera_zone_id=camera.zone_id, manager_zone_id=managed_by,
            state=page_state(state, state.alarms), status=state.status, observed_us=now,
            last_read_us=snap.last_received_us if snap else None,
            last_heartbeat_us=snap.last_heartbeat_us if snap else None,
            history_days=profile.history_days if profile else 0, alarms=state.alarms,
        )  # fmt: skip

    def _with_open_ids(self, health: dict[str, CameraHealth]) -> dict[str, CameraHealth]:
        """The alarms as the tick found them, under the id and start of the open alarm."""
        out: dict[str, CameraHealth] = {}
        for camera_id, h in health.items():
            alarms = []
            for a in h.alarms:
                opened = self._open.get((camera_id, a.kind))
                if opened is not None:
                    a = msgspec.structs.replace(
                        a, alarm_id=opened.alarm.alarm_id, since_us=opened.alarm.since_us
                    )
                alarms.append(a)
            out[camera_id] = msgspec.structs.replace(h, alarms=tuple(alarms))
        return out

    def _store_events(self, events: list[AlarmEvent]) -> list[AlarmEvent]:
        def record(store: ReadStore) -> list[AlarmEvent]:
            assert isinstance(store, SqlStore)
            return store.record_camera_alarms(events)

        return self._writer.call(record).result()

    # -- read -------------------------------------------------------------------------------
    def health(self) -> dict[str, CameraHealth]:
        """Every active camera's health as the last tick judged it."""
        with self._tick_lock:
            return dict(self._health)

    def open_alarms(self) -> list[AlarmEvent]:
        with self._tick_lock:
            return sorted(self._open.values(), key=lambda e: e.seq)
