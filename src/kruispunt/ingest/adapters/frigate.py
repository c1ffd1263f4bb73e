"""Frigate NVR licence-plate events: the JSON payloads of its MQTT topics.

``frigate/events`` (docs.frigate.video, Integrations > MQTT): ``{"type": "new"|"update"|
"end", "before": {...}, "after": {...}}``; the tracked object in ``after`` carries ``id``,
``camera``, ``label``, ``start_time`` (epoch seconds) and, with licence-plate recognition
(Frigate 0.16+), the plate: documented as ``recognized_license_plate`` (text) and
``recognized_license_plate_score``; Frigate itself serialises it as a ``[plate, score]`` pair
(like ``sub_label``), so both shapes are read. By default only ``end`` events become reads, so
the final plate of a passage is recorded once; the read id is the Frigate event id.

``frigate/tracked_object_update`` with ``type`` ``lpr``: ``id``, ``camera``, ``plate``,
``score``, ``timestamp`` (epoch seconds), ``name`` for a known plate. A read only when ``lpr``
is in ``emit_on``; it has the same read id as the event's, so the first one stored wins.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import pydantic

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import AdapterConfig, Decoded, DecodeError, VendorDecoder

EventType = Literal["new", "update", "end", "lpr"]
Plate = str | tuple[str | None, float | None] | None


class _Tracked(msgspec.Struct):
    id: str
    camera: str
    start_time: float
    label: str | None = None
    recognized_license_plate: Plate = None
    recognized_license_plate_score: float | None = None


class FrigateMessage(msgspec.Struct):
    """A ``frigate/events`` message (``after``) or a ``tracked_object_update`` (the rest)."""

    type: str
    after: _Tracked | None = None
    id: str | None = None
    camera: str | None = None
    plate: str | None = None
    score: float | None = None
    timestamp: float | None = None


class FrigateConfig(AdapterConfig):
    emit_on: tuple[EventType, ...] = pydantic.Field(
        default=("end",),
        min_length=1,
        description="Which message types become reads; 'end' carries the final plate, 'lpr' "
        "is the tracked_object_update sent when a plate is recognised.",
    )


def _plate(obj: _Tracked) -> tuple[str | None, float | None]:
    value = obj.recognized_license_plate
    if isinstance(value, tuple):
        return value[0], value[1]
    return value, obj.recognized_license_plate_score


class FrigateDecoder(VendorDecoder):
    type_key = "frigate"
    config_model = FrigateConfig
    config: FrigateConfig

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        msg: FrigateMessage = p.decode_json(payload, FrigateMessage)
        if msg.type not in self.config.emit_on:
            return Decoded(reads=())
        if msg.type == "lpr":
            return self._lpr(msg)
        obj = msg.after
        if obj is None:
            raise DecodeError(f"{msg.type[:20]!r} event without 'after'")
        plate, score = _plate(obj)
        if not plate:
            return Decoded(reads=())
        read = self.read(
            read_id=self.read_id(obj.id),
            captured_at=self.epoch(obj.start_time),
            plate=plate,
            confidence=p.confidence(score, percent=False),
            vehicle_class=p.vehicle_class(obj.label),
        )
        return Decoded(reads=(read,))

    def _lpr(self, msg: FrigateMessage) -> Decoded:
        if msg.id is None or msg.timestamp is None:
            raise DecodeError("lpr update without id or timestamp")
        if not msg.plate:
            return Decoded(reads=())
        read = self.read(
            read_id=self.read_id(msg.id),
            captured_at=self.epoch(msg.timestamp),
            plate=msg.plate,
            confidence=p.confidence(msg.score, percent=False),
        )
        return Decoded(reads=(read,))
