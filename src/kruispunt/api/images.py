"""Images API: cameras send the image of a read; people view it through the policy gate.

Thin handlers over ``ImageService``. A camera posts the raw image (``Content-Type:
image/jpeg`` or ``image/png``) with its own token, naming the read it belongs to and its
capture time in headers or query parameters. A person views an image with a purpose, a case
and a reason (every view and every refusal audited by the gate), and may link it to a case
so that it is kept longer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.policy import ROLE_PURPOSES
from kruispunt.access.principals import Role
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies, from_us, to_us
from kruispunt.api.errors import error_response, json_response, refuses
from kruispunt.api.guard import camera, people
from kruispunt.api.records import as_caller, node_of
from kruispunt.errors import Refused
from kruispunt.images.service import FORMATS, LINKERS, ImageRecord, ImageService
from kruispunt.ingest.service import IngestError, IngestService
from kruispunt.ingest.wire import ErrorOut

router = APIRouter(tags=["images"])

MAX_BODY = 65_536
_ORDER = list(Role)
_VIEWERS = sorted(ROLE_PURPOSES, key=_ORDER.index)
_LINKERS = sorted(LINKERS, key=_ORDER.index)
_BINARY = {"schema": {"type": "string", "format": "binary"}}

UPLOAD = """Send the image of one read (JPEG or PNG, the raw bytes as the body).

Authenticate with the camera's own token: `Authorization: Bearer <token>`. Name the read with
the header `X-Read-Id` (or the query parameter `read_id`) and its capture time with
`X-Captured-At` (or `captured_at`): ISO 8601 with a UTC offset, or microseconds since the
epoch. Resending the same image is harmless (200, `duplicate`); other bytes for a read that
has an image are refused (409).
"""


class ImageStored(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    duplicate: bool
    keep_until: Annotated[dt.datetime, msgspec.Meta(description="Gone from this moment on.")]


class ImageCaseIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    case: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ImageRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    camera_id: str
    read_id: str
    zone_id: str
    captured_at: dt.datetime
    content_type: str
    size: int
    sha256: str
    case: str | None
    keep_until: dt.datetime


SCHEMAS = (ImageStored, ImageCaseIn, ImageRead)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_bodies = JsonBodies(code="invalid_body", limit=MAX_BODY)
_AUTH = (ErrorOut, "No or unknown token")


def _image_read(service: ImageService, r: ImageRecord) -> ImageRead:
    return ImageRead(
        id=r.id, camera_id=r.camera_id, read_id=r.read_id, zone_id=r.zone_id,
        captured_at=from_us(r.captured_us), content_type=r.content_type, size=r.size,
        sha256=r.sha256, case=r.case, keep_until=from_us(r.keep_until_us(service.profile)),
    )  # fmt: skip


def captured_us(raw: str) -> int | None:
    """Microseconds since the epoch, or ISO 8601 with a UTC offset; None: neither."""
    text = raw.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return to_us(moment)


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/api/v1/images",
    summary="Send the image of a read (a camera's own token)",
    description=UPLOAD,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The image's bytes.",
            "content": {kind: _BINARY for kind in FORMATS},
        }
    },
    responses=schema.responses(
        {
            201: (ImageStored, "Stored"),
            200: (ImageStored, "Stored before (a resend)"),
            400: (
                ErrorOut,
                "`not_an_image`, `unsupported_type`, `bad_read_id`, "
                "`bad_capture_time`, `image_expired`",
            ),
            401: (ErrorOut, "Missing or unknown camera token"),
            403: (ErrorOut, "`camera_inactive`"),
            409: (ErrorOut, "`image_conflict`: the read has another image"),
            413: (ErrorOut, "`image_too_large`"),
        }
    ),
)
@camera()
@refuses(Refused)
async def upload_image(request: Request) -> Response:
    ingest: IngestService = request.app.state.node.ingest
    try:
        camera_id = ingest.authenticate(request.headers.get("authorization"))
    except IngestError as exc:
        return error_response(exc.status, exc.code, exc.message)
    service = node_of(request).images
    headers, params = request.headers, request.query_params
    read_id = headers.get("x-read-id") or params.get("read_id") or ""
    raw_time = headers.get("x-captured-at") or params.get("captured_at") or ""
    at = captured_us(raw_time)
    if at is None:
        return error_response(
            400, "bad_capture_time",
            "captured_at: ISO 8601 with a UTC offset, or microseconds since the epoch",
        )  # fmt: skip
    body = await _read_body(request, service.max_bytes)
    if body is None:
        return error_response(413, "image_too_large", f"at most {service.max_bytes} bytes")
    content_type = headers.get("content-type", "")
    record, duplicate = await asyncio.to_thread(
        service.put, camera_id, read_id, at, body, content_type
    )
    stored = ImageStored(
        id=record.id, duplicate=duplicate,
        keep_until=from_us(record.keep_until_us(service.profile)),
    )  # fmt: skip
    return json_response(stored, 200 if duplicate else 201)


def _image_responses() -> dict[int | str, dict[str, Any]]:
    out = schema.responses(
        {
            400: (ErrorOut, "`invalid_purpose`, `invalid_case`, `vague_reason` (audited)"),
            401: _AUTH,
            403: (ErrorOut, "`role_not_allowed`, `zone_not_visible`, `nothing_readable` (audited)"),
            404: (ErrorOut, "`unknown_image`, or past its life (gone for everyone)"),
        }
    )
    out[200] = {"description": "The image", "content": {kind: _BINARY for kind in FORMATS}}
    return out


@router.get(
    "/api/v1/images/{image_id}",
    summary="View an image (purpose, case and reason; through the policy gate; audited)",
    description="Query parameters `purpose`, `case` and `reason` are required; "
    "`approval_id` where a supervisor's approval is needed.",
    responses=_image_responses(),
)
@people(*_VIEWERS)
@refuses(Refused)
async def view_image(image_id: str, request: Request) -> Response:
    params = request.query_params
    service = node_of(request).images
    source = request.client.host if request.client else None
    _, view = await as_caller(
        request,
        lambda principal: service.view(
            image_id,
            principal,
            purpose=params.get("purpose", ""),
            case=params.get("case", ""),
            reason=params.get("reason", ""),
            source=source,
            approval_id=params.get("approval_id") or None,
        ),
    )
    return Response(
        view.data,
        media_type=view.image.content_type,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post(
    "/api/v1/images/{image_id}/case",
    summary="Link an image to a case: it is kept as long as the profile allows for cases",
    openapi_extra=schema.body(ImageCaseIn, description="The case and why (audited)."),
    responses=schema.responses(
        {
            200: (ImageRead, "Linked"),
            400: (ErrorOut, "`invalid_case`, `vague_reason`, `invalid_body`"),
            401: _AUTH,
            403: (ErrorOut, "The image's zone is not visible to the caller"),
            404: (ErrorOut, "`unknown_image`, or past its life"),
            409: (ErrorOut, "`image_conflict`: linked to another case"),
        }
    ),
)
@people(*_LINKERS)
@refuses(Refused)
async def link_image(image_id: str, request: Request) -> Response:
    raw = await request.body()
    if len(raw) > MAX_BODY:  # too large is a 413 here, not the 400 of a bad body
        return error_response(413, "body_too_large", "request body too large")
    body = _bodies.decode(raw, ImageCaseIn)
    service = node_of(request).images
    _, record = await as_caller(
        request,
        lambda principal: service.link_case(
            image_id, case=body.case, reason=body.reason, principal=principal
        ),
    )
    return json_response(_image_read(service, record))
