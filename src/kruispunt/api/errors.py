"""One error shape for every refusal: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import msgspec
from starlette.responses import Response

from kruispunt.access.auth import AuthError
from kruispunt.errors import Refused
from kruispunt.ingest.wire import ErrorBody, ErrorOut

_encoder = msgspec.json.Encoder()

H = TypeVar("H", bound=Callable[..., Awaitable[Response]])


class RequestRefused(Refused):
    """The API's own refusal of a request before any service sees it: a body too large or
    not the JSON asked for, a query parameter out of bounds. ``code`` is the route's own."""

    def __init__(self, message: str, code: str, *, status: int = 400):
        super().__init__(message, code)
        self.status = status


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


def refuses(*refused: type[Refused]) -> Callable[[H], H]:
    """The route answers these domain refusals, its own ``RequestRefused`` and a caller that
    is not signed in (``AuthError``) as the one error shape; anything else goes on up.

    Put it under the route's guard: the guard still runs first."""
    answered: tuple[type[Refused], ...] = (RequestRefused, *refused)

    def wrap(handler: H) -> H:
        @functools.wraps(handler)
        async def answering(*args: Any, **kwargs: Any) -> Response:
            try:
                return await handler(*args, **kwargs)
            except AuthError as exc:
                return error_response(exc.status, exc.code, exc.message)
            except answered as exc:
                return refusal_response(exc)

        return cast(H, answering)

    return wrap
