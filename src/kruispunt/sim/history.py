"""The simulated province's past as traffic counts only, so camera health can learn.

Camera health judges a camera's rate against its own profile, which needs two weeks of that
camera's counts per quarter hour (``traffic_counts``). A fresh demo store has none, so the
demo writes about three weeks of *simulated counts* before it starts feeding: for each camera
and quarter hour, the reads the traffic model would bring on average (the camera's share of
the province's passes, the daily curve of :mod:`kruispunt.sim.daily`, shifted by how long
after a trip's start its vehicles reach that camera), drawn with Poisson noise. It is the
simulated history of counts, nothing more: no read is invented, no plate exists for it, and
the reads table holds only what the cameras send.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kruispunt.processors.traffic_counts import BUCKET_US, LOW_CONFIDENCE, Counts
from kruispunt.sim.daily import hour_share
from kruispunt.sim.misread import confidence
from kruispunt.sim.traffic import HOUR_US, MAX_TRIP_US, TrafficModel

MINUTE_US = 60_000_000
MINUTES_PER_BUCKET = BUCKET_US // MINUTE_US
MAX_DELAY_MIN = MAX_TRIP_US // MINUTE_US
SAMPLE_TRIPS = 30_000


@dataclass(frozen=True)
class CameraTraffic:
    """What the model says of one camera's traffic, from a sample of its trips."""

    camera_id: str
    share: float  # of the province's reads
    foreign_share: float  # of its reads, vehicles registered abroad
    delay: npt.NDArray[np.float64]  # minutes after a trip's start it is passed (sums to 1)


def camera_traffic(model: TrafficModel, *, trips: int = SAMPLE_TRIPS) -> list[CameraTraffic]:
    """Every camera's share of the passes, foreign share and delay, from ``trips`` trips."""
    n = len(model.cameras)
    passes = np.zeros(n)
    foreign = np.zeros(n)
    delay = np.zeros((n, MAX_DELAY_MIN))
    for cam, vehicle, t_s in model.sample_passes(trips, random.Random(f"{model.seed}:history")):
        passes[cam] += 1
        foreign[cam] += vehicle.country != "BE"
        delay[cam, min(MAX_DELAY_MIN - 1, int(t_s // 60))] += 1
    total = max(1.0, float(passes.sum()))
    out = []
    for i, camera in enumerate(model.cameras):
        seen = max(1.0, float(passes[i]))
        out.append(
            CameraTraffic(
                camera_id=camera.id,
                share=float(passes[i]) / total,
                foreign_share=float(foreign[i]) / seen,
                delay=delay[i] / seen,
            )
        )
    return out


def low_confidence_share(misread_rate: float, *, samples: int = 20_000) -> float:
    """Share of reads the reader reports below ``LOW_CONFIDENCE`` (``misread.confidence``)."""
    rng = random.Random("history:confidence")
    low_bad = sum(confidence(rng, misread=True) < LOW_CONFIDENCE for _ in range(samples))
    low_good = sum(confidence(rng, misread=False) < LOW_CONFIDENCE for _ in range(samples))
    return (misread_rate * low_bad + (1 - misread_rate) * low_good) / samples


def _trip_start_density(start_us: int, minutes: int) -> npt.NDArray[np.float64]:
    """Share of a day's trips starting in each minute (the model draws trips per UTC hour)."""
    out = np.empty(minutes)
    for m0 in range(0, minutes, 60):  # start_us is on an hour boundary
        hour_us = start_us + m0 * MINUTE_US
        at = dt.datetime.fromtimestamp(hour_us / 1e6, dt.UTC)
        out[m0 : m0 + 60] = hour_share(at) / 60
    return out


def expected_reads(
    model: TrafficModel, traffic: list[CameraTraffic], *, start_us: int, end_us: int
) -> dict[str, npt.NDArray[np.float64]]:
    """Per camera, the mean reads of each quarter hour in [start, end) (bucket aligned)."""
    if start_us % BUCKET_US or end_us % BUCKET_US or end_us <= start_us:
        raise ValueError("start and end: quarter-hour boundaries, start before end")
    buckets = (end_us - start_us) // BUCKET_US
    minutes = buckets * MINUTES_PER_BUCKET
    # Trips start up to MAX_TRIP before the first minute; hours begin on the hour.
    lead = MAX_DELAY_MIN + (start_us % HOUR_US) // MINUTE_US
    density = _trip_start_density(start_us - lead * MINUTE_US, minutes + lead)
    out = {}
    for cam in traffic:
        # reads at minute m: sum over k of (passes k minutes after the start) x (trips at m-k)
        per_minute = np.convolve(density, cam.delay)[lead : lead + minutes]
        per_bucket = per_minute.reshape(buckets, MINUTES_PER_BUCKET).sum(axis=1)
        out[cam.camera_id] = per_bucket * model.reads_per_day * cam.share
    return out


def simulated_counts(
    model: TrafficModel,
    *,
    start_us: int,
    end_us: int,
    seed: int,
    skip: Collection[tuple[str, int]] = (),
    batch: int = 50_000,
) -> Iterator[Counts]:
    """The counts of [start, end), in batches of at most ``batch`` rows: Poisson reads around
    the expected ones, their low-confidence and foreign shares binomial. A (camera, quarter
    hour) in ``skip`` (counted already) and an empty quarter hour are left out."""
    traffic = camera_traffic(model)
    expected = expected_reads(model, traffic, start_us=start_us, end_us=end_us)
    p_low = low_confidence_share(model.misread_rate)
    rng = np.random.default_rng(seed)
    pending: Counts = {}
    for cam in traffic:
        reads = rng.poisson(expected[cam.camera_id])
        low = rng.binomial(reads, p_low)
        foreign = rng.binomial(reads, cam.foreign_share)
        for i in np.flatnonzero(reads):
            key = (cam.camera_id, start_us + int(i) * BUCKET_US)
            if key in skip:
                continue
            pending[key] = (int(reads[i]), int(low[i]), int(foreign[i]))
            if len(pending) >= batch:
                yield pending
                pending = {}
    if pending:
        yield pending
