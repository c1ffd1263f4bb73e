"""Plate Recognizer webhooks, Stream and Snapshot (JSON, or multipart with the image).

As in guides.platerecognizer.com (Stream "Webhooks and Outputs", Snapshot "Webhooks for
Snapshot"). Both send ``{"hook": {...}, "data": {...}}``; a "webhook with image" is
``multipart/form-data`` with the JSON in the ``json`` field and the picture in ``upload``.
``data.timestamp`` is UTC (Stream: ISO 8601 with ``Z``; Snapshot: ``2025-09-09
23:22:38.030345``, no offset), ``data.camera_id`` (null for a Snapshot call without one) and
``data.results[]`` with ``plate`` (lower case), ``score`` (0-1), ``region.code``,
``vehicle.type``, and with MMC ``model_make[]`` and ``color[]``.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import Decoded, DecodeError, Image, VendorDecoder


class _Region(msgspec.Struct):
    code: str | None = None


class _VehicleType(msgspec.Struct):
    type: str | None = None


class _MakeModel(msgspec.Struct):
    make: str | None = None


class _Colour(msgspec.Struct):
    color: str | None = None


class _Result(msgspec.Struct):
    plate: str
    score: float
    region: _Region | None = None
    vehicle: _VehicleType | None = None
    model_make: list[_MakeModel] = []
    color: list[_Colour] = []


class _Data(msgspec.Struct):
    timestamp: str
    results: list[_Result]
    camera_id: str | None = None
    filename: str | None = None


class _Hook(msgspec.Struct):
    event: str | None = None


class Webhook(msgspec.Struct):
    data: _Data
    hook: _Hook | None = None


def _utc(text: str) -> dt.datetime:
    """An ISO 8601 time; one without an offset is UTC (as Plate Recognizer sends them)."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise DecodeError(f"bad timestamp {text[:40]!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _image_type(part: p.Part) -> str:
    """The ``upload`` file's type; the documented one (image/jpeg) when it names none."""
    return part.content_type if part.content_type.startswith("image/") else "image/jpeg"


class PlateRecognizerDecoder(VendorDecoder):
    type_key = "platerecognizer"

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        pictures: list[p.Part] = []
        if content_type.lower().startswith("multipart/"):
            parts = p.parse_multipart(payload, content_type)
            json_parts = [x for x in parts if x.name == "json"]
            if len(json_parts) != 1:
                raise DecodeError(f"expected one 'json' field, found {len(json_parts)}")
            payload = json_parts[0].data
            pictures = [x for x in parts if x.name == "upload"]
        doc: Webhook = p.decode_json(payload, Webhook)
        data = doc.data
        captured_at = _utc(data.timestamp)
        base = (data.camera_id or "", data.timestamp, data.filename or "")
        reads = tuple(
            self.read(
                read_id=self.read_id(*base, i),
                captured_at=captured_at,
                plate=r.plate.upper(),
                country=p.country(r.region.code if r.region else None),
                confidence=p.confidence(r.score, percent=False),
                vehicle_class=p.vehicle_class(r.vehicle.type if r.vehicle else None),
                make=p.first(r.model_make).make if r.model_make else None,
                colour=p.first(r.color).color if r.color else None,
            )
            for i, r in enumerate(data.results)
        )
        images = tuple(
            Image(read.read_id, _image_type(x), x.data, kind="frame")
            for x in pictures
            for read in reads
        )
        return Decoded(reads=reads, images=images)
