"""What camera health needs to know of the reads as they arrive, kept in memory and bounded.

Per camera: the last capture and arrival time, the latest (captured, received) pairs (for
clock skew and upload delay) and the last heartbeat. Across cameras: the vehicles seen by
two cameras within ``pair_window_s`` (for the clock of one camera against another).

``observe`` runs on the writer thread after each commit, for the reads of that commit only:
a few dictionary updates per read under one short lock, so it costs the writer O(batch).
The monitor's tick takes a snapshot under the same lock and does the statistics outside it.

The pair samples are the only place a plate is held, and only as a key of the last sighting
(the log's tail in memory holds the same reads); an alarm carries counts, never a plate.
Everything is bounded: ``arrivals_per_camera`` samples a camera, ``max_plates`` sightings
(the oldest go first), ``max_links`` camera pairs of ``pairs_per_link`` vehicles each, so a
tick's pairwise work is at most their product (a million samples).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from kruispunt.domain.reads import Read

Pair = tuple[str, str]  # (camera seen first, camera seen next)


@dataclass(slots=True)
class CameraTrack:
    last_captured_us: int | None = None
    last_received_us: int | None = None
    last_heartbeat_us: int | None = None
    arrivals: deque[tuple[int, int]] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class TrackSnapshot:
    last_captured_us: int | None
    last_received_us: int | None
    last_heartbeat_us: int | None
    arrivals: tuple[tuple[int, int], ...]


class ReadTracker:
    def __init__(
        self,
        *,
        arrivals_per_camera: int = 500,
        pair_window_s: float = 900.0,
        max_plates: int = 100_000,
        pairs_per_link: int = 200,
        max_links: int = 5_000,
    ):
        self._arrivals_max = arrivals_per_camera
        self._pair_window_us = int(pair_window_s * 1_000_000)
        self._max_plates = max_plates
        self._pairs_max = pairs_per_link
        self._max_links = max_links
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraTrack] = {}
        self._last_seen: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._pairs: dict[Pair, deque[tuple[int, int]]] = {}

    def _track(self, camera_id: str) -> CameraTrack:
        track = self._cameras.get(camera_id)
        if track is None:
            track = self._cameras[camera_id] = CameraTrack(
                arrivals=deque(maxlen=self._arrivals_max)
            )
        return track

    # -- fed (writer thread, API) -----------------------------------------------------------
    def observe(self, reads: Sequence[Read]) -> None:
        """Reads just committed (new ones only)."""
        if not reads:
            return
        with self._lock:
            for r in reads:
                track = self._track(r.camera_id)
                if track.last_captured_us is None or r.captured_us > track.last_captured_us:
                    track.last_captured_us = r.captured_us
                if track.last_received_us is None or r.received_us > track.last_received_us:
                    track.last_received_us = r.received_us
                if not r.backfilled:  # a replayed buffer's delay says nothing of the clock
                    track.arrivals.append((r.captured_us, r.received_us))
                self._pair(r)

    def _pair(self, r: Read) -> None:
        seen = self._last_seen.pop(r.plate, None)
        if seen is not None:
            camera, at = seen
            gap = r.captured_us - at
            if camera != r.camera_id and 0 < gap <= self._pair_window_us:
                link = (camera, r.camera_id)
                samples = self._pairs.get(link)
                if samples is None and len(self._pairs) < self._max_links:
                    samples = self._pairs[link] = deque(maxlen=self._pairs_max)
                if samples is not None:
                    samples.append((at, r.captured_us))
        self._last_seen[r.plate] = (r.camera_id, r.captured_us)
        if len(self._last_seen) > self._max_plates:
            self._last_seen.popitem(last=False)  # the plate seen longest ago

    def heartbeat(self, camera_id: str, *, received_us: int, camera_clock_us: int | None) -> None:
        """A heartbeat; with the camera's clock, one more (captured, received) sample: a
        heartbeat is an upload of its own, so its delay floor tells the clock."""
        with self._lock:
            track = self._track(camera_id)
            track.last_heartbeat_us = received_us
            if camera_clock_us is not None:
                track.arrivals.append((camera_clock_us, received_us))

    def seed(self, camera_id: str, *, last_read_us: int) -> None:
        """At start: the last read known from the store's counts, until a read arrives."""
        with self._lock:
            track = self._track(camera_id)
            if track.last_received_us is None:
                track.last_received_us = track.last_captured_us = last_read_us

    # -- read (the monitor) -----------------------------------------------------------------
    def snapshot(self, camera_id: str, *, since_us: int) -> TrackSnapshot | None:
        """The camera's track; arrivals received at or after ``since_us``."""
        with self._lock:
            track = self._cameras.get(camera_id)
            if track is None:
                return None
            arrivals = tuple(a for a in track.arrivals if a[1] >= since_us)
            return TrackSnapshot(
                track.last_captured_us, track.last_received_us, track.last_heartbeat_us, arrivals
            )

    def pairs(self, *, since_us: int, min_pairs: int) -> dict[Pair, list[tuple[int, int]]]:
        """The links with at least ``min_pairs`` vehicles seen first at or after ``since_us``."""
        with self._lock:
            out: dict[Pair, list[tuple[int, int]]] = {}
            for link, samples in self._pairs.items():
                if len(samples) < min_pairs:
                    continue
                recent = [s for s in samples if s[0] >= since_us]
                if len(recent) >= min_pairs:
                    out[link] = recent
            return out
