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


_encoder = msgspec.json.Encoder()
_batch_decoder = msgspec.json.Decoder(ReadBatchIn)


def decode_batch(body: bytes) -> ReadBatchIn:
    """Decode and type-check a batch; raises ``msgspec.ValidationError``/``DecodeError``."""
    return _batch_decoder.decode(body)


def encode(obj: object) -> bytes:
    return _encoder.encode(obj)
