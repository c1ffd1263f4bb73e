"""OpenALPR / Rekor Scout agent webhooks: ``alpr_group`` and ``alpr_results`` JSON.

As in the OpenALPR documentation (github.com/openalpr/doc, app_integration "JSON Plate
Results" / "JSON Group Results", version 2). ``alpr_group`` (one vehicle passage):
``best_uuid``, ``best_plate_number``, ``best_confidence`` (percent), ``best_region`` (e.g.
``us-mo``), ``epoch_start`` (ms), ``best_plate.plate_crop_jpeg`` (base64), and from newer
agents ``vehicle`` attributes (color, make, body_type: lists of {name, confidence}) and
``vehicle_crop_jpeg`` (base64). ``alpr_results`` (one frame): ``uuid``, ``epoch_time`` (ms)
and ``results[]`` with ``plate``, ``confidence`` (percent), ``region``. The agent posts its
minutely ``heartbeat`` to the same address: accepted, no reads.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from kruispunt.ingest.adapters import parsing as p
from kruispunt.ingest.adapters.base import Decoded, DecodeError, Image, VendorDecoder
from kruispunt.ingest.wire import ReadIn


class _Named(msgspec.Struct):
    name: str
    confidence: float = 0.0


class _Vehicle(msgspec.Struct):
    color: list[_Named] = []
    make: list[_Named] = []
    body_type: list[_Named] = []


class _Plate(msgspec.Struct):
    plate: str
    confidence: float
    region: str | None = None


class _BestPlate(msgspec.Struct):
    plate_crop_jpeg: str | None = None


class _Envelope(msgspec.Struct, tag_field="data_type"):
    pass


class AlprGroup(_Envelope, tag="alpr_group", kw_only=True):
    best_uuid: str
    best_plate_number: str
    best_confidence: float
    epoch_start: int
    best_region: str | None = None
    country: str | None = None
    best_plate: _BestPlate | None = None
    vehicle: _Vehicle | None = None
    vehicle_crop_jpeg: str | None = None


class AlprResults(_Envelope, tag="alpr_results", kw_only=True):
    uuid: str
    epoch_time: int
    results: list[_Plate]


class Heartbeat(_Envelope, tag="heartbeat"):
    pass


def _base64(field: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise DecodeError(f"{field} is not base64") from None


def _best(items: list[_Named] | None) -> str | None:
    named = p.first(sorted(items or [], key=lambda n: -n.confidence))
    return named.name if named else None


class OpenAlprDecoder(VendorDecoder):
    type_key = "openalpr"

    def _decode(self, payload: bytes, content_type: str) -> Decoded:
        doc: AlprGroup | AlprResults | Heartbeat = p.decode_json(
            payload, AlprGroup | AlprResults | Heartbeat
        )
        if isinstance(doc, AlprGroup):
            return self._group(doc)
        if isinstance(doc, Heartbeat):
            return Decoded(reads=())
        return Decoded(reads=tuple(self._results(doc)))

    def _group(self, g: AlprGroup) -> Decoded:
        read_id = self.read_id(g.best_uuid)
        v = g.vehicle or _Vehicle()
        read = self.read(
            read_id=read_id,
            captured_at=self.epoch(g.epoch_start / 1000),
            plate=g.best_plate_number,
            country=p.country(g.best_region),
            confidence=p.confidence(g.best_confidence, percent=True),
            vehicle_class=p.vehicle_class(_best(v.body_type)),
            make=_best(v.make),
            colour=_best(v.color),
        )
        crops = (
            (
                "plate_crop_jpeg",
                "plate_crop",
                g.best_plate.plate_crop_jpeg if g.best_plate else None,
            ),
            ("vehicle_crop_jpeg", "vehicle_crop", g.vehicle_crop_jpeg),
        )
        images = tuple(
            Image(read_id, "image/jpeg", _base64(field, value), kind=kind)
            for field, kind, value in crops
            if value
        )
        return Decoded(reads=(read,), images=images)

    def _results(self, r: AlprResults) -> list[ReadIn]:
        return [
            self.read(
                read_id=self.read_id(r.uuid, i),
                captured_at=self.epoch(r.epoch_time / 1000),
                plate=res.plate,
                country=p.country(res.region),
                confidence=p.confidence(res.confidence, percent=True),
            )
            for i, res in enumerate(r.results)
        ]
