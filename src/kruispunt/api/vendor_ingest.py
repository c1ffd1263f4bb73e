"""POST /api/v1/ingest/{format}: a camera's own payload format, decoded by its adapter.

A camera that speaks a vendor format (Hikvision ISAPI, Axis, ONVIF, OpenALPR, ...) is pointed
at ``/api/v1/ingest/<format>`` with its own credentials: its token as a bearer token, or HTTP
Basic auth with the camera id as user name and the token as password (for cameras that can
send nothing else). The body is decoded by the camera's decoder for that format (built
from the format and settings the camera is registered with, ``Camera.ingest``; the rules are
in ``ingest/formats.py``) and the reads go through the same path as a native batch of that
camera (``ingest/vendor.py``, shared with the MQTT ``ingest/{format}`` topics).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response
from kruispunt.api.guard import camera
from kruispunt.api.ingest import _read_body
from kruispunt.ingest import vendor
from kruispunt.ingest.adapters import REGISTRY
from kruispunt.ingest.service import IngestError, IngestService
from kruispunt.ingest.vendor import ImageOutcome, VendorBatchResult
from kruispunt.ingest.wire import ErrorOut, ReadBatchResult
from kruispunt.node import Node

router = APIRouter(tags=["ingest"])

REALM = 'Basic realm="kruispunt camera ingest", charset="UTF-8"'

DESCRIPTION = f"""Send one payload of a camera in its vendor's format: `format` is one of
{", ".join(f"`{k}`" for k in sorted(REGISTRY))}.

Authenticate with the camera's own token, as `Authorization: Bearer <token>` or as HTTP Basic
auth with the camera id as user name and the token as password. The payload is decoded by the
camera's decoder for the format (with the settings the camera is registered with) and its
reads are ingested as one batch of that camera, exactly like `POST /api/v1/reads` (same
per-read outcome, same durable acknowledgement, same 429/503 with `Retry-After`); resending a
payload is harmless. A payload that does not decode is refused with 400 (`malformed_payload`)
and nothing is stored. A camera registered for one format (its `ingest.format`) may send that
format and `replay` only (403 `wrong_format` otherwise); a camera registered without one may
send every format with its default settings. Reads of a back-fill (`replay`, a Hikvision
retransmission) are marked `backfilled`: hits raised from them are late. Pictures that came
with the reads are kept in the image store after the reads are durable; `images` says what
became of each (one picture per read is kept; a refused picture does not fail the reads).
"""

__all__ = ["ImageOutcome", "VendorBatchResult", "authenticate", "router"]


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
            403: (
                ErrorOut,
                "`wrong_format` (the camera is registered for another format), "
                "`ingest_misconfigured` (its registered settings no longer validate), "
                "`camera_mismatch` or `camera_inactive`.",
            ),
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
    node: Node = request.app.state.node
    service = node.ingest
    reserved = 0
    try:
        camera_id = authenticate(service, request.headers.get("authorization"))
        decoder = vendor.decoder_for(service, camera_id, format)
        limit = decoder.config.max_bytes
        declared = request.headers.get("content-length")
        valid = declared is not None and declared.isascii() and declared.isdigit()
        reserved = service.reserve_body(int(declared) if valid and declared else None)
        if not reserved:
            raise service.saturated()
        body = await _read_body(request, limit)
        if body is None:
            raise service.refuse(413, "body_too_large", f"payload over {limit} bytes")
        decoded = await vendor.decode(decoder, body, request.headers.get("content-type", ""))
        out = await vendor.ingest(service, node.images, camera_id, format, decoded)
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
    return json_response(out)
