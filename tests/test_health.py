"""Camera health detectors on synthetic traffic: each fires on its pattern, not on normal days."""

from __future__ import annotations

import datetime as dt
import math
import random
import zoneinfo

import pydantic
import pytest

from kruispunt.health import (
    CameraProfile,
    HealthConfig,
    assess_camera,
    detect_clock_skew,
    detect_pair_skew,
    estimate_arrival_skew,
    estimate_pair_skew,
    learn_profile,
)
from kruispunt.health.holidays import easter_sunday, holidays
from kruispunt.health.profile import BucketCounts
from kruispunt.processors.traffic_counts import BUCKET_US

TZ = zoneinfo.ZoneInfo("Europe/Brussels")
CFG = HealthConfig()
CAM = "cam-1"
S = 1_000_000
LOW_SHARE = 0.05


def local_us(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp() * S)


HISTORY_START = local_us(2024, 4, 8)  # a Monday, after the spring clock change
TODAY = local_us(2024, 5, 6)  # four weeks later, a Monday
RUSH = local_us(2024, 5, 6, 9, 0)  # 09:00: the last hour (08:00-09:00) is rush hour
NIGHT = local_us(2024, 5, 6, 4, 0)


def rate(bucket_us: int) -> float:
    """Expected reads per quarter hour: quiet nights, two rush hours on weekdays."""
    local = dt.datetime.fromtimestamp(bucket_us / S, tz=TZ)
    h = local.hour + local.minute / 60
    if h < 5 or h >= 23:
        return 1.0
    if local.weekday() >= 5:
        return 40.0
    peak = 150 * (math.exp(-((h - 8.5) ** 2)) + math.exp(-((h - 17.5) ** 2)))
    return 30.0 + peak


def poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def traffic(
    start_us: int,
    end_us: int,
    *,
    seed: int,
    scale: float = 1.0,
    low_share: float = LOW_SHARE,
) -> dict[int, tuple[int, int, int]]:
    rng = random.Random(seed)
    out: dict[int, tuple[int, int, int]] = {}
    for b in range(start_us, end_us, BUCKET_US):
        n = poisson(rng, rate(b) * scale)
        low = sum(rng.random() < low_share for _ in range(n))
        if n:
            out[b] = (n, low, 0)
    return out


@pytest.fixture(scope="module")
def history() -> dict[int, tuple[int, int, int]]:
    counts = traffic(HISTORY_START, TODAY, seed=1)
    # Two outage days and one festival day must not bend the profile.
    for day in (3, 10):
        start = HISTORY_START + day * 86_400 * S
        for b in range(start, start + 86_400 * S, BUCKET_US):
            counts.pop(b, None)
    festival = HISTORY_START + 15 * 86_400 * S
    counts.update(traffic(festival, festival + 86_400 * S, seed=2, scale=5))
    return counts


@pytest.fixture(scope="module")
def profile(history: dict[int, tuple[int, int, int]]) -> CameraProfile:
    return learn_profile(CAM, history, start_us=HISTORY_START, end_us=TODAY, config=CFG)


def today(until_us: int) -> BucketCounts:
    return traffic(TODAY, until_us - until_us % BUCKET_US, seed=99)


# --- profile and minimum history ---


def test_profile_is_robust_to_outages_and_a_festival(profile: CameraProfile) -> None:
    assert profile.ready
    assert profile.history_days == 26  # 28 days, 2 outages left out
    stats = profile.stats(local_us(2024, 5, 6, 8, 30))
    assert stats is not None
    assert stats.median == pytest.approx(rate(local_us(2024, 5, 6, 8, 30)), rel=0.15)
    assert stats.low_conf_share == pytest.approx(LOW_SHARE, abs=0.02)
    night = profile.stats(NIGHT)
    assert night is not None and night.median <= 2


def test_minimum_history_respected() -> None:
    week = traffic(HISTORY_START, HISTORY_START + 7 * 86_400 * S, seed=3)
    young = learn_profile(
        CAM, week, start_us=HISTORY_START, end_us=HISTORY_START + 7 * 86_400 * S, config=CFG
    )
    assert not young.ready
    assert young.stats(RUSH) is None
    # Even total silence at rush hour is not judged on a week of history.
    state = assess_camera(young, {}, now_us=RUSH, last_read_us=RUSH - 3600 * S, config=CFG)
    assert state.status == "learning"
    assert state.alarms == ()


# --- normal traffic stays quiet ---


