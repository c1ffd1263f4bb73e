"""A camera alarm raised or cleared: the message that travels (hub, webhooks) and is kept
(table ``camera_alarm_events``, one row per event, never updated).

An alarm is identified by ``CameraAlarm.alarm_id`` (camera, kind, start of the condition): it
is raised once and cleared once, so storing an event again changes nothing and a persisting
alarm is never sent twice. No plate travels: explanations and values are counts and times.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from kruispunt.health.alarms import CameraAlarm

EventKind = Literal["raised", "cleared"]


class AlarmEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int  # 0 until stored; then the order of the event log
    event: EventKind
    at_us: int
    camera_zone_id: str
    manager_zone_id: str
    alarm: CameraAlarm


_encoder = msgspec.json.Encoder()
_alarm_decoder = msgspec.json.Decoder(CameraAlarm)


def encode_alarm(alarm: CameraAlarm) -> bytes:
    return _encoder.encode(alarm)


def decode_alarm(doc: bytes | memoryview) -> CameraAlarm:
    return _alarm_decoder.decode(bytes(doc))


def event_view(event: AlarmEvent) -> dict[str, Any]:
    """The event as JSON for people and webhooks (the same for every recipient)."""
    a = event.alarm
    return {
        "seq": event.seq,
        "event": event.event,
        "at_us": event.at_us,
        "alarm_id": a.alarm_id,
        "camera_id": a.camera_id,
        "camera_zone_id": event.camera_zone_id,
        "manager_zone_id": event.manager_zone_id,
        "kind": a.kind,
        "severity": a.severity,
        "since_us": a.since_us,
        "observed_us": a.observed_us,
        "explanation": a.explanation,
        "values": a.values,
    }
