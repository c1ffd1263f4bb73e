"""One camera's health at one moment: every detector, folded into a CameraState."""

from __future__ import annotations

from collections.abc import Sequence

from kruispunt.health.alarms import CameraAlarm, CameraState, camera_state
from kruispunt.health.config import HealthConfig
from kruispunt.health.profile import BucketCounts, CameraProfile
from kruispunt.health.rate import (
    detect_heartbeat,
    detect_low_confidence,
    detect_rate_change,
    detect_silence,
)
from kruispunt.health.skew import detect_clock_skew, estimate_arrival_skew


def assess_camera(
    profile: CameraProfile,
    counts: BucketCounts,
    *,
    now_us: int,
    last_read_us: int | None,
    arrivals: Sequence[tuple[int, int]] = (),
    last_heartbeat_us: int | None = None,
    extra: Sequence[CameraAlarm] = (),
    config: HealthConfig,
) -> CameraState:
    """``arrivals``: recent (captured_us, received_us); ``extra``: alarms found elsewhere for
    this camera (pairwise skew needs two cameras)."""
    cam = profile.camera_id
    alarms: list[CameraAlarm] = []
    if last_heartbeat_us is not None:
        alarms += _some(
            detect_heartbeat(cam, last_heartbeat_us=last_heartbeat_us, now_us=now_us, config=config)
        )
    if last_read_us is not None:
        alarms += _some(
            detect_silence(profile, last_read_us=last_read_us, now_us=now_us, config=config)
        )
    if not any(a.kind == "silence" for a in alarms):  # a silent camera's rate says nothing new
        alarms += _some(detect_rate_change(profile, counts, now_us=now_us, config=config))
    alarms += _some(detect_low_confidence(profile, counts, now_us=now_us, config=config))
    estimate = estimate_arrival_skew(arrivals, config=config)
    if estimate is not None:
        alarms += detect_clock_skew(cam, estimate, now_us=now_us, config=config)
    alarms += extra
    return camera_state(cam, now_us, alarms, learning=not profile.ready)


def _some(alarm: CameraAlarm | None) -> list[CameraAlarm]:
    return [] if alarm is None else [alarm]
