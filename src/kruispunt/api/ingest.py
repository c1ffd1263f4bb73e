"""POST /api/v1/reads: the native camera endpoint (a thin handler; IngestService works)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response
from kruispunt.api.guard import camera
from kruispunt.ingest.service import IngestError, IngestService
from kruispunt.ingest.wire import ErrorOut, ReadBatchIn, ReadBatchResult

router = APIRouter(tags=["ingest"])

DESCRIPTION = """Send a batch of reads of one camera (native format, version 1).

Authenticate with the camera's own token: `Authorization: Bearer <token>`.
Each read is either **stored**, a **duplicate** (already stored under the same `read_id`:
resending is harmless), or **rejected** with a machine-readable `reason`. The answer comes only
after the stored reads are durably committed. A batch refused as a whole (4xx/5xx) stored
nothing. On 429 or 503, wait `Retry-After` seconds and resend the same batch.
"""


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
    "/api/v1/reads",
    summary="Ingest a batch of plate reads",
    description=DESCRIPTION,
    openapi_extra=schema.body(ReadBatchIn, description="A batch of reads from one camera."),
    responses=schema.responses(
        {
            200: (ReadBatchResult, "Batch taken; per-read outcome in `results`."),
            400: (ErrorOut, "Malformed JSON or a wrongly typed field (`malformed_batch`)."),
            401: (ErrorOut, "Missing or unknown camera token."),
            403: (ErrorOut, "`camera_mismatch` or `camera_inactive`."),
            404: (ErrorOut, "`unknown_camera`."),
            413: (ErrorOut, "`body_too_large` or `batch_too_large`."),
            422: (ReadBatchResult, "Every read was rejected; see `results`."),
            429: (ErrorOut, "`saturated`: the node is full, resend after `Retry-After`."),
            503: (ErrorOut, "`store_unavailable`: nothing stored, resend after `Retry-After`."),
        }
    ),
)
@camera()
async def ingest_reads(request: Request) -> Response:
    service: IngestService = request.app.state.node.ingest
    reserved = 0
    try:
        camera_id = service.authenticate(request.headers.get("authorization"))
        declared = request.headers.get("content-length")
        valid = declared is not None and declared.isascii() and declared.isdigit()
        reserved = service.reserve_body(int(declared) if valid and declared else None)
        if not reserved:
            raise service.saturated()
        body = await _read_body(request, service.config.max_body_bytes)
        if body is None:
            raise service.refuse(413, "body_too_large", "request body too large")
        result = await service.ingest(camera_id, body)
    except IngestError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        if exc.result is not None:
            return json_response(exc.result, exc.status, headers)
        return error_response(exc.status, exc.code, exc.message, headers)
    finally:
        if reserved:
            service.release_body(reserved)
    return json_response(result)
