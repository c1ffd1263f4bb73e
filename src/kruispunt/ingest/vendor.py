"""A camera's payload in its vendor's format, into the native ingest path: shared by
``POST /api/v1/ingest/{format}`` (``api/vendor_ingest.py``) and the MQTT ``ingest/{format}``
topics (``ingest/mqtt.py``).

1. ``decoder_for``: the camera's decoder for the format (its registered settings; the rules
   are in ``ingest/formats.py``), or ``404 unknown_format`` / ``403 wrong_format``;
2. ``decode``: every read of the payload, or ``400 malformed_payload`` (nothing stored);
3. ``ingest``: the reads as one native batch of the camera (``IngestService``: validation,
   durable append, per-read outcome, back-pressure), marked back-filled when the decoder
   says so; then the pictures of the reads now durable go to the image store, one per read.
   A picture that cannot be kept is logged and reported, it never fails the reads.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

import msgspec

from kruispunt.images.service import ImageService
from kruispunt.ingest.adapters import Decoded, DecodeError, Image, VendorDecoder
from kruispunt.ingest.formats import FormatRefused
from kruispunt.ingest.service import IngestError, IngestService
from kruispunt.ingest.wire import ReadBatchIn, ReadBatchResult, ReadIn, encode

log = logging.getLogger(__name__)

OFF_LOOP_BYTES = 256 * 1024  # decode larger payloads in a worker thread


class ImageOutcome(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    read_id: str
    kind: str
    status: Literal["stored", "duplicate", "skipped", "failed"]
    image_id: str | None = None
    reason: str | None = None


class VendorBatchResult(ReadBatchResult, frozen=True, kw_only=True):
    """The native batch result, plus what became of the pictures that came with the reads."""

    format: str
    backfilled: bool = False
    images: list[ImageOutcome] = msgspec.field(default_factory=list)


def decoder_for(service: IngestService, camera_id: str, fmt: str) -> VendorDecoder:
    """The decoder of the (authenticated) camera for ``fmt``; raises ``IngestError``."""
    camera = service.registry.get(camera_id)
    if camera is None:
        raise service.refuse(404, "unknown_camera", "camera_id is not registered")
    try:
        return service.decoders.get(camera, fmt)
    except FormatRefused as exc:
        raise service.refuse(exc.status, exc.code, exc.message) from None


async def decode(decoder: VendorDecoder, payload: bytes, content_type: str) -> Decoded:
    """Every read of ``payload``; raises ``IngestError`` 413/400 (nothing stored)."""
    limit = decoder.config.max_bytes
    if len(payload) > limit:
        raise IngestService.refuse(413, "body_too_large", f"payload over {limit} bytes")
    try:
        if len(payload) > OFF_LOOP_BYTES:
            return await asyncio.to_thread(decoder.decode, payload, content_type)
        return decoder.decode(payload, content_type)
    except DecodeError as exc:
        raise IngestService.refuse(400, "malformed_payload", str(exc)) from None


async def ingest(
    service: IngestService,
    images: ImageService | None,
    camera_id: str,
    fmt: str,
    decoded: Decoded,
) -> VendorBatchResult:
    """The decoded reads as one batch of the camera, then their pictures; raises
    ``IngestError`` like ``IngestService.ingest``."""
    batch = ReadBatchIn(version=1, camera_id=camera_id, reads=list(decoded.reads))
    result = await service.ingest(camera_id, encode(batch), backfilled=decoded.backfilled)
    kept = await keep_images(images, camera_id, decoded, result) if decoded.images else []
    return VendorBatchResult(
        version=result.version, camera_id=result.camera_id, stored=result.stored,
        duplicates=result.duplicates, rejected=result.rejected, results=result.results,
        format=fmt, backfilled=decoded.backfilled, images=kept,
    )  # fmt: skip


async def keep_images(
    images: ImageService | None, camera_id: str, decoded: Decoded, result: ReadBatchResult
) -> list[ImageOutcome]:
    """Keep the pictures of the reads now durable (stored or duplicate), one per read."""
    durable = {r.read_id for r in result.results if r.status in ("stored", "duplicate")}
    captured = {r.read_id: r for r in decoded.reads}
    kept: set[str] = set()
    out: list[ImageOutcome] = []
    for image in decoded.images:
        read = captured.get(image.read_id)
        out.append(await _keep(images, camera_id, image, read, durable, kept))
    return out


async def _keep(
    images: ImageService | None,
    camera_id: str,
    image: Image,
    read: ReadIn | None,
    durable: set[str],
    kept: set[str],
) -> ImageOutcome:
    base = {"read_id": image.read_id, "kind": image.kind}
    if read is None or image.read_id not in durable:
        return ImageOutcome(**base, status="skipped", reason="read_not_stored")
    if image.read_id in kept:
        return ImageOutcome(**base, status="skipped", reason="one_image_per_read")
    if images is None:
        return ImageOutcome(**base, status="skipped", reason="no_image_store")
    captured_us = int(read.captured_at.timestamp() * 1_000_000)
    try:
        record, duplicate = await asyncio.to_thread(
            images.put, camera_id, image.read_id, captured_us, image.data, image.content_type
        )
    except Exception as exc:  # the reads are stored; a picture never fails them
        reason = getattr(exc, "code", None) or type(exc).__name__
        log.warning(
            "image %s of read %s of camera %s not kept: %s",
            image.kind, image.read_id, camera_id, exc,
        )  # fmt: skip
        return ImageOutcome(**base, status="failed", reason=str(reason))
    kept.add(image.read_id)
    return ImageOutcome(**base, status="duplicate" if duplicate else "stored", image_id=record.id)


__all__ = [
    "OFF_LOOP_BYTES",
    "ImageOutcome",
    "IngestError",
    "VendorBatchResult",
    "decode",
    "decoder_for",
    "ingest",
    "keep_images",
]