@pytest.mark.parametrize("now", [RUSH, NIGHT, local_us(2024, 5, 6, 18, 7)])
def test_normal_traffic_is_ok(profile: CameraProfile, now: int) -> None:
    counts = today(now)
    last = now - 20 * S if now != NIGHT else now - 45 * 60 * S
    state = assess_camera(profile, counts, now_us=now, last_read_us=last, config=CFG)
    assert state.status == "ok", state.alarms
    assert state.alarms == ()


@pytest.mark.parametrize("seed", range(5))
def test_normal_days_raise_no_rate_alarm_all_day(profile: CameraProfile, seed: int) -> None:
    counts = traffic(TODAY, TODAY + 86_400 * S, seed=100 + seed)
    for now in range(TODAY + 2 * 3600 * S, TODAY + 86_400 * S, 3600 * S):
        state = assess_camera(profile, counts, now_us=now, last_read_us=None, config=CFG)
        assert state.alarms == (), (now, state.alarms)


# --- silence ---


def test_rush_hour_silence_fires(profile: CameraProfile) -> None:
    last = RUSH - 15 * 60 * S
    state = assess_camera(profile, today(last), now_us=RUSH, last_read_us=last, config=CFG)
    assert state.status == "silent"
    (alarm,) = [a for a in state.alarms if a.kind == "silence"]
    assert alarm.severity == "critical"
    assert alarm.since_us == last
    assert alarm.values["expected_reads"] > 50
    assert "15.0 min" in alarm.explanation


def test_quiet_night_is_not_silent(profile: CameraProfile) -> None:
    last = NIGHT - 60 * 60 * S  # an hour without a read at 03:00-04:00
    state = assess_camera(profile, {}, now_us=NIGHT, last_read_us=last, config=CFG)
    assert not any(a.kind == "silence" for a in state.alarms)


def test_short_gap_is_not_silence(profile: CameraProfile) -> None:
    last = RUSH - 2 * 60 * S  # shorter than silence_min_gap_s
    state = assess_camera(profile, today(RUSH), now_us=RUSH, last_read_us=last, config=CFG)
    assert state.status == "ok"


def test_heartbeat_lost(profile: CameraProfile) -> None:
    state = assess_camera(
        profile,
        today(RUSH),
        now_us=RUSH,
        last_read_us=RUSH - 30 * S,
        last_heartbeat_us=RUSH - 600 * S,
        config=CFG,
    )
    assert [a.kind for a in state.alarms] == ["heartbeat_lost"]
    assert state.status == "silent"


# --- drops and jumps ---


def _with_last_hour(now: int, scale: float) -> BucketCounts:
    counts = dict(today(now - 3600 * S))
    counts.update(traffic(now - 3600 * S, now, seed=7, scale=scale))
    return counts


def test_rate_drop_fires(profile: CameraProfile) -> None:
    counts = _with_last_hour(RUSH, 0.3)
    state = assess_camera(profile, counts, now_us=RUSH, last_read_us=RUSH - 60 * S, config=CFG)
    (alarm,) = state.alarms
    assert alarm.kind == "rate_drop"
    assert alarm.severity == "warning"
    assert alarm.since_us == RUSH - 3600 * S
    assert alarm.values["observed"] < 0.5 * alarm.values["expected"]
    assert state.status == "degraded"


def test_rate_jump_fires(profile: CameraProfile) -> None:
    counts = _with_last_hour(RUSH, 3.0)
    state = assess_camera(profile, counts, now_us=RUSH, last_read_us=RUSH - 60 * S, config=CFG)
    assert [a.kind for a in state.alarms] == ["rate_jump"]


def test_small_night_numbers_do_not_drop(profile: CameraProfile) -> None:
    state = assess_camera(profile, {}, now_us=NIGHT, last_read_us=None, config=CFG)
    assert state.alarms == ()


# --- low confidence ---


def test_rising_low_confidence_share_fires(profile: CameraProfile) -> None:
    counts = dict(today(RUSH - 2 * 3600 * S))
    counts.update(traffic(RUSH - 2 * 3600 * S, RUSH, seed=8, low_share=0.30))
    state = assess_camera(profile, counts, now_us=RUSH, last_read_us=RUSH - 60 * S, config=CFG)
    (alarm,) = state.alarms
    assert alarm.kind == "low_confidence"
    assert alarm.severity == "warning"
    assert alarm.values["share"] == pytest.approx(0.30, abs=0.05)
    assert alarm.values["usual_share"] == pytest.approx(LOW_SHARE, abs=0.02)
    assert "%" in alarm.explanation


def test_low_confidence_needs_enough_reads(profile: CameraProfile) -> None:
    counts = {b: (3, 3, 0) for b in range(NIGHT - 2 * 3600 * S, NIGHT, BUCKET_US)}
    state = assess_camera(profile, counts, now_us=NIGHT, last_read_us=None, config=CFG)
    assert not any(a.kind == "low_confidence" for a in state.alarms)


