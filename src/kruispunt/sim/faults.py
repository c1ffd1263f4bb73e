"""Faults of simulated cameras, as data: what a broken camera sends (or does not send).

A fault starts ``after_s`` seconds after the live feed starts (negative: already during the
back-fill, so its effect is in the counts at once). Kinds:

- ``silent``: the recognition engine hangs; no read is sent, the heartbeats go on;
- ``offline``: power or network gone; no read and no heartbeat;
- ``clock_ahead``: the camera's clock runs ``clock_offset_s`` ahead: its reads and
  heartbeats carry that time;
- ``low_confidence``: a dirty lens or a failing IR light: ``low_share`` of its reads come
  with a confidence under 0.7 (the same plate, read with doubt).

Pure: the driver asks ``read`` for every read and the heartbeat sender ``heartbeat``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import msgspec

from kruispunt.ingest.wire import ReadIn

FaultKind = Literal["silent", "offline", "clock_ahead", "low_confidence"]


@dataclass(frozen=True)
class Fault:
    camera_id: str
    kind: FaultKind
    after_s: float  # from the start of the live feed
    clock_offset_s: float = 0.0  # clock_ahead
    low_share: float = 0.0  # low_confidence
    note: str = ""


class Faults:
    """The faults of one run, anchored at the moment the live feed starts."""

    def __init__(self, faults: Iterable[Fault], live_start: dt.datetime):
        self.live_start = live_start
        self._by_camera: dict[str, list[Fault]] = {}
        for fault in faults:
            self._by_camera.setdefault(fault.camera_id, []).append(fault)

    def _active(self, camera_id: str, at: dt.datetime) -> list[Fault]:
        since = (at - self.live_start).total_seconds()
        return [f for f in self._by_camera.get(camera_id, ()) if since >= f.after_s]

    def read(self, camera_id: str, read: ReadIn) -> ReadIn | None:
        """The read as the faulty camera sends it (captured at its true time); None: not sent."""
        faults = self._active(camera_id, read.captured_at)
        for fault in faults:
            if fault.kind in ("silent", "offline"):
                return None
            if fault.kind == "clock_ahead":
                read = msgspec.structs.replace(
                    read, captured_at=read.captured_at + dt.timedelta(seconds=fault.clock_offset_s)
                )
            elif fault.kind == "low_confidence":
                rng = random.Random(read.read_id)  # the same read is the same each time
                if rng.random() < fault.low_share:
                    read = msgspec.structs.replace(
                        read, confidence=round(rng.uniform(0.3, 0.65), 3)
                    )
        return read

    def heartbeat(self, camera_id: str, now: dt.datetime) -> dt.datetime | None:
        """The camera's clock in a heartbeat sent now; None: it sends none."""
        clock = now
        for fault in self._active(camera_id, now):
            if fault.kind == "offline":
                return None
            if fault.kind == "clock_ahead":
                clock += dt.timedelta(seconds=fault.clock_offset_s)
        return clock
