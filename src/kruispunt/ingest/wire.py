"""The native ingest wire format, version 1 (JSON over HTTP).

A camera posts a batch of its own reads to ``POST /api/v1/reads`` with
``Authorization: Bearer <camera token>``. The format is versioned: ``version`` must be 1.
Field types are checked while decoding (msgspec), so a batch with a wrongly typed field is
refused as a whole with the JSON path of the first bad field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

WIRE_VERSION = 1
MAX_TEXT = 64

ShortText = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


class ReadIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One read as a camera sends it."""

    read_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=128,
            description="Unique per camera; resending the same id is harmless (idempotent).",
        ),
    ]
    captured_at: Annotated[
        dt.datetime,
        msgspec.Meta(tz=True, description="Capture time, RFC 3339 with a UTC offset."),
    ]
    plate: Annotated[
        str, msgspec.Meta(max_length=MAX_TEXT, description="The plate text exactly as read.")
    ]
    confidence: Annotated[float, msgspec.Meta(description="Reader confidence in [0, 1].")]
    camera_id: ShortText | None = None
    country: Annotated[
        str | None,
        msgspec.Meta(description="ISO 3166-1 alpha-2 when the camera knows it (BE, NL, FR...)."),
    ] = None
    direction: Literal["approaching", "receding", "in", "out", "unknown"] | None = None
    lane: Annotated[int, msgspec.Meta(ge=0, le=16)] | None = None
    vehicle_class: (
        Literal["car", "van", "truck", "bus", "motorcycle", "trailer", "other"] | None
    ) = None
    make: ShortText | None = None
    colour: ShortText | None = None
    image_ref: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    backfilled: Annotated[
        bool,
        msgspec.Meta(
            description="True when the camera replays its local buffer after an outage: "
            "hits raised from the read are marked late, however short the delay."
        ),
    ] = False


class ReadBatchIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A batch of reads from one camera."""

    version: Literal[1]
    camera_id: ShortText
    reads: list[ReadIn]


ReadStatus = Literal["stored", "duplicate", "rejected"]


class ReadResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    read_id: str
    status: ReadStatus
    seq: int | None = None
    reason: str | None = None
    detail: str | None = None


class ReadBatchResult(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    camera_id: str
    stored: int
    duplicates: int
    rejected: int
    results: list[ReadResult]


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str


class ErrorOut(msgspec.Struct, frozen=True, kw_only=True):
    error: ErrorBody


class _RawBatchIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    version: Literal[1]
    camera_id: ShortText
    reads: list[msgspec.Raw]


_encoder = msgspec.json.Encoder()
_batch_decoder = msgspec.json.Decoder(ReadBatchIn)
_raw_batch_decoder = msgspec.json.Decoder(_RawBatchIn)
_read_decoder = msgspec.json.Decoder(ReadIn)


def decode_batch(body: bytes) -> ReadBatchIn:
    """Decode and type-check a batch; raises ``msgspec.ValidationError``/``DecodeError``."""
    return _batch_decoder.decode(body)


def _read_id_of(raw: msgspec.Raw) -> str:
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return ""
    read_id = doc.get("read_id") if isinstance(doc, dict) else None
    return read_id if isinstance(read_id, str) and len(read_id) <= 128 else ""


def decode_batch_per_read(
    body: bytes,
) -> tuple[str, int, list[ReadIn | ReadResult]]:
    """The slow path when a batch does not decode as a whole: decode the envelope, then each
    read on its own, so one malformed read is rejected alone (with its JSON path) instead of
    refusing the batch. Returns (camera id, number of reads, reads or rejections).
    Raises like ``decode_batch`` when the envelope itself is broken."""
    envelope = _raw_batch_decoder.decode(body)
    items: list[ReadIn | ReadResult] = []
    for i, raw in enumerate(envelope.reads):
        try:
            items.append(_read_decoder.decode(raw))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            detail = str(exc).replace("`$", f"`$.reads[{i}]")
            items.append(
                ReadResult(
                    read_id=_read_id_of(raw),
                    status="rejected",
                    reason="read_malformed",
                    detail=detail,
                )
            )
    return envelope.camera_id, len(envelope.reads), items


def encode(obj: object) -> bytes:
    return _encoder.encode(obj)
