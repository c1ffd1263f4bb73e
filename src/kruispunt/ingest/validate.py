"""Pure validation of one read as a camera sent it: a Read for the log, or a reason code."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

from kruispunt import plates
from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.ingest.wire import ReadIn

US = 1_000_000


class Rejection(enum.StrEnum):
    CAMERA_MISMATCH = "camera_mismatch"
    CAPTURED_IN_FUTURE = "captured_in_future"
    CAPTURED_TOO_OLD = "captured_too_old"
    CONFIDENCE_OUT_OF_RANGE = "confidence_out_of_range"
    CONFIDENCE_TOO_LOW = "confidence_too_low"
    COUNTRY_INVALID = "country_invalid"


@dataclass(frozen=True, slots=True)
class Limits:
    max_future_skew_us: int
    max_age_us: int
    min_confidence: float


@lru_cache(maxsize=131_072)
def plate_info(raw: str, country: str | None) -> plates.PlateInfo | str:
    """The plate's reading, or why it is absurd. Cached: real traffic repeats plates."""
    problem = plates.check(raw)
    if problem is not None:
        return str(problem)
    return plates.recognise(raw, country)


def validate_read(r: ReadIn, *, camera: Camera, now_us: int, limits: Limits) -> Read | str:
    """Check one read against the camera that sent it and the node's clock.

    Returns the Read (seq 0, not yet in the log) or a machine-readable rejection reason.
    """
    if r.camera_id is not None and r.camera_id != camera.id:
        return Rejection.CAMERA_MISMATCH
    try:
        captured_us = round(r.captured_at.timestamp() * US)
    except (OverflowError, ValueError, OSError):  # e.g. year 1 with a UTC offset
        return Rejection.CAPTURED_TOO_OLD
    if captured_us > now_us + limits.max_future_skew_us:
        return Rejection.CAPTURED_IN_FUTURE
    if captured_us < now_us - limits.max_age_us:
        return Rejection.CAPTURED_TOO_OLD
    confidence = r.confidence
    if not 0.0 <= confidence <= 1.0:  # also false for NaN
        return Rejection.CONFIDENCE_OUT_OF_RANGE
    if confidence < limits.min_confidence:
        return Rejection.CONFIDENCE_TOO_LOW
    country = r.country
    if country is not None:
        country = country.upper()
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            return Rejection.COUNTRY_INVALID
    info = plate_info(r.plate, country)
    if isinstance(info, str):
        return info
    return Read(
        0, r.read_id, camera.id, camera.zone_id, captured_us, now_us, r.plate, info.plate,
        info.country, info.country_inferred, info.format, confidence, r.direction, r.lane,
        r.vehicle_class, r.make, r.colour, r.image_ref,
    )  # fmt: skip