# --- clock skew against the node ---


def arrivals(
    *, offset_s: float, batch_s: float, seed: int, n: int = 1800, glitches: int = 0
) -> list[tuple[int, int]]:
    """A read every ~0.5 s for 15 min; the camera stamps capture with a clock ``offset_s``
    off and uploads every ``batch_s`` (0: at once), with 0.1 s + exponential latency."""
    rng = random.Random(seed)
    t0 = RUSH - 900 * S
    out = []
    t = 0.0
    for _ in range(n):
        t += rng.expovariate(2.0)
        upload = math.ceil(t / batch_s) * batch_s if batch_s else t
        received = upload + 0.1 + rng.expovariate(1 / 0.3)
        out.append((t0 + round((t + offset_s) * S), t0 + round(received * S)))
    for i in range(glitches):  # a few capture stamps an hour off
        c, r = out[i * 97]
        out[i * 97] = (c + 3600 * S, r)
    return out


@pytest.mark.parametrize(
    ("offset_s", "batch_s"), [(0.0, 0.0), (0.0, 30.0), (3.0, 0.0), (3.0, 30.0), (-20.0, 10.0)]
)
def test_arrival_skew_estimate_within_tolerance(offset_s: float, batch_s: float) -> None:
    est = estimate_arrival_skew(
        arrivals(offset_s=offset_s, batch_s=batch_s, seed=5, glitches=3), config=CFG
    )
    assert est is not None
    # The latency floor (0.1 s) and batching bias the estimate a little toward 'behind'.
    assert est.clock_offset_s == pytest.approx(offset_s - 0.15, abs=0.35)


def test_clock_ahead_fires_and_good_clock_with_slow_uploads_does_not() -> None:
    ahead = estimate_arrival_skew(arrivals(offset_s=3.0, batch_s=30.0, seed=6), config=CFG)
    assert ahead is not None
    (alarm,) = detect_clock_skew(CAM, ahead, now_us=RUSH, config=CFG)
    assert alarm.kind == "clock_skew"
    assert "ahead" in alarm.explanation

    slow = estimate_arrival_skew(arrivals(offset_s=0.0, batch_s=300.0, seed=6, n=7200), config=CFG)
    assert slow is not None
    assert slow.uploads >= CFG.skew_min_uploads
    assert abs(slow.clock_offset_s) < 1.0
    kinds = [a.kind for a in detect_clock_skew(CAM, slow, now_us=RUSH, config=CFG)]
    assert kinds == ["upload_delay"]  # slow, not skewed


def test_clock_behind_fires() -> None:
    est = estimate_arrival_skew(arrivals(offset_s=-40.0, batch_s=0.0, seed=9), config=CFG)
    assert est is not None
    (alarm,) = detect_clock_skew(CAM, est, now_us=RUSH, config=CFG)
    assert alarm.kind == "clock_skew"
    assert alarm.severity == "critical"
    assert "behind" in alarm.explanation


def test_skew_needs_enough_reads_and_uploads() -> None:
    few = arrivals(offset_s=5.0, batch_s=0.0, seed=1, n=10)
    assert estimate_arrival_skew(few, config=CFG) is None
    assert estimate_arrival_skew([], config=CFG) is None
    # Many reads in three uploads: too few to place the clock.
    batched = estimate_arrival_skew(arrivals(offset_s=5.0, batch_s=300.0, seed=1), config=CFG)
    assert batched is not None and batched.uploads < CFG.skew_min_uploads
    assert [a.kind for a in detect_clock_skew(CAM, batched, now_us=RUSH, config=CFG)] == [
        "upload_delay"
    ]


def test_skewed_state_through_assess(profile: CameraProfile) -> None:
    state = assess_camera(
        profile,
        today(RUSH),
        now_us=RUSH,
        last_read_us=RUSH - 10 * S,
        arrivals=arrivals(offset_s=5.0, batch_s=0.0, seed=2),
        config=CFG,
    )
    assert state.status == "skewed"


# --- clock skew between cameras ---


