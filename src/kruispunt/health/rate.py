"""Silence, rate drops and jumps, and a rising share of low-confidence reads.

All compare the latest complete quarter hours with the camera's own profile
(:mod:`kruispunt.health.profile`) and say nothing while that profile is still learning.
"""

from __future__ import annotations

import math

from kruispunt.health.alarms import CameraAlarm, make_alarm
from kruispunt.health.config import HealthConfig
from kruispunt.health.profile import BucketCounts, CameraProfile, SlotStats, bucket_start
from kruispunt.processors.traffic_counts import BUCKET_US

_MIN_SHARE = 0.01  # floor on the usual low-confidence share, so one bad read is not 'infinite z'


def detect_silence(
    profile: CameraProfile, *, last_read_us: int, now_us: int, config: HealthConfig
) -> CameraAlarm | None:
    """Silent when a gap with no read is improbable even for a quiet day.

    Reads arrive roughly as a Poisson process, so P(no read in the gap) = exp(-λ), with λ the
    slot's low-quartile count summed over the gap. A night gap with λ = 2 has P = 0.14: quiet,
    not silent. A rush-hour quarter hour with λ = 100 has P ≈ 4e-44: silent.
    """
    gap_us = now_us - last_read_us
    if gap_us < config.silence_min_gap_s * 1_000_000:
        return None
    expected = profile.expected_low(last_read_us, now_us)
    if expected is None:
        return None
    p_none = math.exp(-expected)
    if p_none >= config.silence_p_value:
        return None
    return make_alarm(
        camera_id=profile.camera_id,
        kind="silence",
        severity="critical",
        since_us=last_read_us,
        observed_us=now_us,
        explanation=f"no read for {gap_us / 60e6:.1f} min where even a quiet day brings "
        f"{expected:.1f} reads (P(none) = {p_none:.1e} < {config.silence_p_value:g})",
        values={"gap_s": gap_us / 1e6, "expected_reads": expected, "p_none": p_none},
    )


def detect_heartbeat(
    camera_id: str, *, last_heartbeat_us: int, now_us: int, config: HealthConfig
) -> CameraAlarm | None:
    gap_s = (now_us - last_heartbeat_us) / 1e6
    if gap_s <= config.heartbeat_timeout_s:
        return None
    return make_alarm(
        camera_id=camera_id,
        kind="heartbeat_lost",
        severity="critical",
        since_us=last_heartbeat_us,
        observed_us=now_us,
        explanation=f"no heartbeat for {gap_s:.0f} s (timeout {config.heartbeat_timeout_s:g} s)",
        values={"gap_s": gap_s},
    )


def _window(
    profile: CameraProfile, now_us: int, n_buckets: int
) -> list[tuple[int, SlotStats]] | None:
    end = bucket_start(now_us)  # the current quarter hour is not complete yet
    return profile.window(end - n_buckets * BUCKET_US, end)


def _run_start(buckets: list[tuple[int, SlotStats]], flagged: list[bool]) -> int:
    """Start of the trailing run of flagged buckets (the first bucket if none is flagged)."""
    since = buckets[0][0]
    for (b, _), hit in zip(reversed(buckets), reversed(flagged), strict=True):
        if not hit:
            break
        since = b
    return since


def detect_rate_change(
    profile: CameraProfile, counts: BucketCounts, *, now_us: int, config: HealthConfig
) -> CameraAlarm | None:
    """A drop or jump: robust z beyond ``rate_z`` *and* a ratio beyond drop/jump_ratio.

    The z uses the Poisson variance plus the slot's spread between days, so a slot that is
    naturally irregular needs a larger change; the ratio keeps huge slots from alarming on
    small relative changes.
    """
    buckets = _window(profile, now_us, config.rate_window_buckets)
    if buckets is None:
        return None
    observed = [counts.get(b, (0, 0, 0))[0] for b, _ in buckets]
    obs = float(sum(observed))
    exp = sum(s.median for _, s in buckets)
    if max(obs, exp) < config.rate_min_expected:
        return None
    var = max(1.0, sum(s.median + s.spread**2 for _, s in buckets))
    z = (obs - exp) / math.sqrt(var)
    values = {"observed": obs, "expected": exp, "z": z}
    minutes = len(buckets) * 15
    if z <= -config.rate_z and obs < config.drop_ratio * exp:
        flagged = [
            o < config.drop_ratio * s.median for o, (_, s) in zip(observed, buckets, strict=True)
        ]
        return make_alarm(
            camera_id=profile.camera_id,
            kind="rate_drop",
            severity="critical" if obs < 0.1 * exp else "warning",
            since_us=_run_start(buckets, flagged),
            observed_us=now_us,
            explanation=f"{obs:.0f} reads in the last {minutes} min where {exp:.0f} are usual "
            f"({obs / exp:.0%}, z = {z:.1f})",
            values=values,
        )
    if z >= config.rate_z and obs > config.jump_ratio * exp:
        flagged = [
            o > config.jump_ratio * s.median for o, (_, s) in zip(observed, buckets, strict=True)
        ]
        return make_alarm(
            camera_id=profile.camera_id,
            kind="rate_jump",
            severity="warning",
            since_us=_run_start(buckets, flagged),
            observed_us=now_us,
            explanation=f"{obs:.0f} reads in the last {minutes} min where {exp:.0f} are usual "
            f"(z = {z:.1f})",
            values=values,
        )
    return None


def detect_low_confidence(
    profile: CameraProfile, counts: BucketCounts, *, now_us: int, config: HealthConfig
) -> CameraAlarm | None:
    """A share of low-confidence reads well above what this camera usually has at this hour
    (a dirty lens, a misaligned camera, a failing IR light): binomial z and a minimum
    increase."""
    buckets = _window(profile, now_us, config.low_conf_window_buckets)
    if buckets is None:
        return None
    got = [counts.get(b, (0, 0, 0)) for b, _ in buckets]
    n = sum(c[0] for c in got)
    if n < config.low_conf_min_reads:
        return None
    low = sum(c[1] for c in got)
    base = [max(_MIN_SHARE, s.low_conf_share) for _, s in buckets]
    expected = sum(c[0] * p for c, p in zip(got, base, strict=True))
    var = sum(c[0] * p * (1 - p) for c, p in zip(got, base, strict=True))
    z = (low - expected) / math.sqrt(var)
    share, usual = low / n, expected / n
    if z < config.low_conf_z or share - usual < config.low_conf_min_increase:
        return None
    flagged = [
        c[0] > 0 and c[1] / c[0] - p >= config.low_conf_min_increase
        for c, p in zip(got, base, strict=True)
    ]
    return make_alarm(
        camera_id=profile.camera_id,
        kind="low_confidence",
        severity="critical" if share >= config.low_conf_critical_share else "warning",
        since_us=_run_start(buckets, flagged),
        observed_us=now_us,
        explanation=f"{share:.0%} of {n} reads in the last {len(buckets) * 15} min are "
        f"low-confidence where {usual:.0%} is usual (z = {z:.1f})",
        values={"share": share, "usual_share": usual, "reads": float(n), "z": z},
    )
