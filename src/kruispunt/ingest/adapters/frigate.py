"""Frigate NVR licence-plate events: the JSON payload of the ``frigate/events`` MQTT topic.

``{"type": "new"|"update"|"end", "before": {...}, "after": {...}}``; the tracked object in
``after`` carries ``id``, ``camera``, ``label``, ``start_time`` (epoch seconds) and, with
licence-plate recognition enabled (Frigate 0.16+), ``recognized_license_plate`` and
``recognized_license_plate_score``. By default only ``end`` events become reads, so the final
plate of a passage is recorded once; the read id is the Frigate event id.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import pydantic

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import AdapterConfig, Decoded, VendorDecoder

EventType = Literal["new", "update", "end"]


class _Tracked(msgspec.Struct):
    id: str
    camera: str
    start_time: float
    label: str | None = None
    recognized_license_plate: str | None = None
    recognized_license_plate_score: float | None = None


class FrigateEvent(msgspec.Struct):
    type: str
    after: _Tracked


class FrigateConfig(AdapterConfig):
    emit_on: tuple[EventType, ...] = pydantic.Field(
        default=("end",),
        min_length=1,
        description="Which event types become reads; 'end' carries the final plate.",
    )


class FrigateDecoder(VendorDecoder):
    type_key = "frigate"
    config_model = FrigateConfig
    config: FrigateConfig

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        event: FrigateEvent = p.decode_json(payload, FrigateEvent)
        obj = event.after
        if event.type not in self.config.emit_on or not obj.recognized_license_plate:
            return Decoded(reads=())
        read = self.read(
            read_id=self.read_id(obj.id),
            captured_at=self.epoch(obj.start_time),
            plate=obj.recognized_license_plate,
            confidence=p.confidence(obj.recognized_license_plate_score, percent=False),
            vehicle_class=p.vehicle_class(obj.label),
        )
        return Decoded(reads=(read,))
