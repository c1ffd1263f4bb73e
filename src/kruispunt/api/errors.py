"""One error shape for every refusal: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from kruispunt.errors import Refused
from kruispunt.ingest.wire import ErrorBody, ErrorOut

_encoder = msgspec.json.Encoder()


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _encoder.encode(obj), status_code=status, media_type="application/json", headers=headers
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return json_response(ErrorOut(error=ErrorBody(code=code, message=message)), status, headers)


def refusal_response(exc: Refused) -> Response:
    """A domain refusal as the one error shape, with the status its class says."""
    return error_response(exc.status, exc.code, exc.message)