def pairs(offset_s: float, *, n: int, seed: int) -> list[tuple[int, int]]:
    """Vehicles from A to B: ~60 s, noisy, one in ten stops for a while."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = RUSH + i * 7 * S
        travel = 60 + rng.gauss(0, 4) + (rng.uniform(30, 300) if rng.random() < 0.1 else 0)
        out.append((a, a + round((travel + offset_s) * S)))
    return out


def test_pair_skew_detects_two_seconds() -> None:
    est = estimate_pair_skew(pairs(2.0, n=300, seed=1), travel_s=60.0, config=CFG)
    assert est is not None
    assert est.offset_s == pytest.approx(2.0, abs=0.8)
    alarm = detect_pair_skew("cam-a", "cam-b", est, since_us=RUSH, now_us=RUSH, config=CFG)
    assert alarm is not None
    assert alarm.camera_id == "cam-b"
    assert alarm.kind == "pair_skew"
    assert "ahead of camera cam-a" in alarm.explanation


@pytest.mark.parametrize("seed", range(5))
def test_pair_skew_quiet_on_synced_clocks(seed: int) -> None:
    est = estimate_pair_skew(pairs(0.0, n=300, seed=seed), travel_s=60.0, config=CFG)
    assert est is not None
    assert abs(est.offset_s) < 1.0
    assert detect_pair_skew("a", "b", est, since_us=RUSH, now_us=RUSH, config=CFG) is None


def test_pair_skew_needs_enough_pairs() -> None:
    assert estimate_pair_skew(pairs(5.0, n=10, seed=1), travel_s=60.0, config=CFG) is None


# --- state and config ---


def test_alarm_id_stable_while_condition_lasts(profile: CameraProfile) -> None:
    last = RUSH - 15 * 60 * S
    one = assess_camera(profile, {}, now_us=RUSH, last_read_us=last, config=CFG)
    two = assess_camera(profile, {}, now_us=RUSH + 60 * S, last_read_us=last, config=CFG)
    assert one.alarms[0].alarm_id == two.alarms[0].alarm_id


def test_silent_outranks_skewed(profile: CameraProfile) -> None:
    state = assess_camera(
        profile,
        {},
        now_us=RUSH,
        last_read_us=RUSH - 20 * 60 * S,
        arrivals=arrivals(offset_s=5.0, batch_s=0.0, seed=2),
        config=CFG,
    )
    assert {a.kind for a in state.alarms} == {"silence", "clock_skew"}
    assert state.status == "silent"


def test_config_is_strict() -> None:
    with pytest.raises(pydantic.ValidationError):
        HealthConfig(silence_p_value=0.9)
    with pytest.raises(pydantic.ValidationError):
        HealthConfig.model_validate({"unknown": 1})


# -- public holidays --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2024, "2024-03-31"),
        (2025, "2025-04-20"),
        (2026, "2026-04-05"),
        (2038, "2038-04-25"),
        (2285, "2285-03-22"),
    ],
)
def test_easter_sunday(year: int, easter: str) -> None:
    assert easter_sunday(year) == dt.date.fromisoformat(easter)


def test_belgiums_legal_holidays_by_default() -> None:
    cfg = HealthConfig()
    days = holidays([2026], fixed=cfg.holidays_fixed, easter_offsets=cfg.holidays_easter_offsets)
    assert sorted(d.isoformat() for d in days) == [
        "2026-01-01", "2026-04-06", "2026-05-01", "2026-05-14", "2026-05-25", "2026-07-21",
        "2026-08-15", "2026-11-01", "2026-11-11", "2026-12-25",
    ]  # fmt: skip


def test_a_holiday_is_judged_as_a_weekend_day() -> None:
    tz = zoneinfo.ZoneInfo("Europe/Brussels")
    monday = dt.datetime(2026, 4, 6, 9, 0, tzinfo=tz)  # Easter Monday, 09:00
    at = int(monday.timestamp()) * 1_000_000
    start = at - 21 * 86_400_000_000
    counts: BucketCounts = {b: (40, 2, 0) for b in range(start, at, BUCKET_US)}
    cfg = HealthConfig()
    days = holidays([2026], fixed=cfg.holidays_fixed, easter_offsets=cfg.holidays_easter_offsets)
    with_days = learn_profile("c", counts, start_us=start, end_us=at, config=cfg, holidays=days)
    without = learn_profile("c", counts, start_us=start, end_us=at, config=cfg)
    assert with_days.slot_of(at)[0] == "weekend" and without.slot_of(at)[0] == "weekday"


def test_holiday_rules_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="MM-DD"):
        HealthConfig(holidays_fixed=["13-01"])
    with pytest.raises(pydantic.ValidationError, match="within 100"):
        HealthConfig(holidays_easter_offsets=[400])
    leap_only = HealthConfig(holidays_fixed=["02-29"], holidays_easter_offsets=[])
    days = holidays([2027, 2028], fixed=leap_only.holidays_fixed, easter_offsets=[])
    assert days == {dt.date(2028, 2, 29)}
