"""What camera health says: alarms and the camera's overall state."""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

AlarmKind = Literal[
    "silence",
    "heartbeat_lost",
    "rate_drop",
    "rate_jump",
    "low_confidence",
    "clock_skew",
    "upload_delay",
    "pair_skew",
]
Severity = Literal["info", "warning", "critical"]
Status = Literal["ok", "learning", "degraded", "skewed", "silent"]

# Worst first: a silent camera's skew matters less than its silence.
_STATUS_OF_KIND: dict[str, Status] = {
    "silence": "silent",
    "heartbeat_lost": "silent",
    "clock_skew": "skewed",
    "pair_skew": "skewed",
    "rate_drop": "degraded",
    "rate_jump": "degraded",
    "low_confidence": "degraded",
    "upload_delay": "degraded",
}
_STATUS_RANK: dict[Status, int] = {"ok": 0, "learning": 1, "degraded": 2, "skewed": 3, "silent": 4}


def alarm_id(camera_id: str, kind: str, since_us: int) -> str:
    """Stable while the condition lasts, so a router can de-duplicate repeats."""
    digest = hashlib.blake2b(f"{camera_id}|{kind}|{since_us}".encode(), digest_size=10)
    return digest.hexdigest()


class CameraAlarm(msgspec.Struct, frozen=True):
    """One health finding. Times are microseconds since the epoch, UTC."""

    alarm_id: str
    camera_id: str
    kind: AlarmKind
    severity: Severity
    since_us: int
    observed_us: int
    explanation: str
    values: dict[str, float] = msgspec.field(default_factory=dict)


def make_alarm(
    *,
    camera_id: str,
    kind: AlarmKind,
    severity: Severity,
    since_us: int,
    observed_us: int,
    explanation: str,
    values: dict[str, float],
) -> CameraAlarm:
    return CameraAlarm(
        alarm_id=alarm_id(camera_id, kind, since_us),
        camera_id=camera_id,
        kind=kind,
        severity=severity,
        since_us=since_us,
        observed_us=observed_us,
        explanation=explanation,
        values=values,
    )


class CameraState(msgspec.Struct, frozen=True):
    camera_id: str
    status: Status
    observed_us: int
    alarms: tuple[CameraAlarm, ...] = ()


def camera_state(
    camera_id: str, observed_us: int, alarms: list[CameraAlarm], *, learning: bool
) -> CameraState:
    """The worst status among the alarms; ``learning`` when the profile is not ready yet."""
    status: Status = "learning" if learning else "ok"
    for a in alarms:
        candidate = _STATUS_OF_KIND[a.kind]
        if _STATUS_RANK[candidate] > _STATUS_RANK[status]:
            status = candidate
    return CameraState(camera_id, status, observed_us, tuple(alarms))
