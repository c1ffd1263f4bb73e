"""POST /api/v1/ingest/{format}: a camera's own payload format, decoded by its adapter.

A camera that speaks a vendor format (Hikvision ISAPI, Axis, ONVIF, OpenALPR, ...) is pointed
at ``/api/v1/ingest/<format>`` with its own credentials: its token as a bearer token, or HTTP
Basic auth with the camera id as user name and the token as password (for cameras that can
send nothing else). The body is decoded by the format's adapter and the reads go through the
same path as a native batch of that camera (``IngestService``: validation, durable append,
per-read outcome, back-pressure). Pictures that came with the reads are kept in the image
store once the reads are durable; a picture that cannot be kept is logged and reported, it
does not fail the reads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from typing import Literal

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response
from kruispunt.api.guard import camera
from kruispunt.api.ingest import _read_body
from kruispunt.images.service import ImageService
from kruispunt.ingest.adapters import REGISTRY, Decoded, DecodeError, Image, VendorDecoder, build
from kruispunt.ingest.service import IngestError, IngestService
from kruispunt.ingest.wire import ErrorOut, ReadBatchIn, ReadBatchResult, ReadIn, encode

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])

REALM = 'Basic realm="kruispunt camera ingest", charset="UTF-8"'
_OFF_LOOP_BYTES = 256 * 1024  # decode larger bodies in a worker thread
_DECODERS: dict[str, VendorDecoder] = {}


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


DESCRIPTION = f"""Send one payload of a camera in its vendor's format: `format` is one of
{", ".join(f"`{k}`" for k in sorted(REGISTRY))}.

Authenticate with the camera's own token, as `Authorization: Bearer <token>` or as HTTP Basic
auth with the camera id as user name and the token as password. The payload is decoded by the
format's adapter and its reads are ingested as one batch of that camera, exactly like
`POST /api/v1/reads` (same per-read outcome, same durable acknowledgement, same 429/503 with
`Retry-After`); resending a payload is harmless. A payload that does not decode is refused
with 400 (`malformed_payload`) and nothing is stored. Pictures that came with the reads are
kept in the image store after the reads are durable; `images` says what became of each
(one picture per read is kept; a refused picture does not fail the reads).
"""


def decoder_for(type_key: str) -> VendorDecoder | None:
    """The shared decoder of a format (decoders hold no state), or None when unknown."""
    decoder = _DECODERS.get(type_key)
    if decoder is None and type_key in REGISTRY:
        decoder = _DECODERS[type_key] = build(type_key)
    return decoder


def authenticate(service: IngestService, authorization: str | None) -> str:
    """The camera id of a bearer token or of Basic auth (camera id, token); 401 otherwise."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return service.authenticate(authorization)
    user = token = ""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        user, _, token = decoded.partition(":")
    except (binascii.Error, UnicodeDecodeError):
        pass
    found = service.registry.camera_for_token(token) if user and token else None
    # The token is checked against its hash in constant time by the registry; the camera id
    # is compared in constant time too, so a wrong id costs the same as a wrong token.
    if found is None or not hmac.compare_digest(found.id.encode(), user.encode()):
        raise service.refuse(401, "unauthorized", "missing or invalid camera credentials")
    return found.id


def _decode(decoder: VendorDecoder, body: bytes, content_type: str) -> Decoded:
    return decoder.decode(body, content_type)


async def _keep_images(
    request: Request, camera_id: str, decoded: Decoded, result: ReadBatchResult
) -> list[ImageOutcome]:
    """Keep the pictures of the reads now durable (stored or duplicate), one per read."""
    images: ImageService = request.app.state.node.images
    durable = {r.read_id for r in result.results if r.status in ("stored", "duplicate")}
    captured = {r.read_id: r for r in decoded.reads}
    kept: set[str] = set()
    out: list[ImageOutcome] = []
    for image in decoded.images:
        outcome = await _keep(images, camera_id, image, captured.get(image.read_id), durable, kept)
        out.append(outcome)
    return out


async def _keep(
    images: ImageService,
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
    captured_us = int(read.captured_at.timestamp() * 1_000_000)
    try:
        record, duplicate = await asyncio.to_thread(
            images.put,
            camera_id,
            image.read_id,
            captured_us,
            image.data,
            image.content_type,
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


@router.post(
    "/api/v1/ingest/{format}",
    summary="Ingest a camera's payload in its vendor's format",
    description=DESCRIPTION,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The payload exactly as the camera sends it (XML, JSON, multipart, "
            "CSV or JSON Lines, as the format defines).",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses=schema.responses(
        {
            200: (VendorBatchResult, "Payload taken; per-read outcome in `results`."),
            400: (ErrorOut, "`malformed_payload`: the payload does not decode; nothing stored."),
            401: (ErrorOut, "Missing or invalid camera credentials."),
            403: (ErrorOut, "`camera_mismatch` or `camera_inactive`."),
            404: (ErrorOut, "`unknown_format` (the message lists the formats)."),
            413: (ErrorOut, "`body_too_large` or `batch_too_large`."),
            422: (ReadBatchResult, "Every read was rejected; see `results`."),
            429: (ErrorOut, "`saturated`: the node is full, resend after `Retry-After`."),
            503: (ErrorOut, "`store_unavailable`: nothing stored, resend after `Retry-After`."),
        }
    ),
)
@camera()
async def ingest_vendor(format: str, request: Request) -> Response:
    service: IngestService = request.app.state.node.ingest
    reserved = 0
    try:
        camera_id = authenticate(service, request.headers.get("authorization"))
        decoder = decoder_for(format)
        if decoder is None:
            raise service.refuse(
                404, "unknown_format",
                f"unknown ingest format {format[:64]!r}; known: {', '.join(sorted(REGISTRY))}",
            )  # fmt: skip
        limit = decoder.config.max_bytes
        declared = request.headers.get("content-length")
        valid = declared is not None and declared.isascii() and declared.isdigit()
        reserved = service.reserve_body(int(declared) if valid and declared else None)
        if not reserved:
            raise service.saturated()
        body = await _read_body(request, limit)
        if body is None:
            raise service.refuse(413, "body_too_large", f"payload over {limit} bytes")
        content_type = request.headers.get("content-type", "")
        try:
            if len(body) > _OFF_LOOP_BYTES:
                decoded = await asyncio.to_thread(_decode, decoder, body, content_type)
            else:
                decoded = _decode(decoder, body, content_type)
        except DecodeError as exc:
            raise service.refuse(400, "malformed_payload", str(exc)) from None
        batch = ReadBatchIn(version=1, camera_id=camera_id, reads=list(decoded.reads))
        result = await service.ingest(camera_id, encode(batch))
    except IngestError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = REALM
        if exc.result is not None:
            return json_response(exc.result, exc.status, headers or None)
        return error_response(exc.status, exc.code, exc.message, headers or None)
    finally:
        if reserved:
            service.release_body(reserved)
    images = await _keep_images(request, camera_id, decoded, result) if decoded.images else []
    out = VendorBatchResult(
        version=result.version, camera_id=result.camera_id, stored=result.stored,
        duplicates=result.duplicates, rejected=result.rejected, results=result.results,
        format=format, backfilled=decoded.backfilled, images=images,
    )  # fmt: skip
    return json_response(out)
