"""AXIS License Plate Verifier push events (HTTP POST, JSON), protocol 1.6.

Bare JSON, or a ``multipart/form-data`` body with the JSON part and the picture
(``plateImageType`` says which format, ``imageType`` which crop). Field names as in the LPV
push-event table (FF Group, "JSON Fields (Protocol 1.6)"): ``datetime`` ("YYYYMMDD
HHMMSSFFF", optional "+HHMM"; the event time in UTC when no offset is given),
``plateUTF8``/``plateText``, ``plateCountry`` (alpha-3), ``plateConfidence``, ``carState``
(new/updated/lost), ``carMoveDirection`` (unk/in/out), ``carID``, ``sensorProviderID``,
``roiID``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import msgspec
import pydantic

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import (
    AdapterConfig,
    Decoded,
    DecodeError,
    Image,
    VendorDecoder,
)

CarState = Literal["new", "updated", "lost"]
_DATETIME = re.compile(r"^(\d{8}) (\d{6})(\d{3})?\s*([+-]\d{4})?$")
_DIRECTIONS = {"in": "in", "out": "out", "unk": "unknown", "unknown": "unknown"}


class AxisEvent(msgspec.Struct, kw_only=True):
    datetime: str
    carID: int | str
    plateUTF8: str | None = None
    plateText: str | None = None
    plateUnicode: str | None = None
    plateCountry: str | None = None
    plateConfidence: float | str | None = None
    carState: str = "new"
    carMoveDirection: str | None = None
    sensorProviderID: str | None = None
    roiID: int | str | None = None
    plateImageType: str | None = None
    imageType: str | None = None


class AxisConfig(AdapterConfig):
    emit_on: tuple[CarState, ...] = pydantic.Field(
        default=("lost",),
        min_length=1,
        description="Which carState events become reads; 'lost' carries the final plate.",
    )


class AxisDecoder(VendorDecoder):
    type_key = "axis-lpv"
    config_model = AxisConfig
    config: AxisConfig

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        pictures: list[p.Part] = []
        if content_type.lower().startswith("multipart/"):
            parts = p.parse_multipart(payload, content_type)
            json_parts = [x for x in parts if "json" in x.content_type]
            if not json_parts:  # a plain form field holding the JSON
                json_parts = [x for x in parts if not x.content_type.startswith("image/")]
            if len(json_parts) != 1:
                raise DecodeError(f"expected one JSON part, found {len(json_parts)}")
            payload = json_parts[0].data
            pictures = [x for x in parts if x.content_type.startswith("image/")]
        event: AxisEvent = p.decode_json(payload, AxisEvent)
        if event.carState not in self.config.emit_on:
            return Decoded(reads=())
        plate = event.plateUTF8 or event.plateText or event.plateUnicode
        if not plate:
            raise DecodeError("event without a plate")
        captured_at = self._datetime(event.datetime)
        read_id = self.read_id(event.sensorProviderID or "", event.carID, event.datetime)
        read = self.read(
            read_id=read_id,
            captured_at=captured_at,
            plate=plate,
            country=p.country(event.plateCountry),
            confidence=p.confidence(event.plateConfidence, percent=False),
            direction=_DIRECTIONS.get((event.carMoveDirection or "").lower()),
            lane=p.small_int(event.roiID),
        )
        images = tuple(
            Image(read_id, x.content_type, x.data, kind=(event.imageType or "plate")[:32])
            for x in pictures
        )
        return Decoded(reads=(read,), images=images)

    def _datetime(self, text: str) -> dt.datetime:
        m = _DATETIME.match(text.strip())
        if m is None:
            raise DecodeError(f"bad datetime {text[:40]!r}, expected 'YYYYMMDD HHMMSSFFF'")
        day, clock, millis, offset = m.groups()
        value = dt.datetime.strptime(day + clock, "%Y%m%d%H%M%S")
        value = value.replace(microsecond=int(millis or 0) * 1000)
        if offset:
            return value.replace(tzinfo=dt.datetime.strptime(offset, "%z").tzinfo)
        return value.replace(tzinfo=dt.UTC)  # documented as UTC
