"""Clock skew: a camera's clock against the node's, and two cameras' clocks against each other.

Arrival − capture is the true delay (≥ 0: network, queueing, batching) minus the camera's
clock offset. Slow or batched uploads stretch the delay upward but leave its floor alone:
the read captured just before an upload still arrives promptly. So the floor (a low quantile
of the per-upload minimum delay) estimates minus the offset, and the median tells how slow
uploads are. A floor below zero is unambiguous (reads from the future: the clock is ahead);
a high floor is a clock behind *or* a constant delay, which a pair of cameras settles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kruispunt.health.alarms import CameraAlarm, Severity, make_alarm
from kruispunt.health.config import HealthConfig
from kruispunt.health.stats import MAD_TO_SIGMA, mad, median, quantile

_MEDIAN_SE = 1.2533  # standard error of a median, in sigmas / sqrt(n), for normal noise


@dataclass(frozen=True)
class ArrivalSkew:
    floor_s: float  # low quantile of per-upload minimum arrival − capture
    median_delay_s: float
    uploads: int
    reads: int
    first_capture_us: int

    @property
    def clock_offset_s(self) -> float:
        """Camera clock minus node clock, assuming a negligible minimum latency."""
        return -self.floor_s


def estimate_arrival_skew(
    samples: Sequence[tuple[int, int]], *, config: HealthConfig
) -> ArrivalSkew | None:
    """From recent (captured_us, received_us) pairs of one camera; None with too few uploads."""
    if not samples:
        return None
    ordered = sorted(samples, key=lambda s: s[1])
    gap_us = config.upload_group_gap_s * 1_000_000
    group_mins: list[float] = []
    prev_received: int | None = None
    for captured, received in ordered:
        delay = (received - captured) / 1e6
        if prev_received is None or received - prev_received > gap_us:
            group_mins.append(delay)
        else:
            group_mins[-1] = min(group_mins[-1], delay)
        prev_received = received
    if len(samples) < config.skew_min_reads:
        return None
    return ArrivalSkew(
        floor_s=quantile(group_mins, config.skew_quantile),
        median_delay_s=median([(r - c) / 1e6 for c, r in samples]),
        uploads=len(group_mins),
        reads=len(samples),
        first_capture_us=min(c for c, _ in samples),
    )


def detect_clock_skew(
    camera_id: str, estimate: ArrivalSkew, *, now_us: int, config: HealthConfig
) -> list[CameraAlarm]:
    alarms: list[CameraAlarm] = []
    floor = estimate.floor_s
    values = {
        "floor_s": floor,
        "median_delay_s": estimate.median_delay_s,
        "uploads": float(estimate.uploads),
    }
    severity: Severity = "critical" if abs(floor) >= config.skew_critical_s else "warning"
    if estimate.uploads < config.skew_min_uploads:
        text = ""  # a few batches say how slow uploads are, not where the clock stands
    elif floor < -config.clock_ahead_tolerance_s:
        text = f"clock about {-floor:.1f} s ahead: reads arrive up to {-floor:.1f} s before "
        text += f"their capture time ({estimate.uploads} uploads)"
    elif floor > config.latency_allowance_s:
        text = f"clock up to {floor:.1f} s behind, or every upload delayed by {floor:.1f} s "
        text += f"(delay floor over {estimate.uploads} uploads; allowance "
        text += f"{config.latency_allowance_s:g} s)"
    else:
        text = ""
    if text:
        alarms.append(
            make_alarm(
                camera_id=camera_id,
                kind="clock_skew",
                severity=severity,
                since_us=estimate.first_capture_us,
                observed_us=now_us,
                explanation=text,
                values=values,
            )
        )
    if estimate.median_delay_s > config.upload_delay_warn_s:
        alarms.append(
            make_alarm(
                camera_id=camera_id,
                kind="upload_delay",
                severity="warning",
                since_us=estimate.first_capture_us,
                observed_us=now_us,
                explanation=f"reads arrive {estimate.median_delay_s:.0f} s after capture "
                f"(median; floor {floor:.1f} s, so slow uploads rather than a wrong clock)",
                values=values,
            )
        )
    return alarms


@dataclass(frozen=True)
class PairSkew:
    offset_s: float  # camera B's clock minus camera A's, beyond the typical travel time
    stderr_s: float
    pairs: int


def estimate_pair_skew(
    pairs: Sequence[tuple[int, int]], *, travel_s: float, config: HealthConfig
) -> PairSkew | None:
    """From (time at A, time at B) in µs for the same vehicles on a segment whose typical
    (median) travel time from A to B is ``travel_s``: the median residual."""
    if len(pairs) < config.pair_min_pairs:
        return None
    residuals = [(b - a) / 1e6 - travel_s for a, b in pairs]
    sigma = MAD_TO_SIGMA * mad(residuals)
    return PairSkew(
        offset_s=median(residuals),
        stderr_s=_MEDIAN_SE * sigma / math.sqrt(len(residuals)),
        pairs=len(residuals),
    )


def detect_pair_skew(
    camera_a: str,
    camera_b: str,
    estimate: PairSkew,
    *,
    since_us: int,
    now_us: int,
    config: HealthConfig,
) -> CameraAlarm | None:
    """Reported on camera B: which of the two is wrong takes a third camera to say."""
    off = estimate.offset_s
    if abs(off) < config.pair_skew_threshold_s:
        return None
    if abs(off) < config.pair_skew_z * estimate.stderr_s:
        return None
    side = "ahead of" if off > 0 else "behind"
    return make_alarm(
        camera_id=camera_b,
        kind="pair_skew",
        severity="critical" if abs(off) >= config.skew_critical_s else "warning",
        since_us=since_us,
        observed_us=now_us,
        explanation=f"clock {abs(off):.1f} s {side} camera {camera_a} "
        f"(± {estimate.stderr_s:.2f} s over {estimate.pairs} shared vehicles)",
        values={"offset_s": off, "stderr_s": estimate.stderr_s, "pairs": float(estimate.pairs)},
    )
