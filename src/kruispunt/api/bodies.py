"""JSON bodies decoded with msgspec, and the times they carry.

A router says once how it reads its bodies (``JsonBodies``: the most bytes, the code of a
refusal); a body too large or not the JSON asked for is a ``RequestRefused`` (400 with that
code), answered by the route's ``refuses`` like any other refusal. Times travel as ISO 8601
with a UTC offset and are microseconds since the epoch inside.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec
from starlette.requests import Request

from kruispunt.api.errors import RequestRefused

T = TypeVar("T")

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
Time = Annotated[dt.datetime, msgspec.Meta(tz=True, description="ISO 8601 with a UTC offset.")]


def to_us(moment: dt.datetime) -> int:
    """Microseconds since the epoch."""
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def opt_us(moment: dt.datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def from_us(us: int) -> dt.datetime:
    """The UTC moment of microseconds since the epoch."""
    return EPOCH + dt.timedelta(microseconds=us)


def opt_from_us(us: int | None) -> dt.datetime | None:
    return None if us is None else from_us(us)


@dataclass(frozen=True, slots=True)
class JsonBodies:
    """How a router reads its JSON bodies: at most ``limit`` bytes (``too_large`` says so),
    a body it cannot read refused with ``code``."""

    code: str
    limit: int
    too_large: str = "request body too large"

    async def read(self, request: Request, kind: type[T], *, empty: T | None = None) -> T:
        """The request's body as ``kind``; an empty body is ``empty`` where one is given."""
        return self.decode(await request.body(), kind, empty=empty)

    def decode(self, raw: bytes, kind: type[T], *, empty: T | None = None) -> T:
        if len(raw) > self.limit:
            raise RequestRefused(self.too_large, self.code)
        if empty is not None and not raw.strip():
            return empty
        try:
            result: T = _decoder(kind).decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise RequestRefused(str(exc), self.code) from None
        return result


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    """One decoder per body type, made on first use."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder
