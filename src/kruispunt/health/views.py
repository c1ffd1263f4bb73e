"""What people see of camera health: every camera they may see, its state, its alarms and
its reads per quarter hour over the last day (for the sparkline), and the alarm history.

Visibility is ``kruispunt.health.routing.may_see``; nothing here holds a plate.

Errors::

    Refused
    └── HealthRefused   400 ``bad_query``, ``unknown_zone``; 403 ``zone_not_visible``
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import msgspec

from kruispunt.access.principals import Principal
from kruispunt.domain.cameras import Camera
from kruispunt.domain.zones import Zone
from kruispunt.errors import Refused
from kruispunt.health.alarms import AlarmKind, Severity
from kruispunt.health.events import AlarmEvent, EventKind
from kruispunt.health.monitor import CameraHealth, HealthMonitor, State
from kruispunt.health.profile import bucket_start
from kruispunt.health.routing import manager_zone, may_see, sees_everything
from kruispunt.processors.traffic_counts import BUCKET_US
from kruispunt.store.sql import SqlStore

SPARK_BUCKETS = 96  # the last 24 hours in quarter hours
STATES: tuple[State, ...] = ("ok", "warning", "alarm", "unknown")
MAX_ALARMS = 1000


class HealthRefused(Refused):
    status = 400

    def __init__(self, message: str, code: str, status: int = 400):
        super().__init__(message, code)
        self.status = status


class AlarmRead(msgspec.Struct, frozen=True, kw_only=True):
    alarm_id: str
    kind: AlarmKind
    severity: Severity
    since_us: int
    observed_us: int
    explanation: str
    values: dict[str, float]


class CameraHealthRead(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    name: str
    zone_id: str
    manager: str
    manager_zone_id: str
    state: State  # ok, warning, alarm, unknown (still learning, or not judged yet)
    status: str  # ok, learning, degraded, skewed, silent; not_judged before the first tick
    observed_us: int | None
    last_read_us: int | None
    last_read_age_s: float | None
    last_heartbeat_us: int | None
    history_days: int
    alarms: list[AlarmRead]
    reads_start_us: int  # start of the first quarter hour of ``reads``
    reads: list[int]  # reads per quarter hour, oldest first, the last 24 hours


class CameraHealthList(msgspec.Struct, frozen=True, kw_only=True):
    observed_us: int
    counts: dict[str, int]  # cameras per state (of those listed before the state filter)
    cameras: list[CameraHealthRead]


class AlarmEventRead(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    event: EventKind
    at_us: int
    alarm_id: str
    camera_id: str
    camera_zone_id: str
    manager_zone_id: str
    kind: AlarmKind
    severity: Severity
    since_us: int
    explanation: str
    values: dict[str, float]


class AlarmEventList(msgspec.Struct, frozen=True, kw_only=True):
    events: list[AlarmEventRead]  # newest first


def _alarm(a: Any) -> AlarmRead:
    return AlarmRead(
        alarm_id=a.alarm_id, kind=a.kind, severity=a.severity, since_us=a.since_us,
        observed_us=a.observed_us, explanation=a.explanation, values=dict(a.values),
    )  # fmt: skip


def _check_zone(principal: Principal, zone: str | None, zones: Iterable[Zone]) -> str | None:
    if not zone:
        return None
    if zone not in {z.id for z in zones}:
        raise HealthRefused(f"zone: no zone {zone[:40]!r}", "unknown_zone")
    if not sees_everything(principal) and zone != principal.zone_id:
        raise HealthRefused(
            f"a {principal.role} sees the health of its own zone's cameras only",
            "zone_not_visible", 403,
        )  # fmt: skip
    return zone


def camera_health(
    principal: Principal,
    *,
    monitor: HealthMonitor,
    store: SqlStore,
    cameras: Iterable[Camera],
    zones: Iterable[Zone],
    now_us: int,
    state: str | None = None,
    zone: str | None = None,
) -> CameraHealthList:
    """Every camera the caller may see (of ``zone``), in zone and id order; ``state``:
    only those in that state."""
    zones = tuple(zones)
    if state and state not in STATES:
        raise HealthRefused(f"state: one of {', '.join(STATES)}", "bad_query")
    zone = _check_zone(principal, zone, zones)
    judged = monitor.health()
    visible: list[tuple[Camera, str]] = []
    for camera in cameras:
        if not camera.active:
            continue
        managed_by = manager_zone(camera, zones)
        if not may_see(principal, camera.zone_id, managed_by):
            continue
        if zone is not None and zone not in (camera.zone_id, managed_by):
            continue
        visible.append((camera, managed_by))
    start = bucket_start(now_us) - (SPARK_BUCKETS - 1) * BUCKET_US
    series: dict[str, list[int]] = {}
    if visible:
        wanted = {c.id for c, _ in visible}
        for row in store.traffic_counts(start):
            if row.camera_id in wanted:
                index = (row.bucket_us - start) // BUCKET_US
                if 0 <= index < SPARK_BUCKETS:
                    series.setdefault(row.camera_id, [0] * SPARK_BUCKETS)[index] += row.reads
    out: list[CameraHealthRead] = []
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    for camera, managed_by in sorted(visible, key=lambda v: (v[0].zone_id, v[0].id)):
        h = judged.get(camera.id)
        read = _read(camera, managed_by, h, now_us, start, series.get(camera.id))
        counts[read.state] += 1
        if not state or read.state == state:
            out.append(read)
    return CameraHealthList(observed_us=now_us, counts=counts, cameras=out)


def _read(
    camera: Camera,
    managed_by: str,
    h: CameraHealth | None,
    now_us: int,
    start: int,
    reads: list[int] | None,
) -> CameraHealthRead:
    last = h.last_read_us if h else None
    return CameraHealthRead(
        camera_id=camera.id, name=camera.name, zone_id=camera.zone_id, manager=camera.manager,
        manager_zone_id=managed_by, state=h.state if h else "unknown",
        status=h.status if h else "not_judged", observed_us=h.observed_us if h else None,
        last_read_us=last,
        last_read_age_s=None if last is None else max(0.0, (now_us - last) / 1e6),
        last_heartbeat_us=h.last_heartbeat_us if h else None,
        history_days=h.history_days if h else 0,
        alarms=[_alarm(a) for a in (h.alarms if h else ())],
        reads_start_us=start, reads=reads or [0] * SPARK_BUCKETS,
    )  # fmt: skip


def parse_time(value: str | None, name: str) -> int | None:
    """An ISO time (a date: its start, UTC) in microseconds; None when absent."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise HealthRefused(f"{name}: an ISO date or time", "bad_query") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000)


def alarm_history(
    principal: Principal,
    *,
    store: SqlStore,
    zones: Iterable[Zone],
    camera: str | None = None,
    zone: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    limit: int = 200,
) -> AlarmEventList:
    """The alarm events the caller may see, newest first."""
    if not 1 <= limit <= MAX_ALARMS:
        raise HealthRefused(f"limit: between 1 and {MAX_ALARMS}", "bad_query")
    zone = _check_zone(principal, zone, tuple(zones))
    if sees_everything(principal):
        zone_ids = None if zone is None else [zone]
    else:
        zone_ids = [principal.zone_id]
    events = store.camera_alarm_events(
        since_us=since_us, until_us=until_us, camera_ids=[camera] if camera else None,
        zone_ids=zone_ids, limit=limit, newest_first=True,
    )  # fmt: skip
    return AlarmEventList(
        events=[
            _event(e) for e in events if may_see(principal, e.camera_zone_id, e.manager_zone_id)
        ]
    )


def _event(e: AlarmEvent) -> AlarmEventRead:
    return AlarmEventRead(
        seq=e.seq,
        event=e.event,
        at_us=e.at_us,
        alarm_id=e.alarm.alarm_id,
        camera_id=e.alarm.camera_id,
        camera_zone_id=e.camera_zone_id,
        manager_zone_id=e.manager_zone_id,
        kind=e.alarm.kind,
        severity=e.alarm.severity,
        since_us=e.alarm.since_us,
        explanation=e.alarm.explanation,
        values=dict(e.alarm.values),
    )
