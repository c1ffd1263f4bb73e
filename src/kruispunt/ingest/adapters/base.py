"""The base of every vendor ingest adapter: a decoder from a vendor's payload to native reads.

Errors, drawn once::

    DecodeError            the payload is refused as a whole, with a clear message
                           (too large, not parseable, hostile, missing a field, bad value)

A decoder returns every read of a payload or raises ``DecodeError``: never a partial result,
never another exception. The size limit is checked before any parsing.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import pydantic

from kruispunt.ingest.wire import ReadIn

MAX_READ_ID = 128


class DecodeError(ValueError):
    """A vendor payload that cannot be turned into reads; the message says why."""


@dataclass(frozen=True, slots=True)
class Image:
    """A picture that came with a read, for the image store."""

    read_id: str
    content_type: str
    data: bytes
    kind: str = "image"  # the vendor's name for it: plate crop, overview, ...


@dataclass(frozen=True, slots=True)
class Decoded:
    """All reads of one payload, the images that came with them, and whether they are a
    back-fill (a camera replaying its local buffer after an outage)."""

    reads: tuple[ReadIn, ...]
    images: tuple[Image, ...] = ()
    backfilled: bool = False


class AdapterConfig(pydantic.BaseModel):
    """Settings every adapter has; a vendor's config model extends this."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    camera_id: str | None = pydantic.Field(
        default=None,
        max_length=64,
        description="Set on every read, so validation checks it against the posting camera.",
    )
    max_bytes: int = pydantic.Field(
        default=8 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Payloads larger than this are refused before parsing.",
    )
    local_timezone: str = pydantic.Field(
        default="UTC",
        max_length=64,
        description="IANA zone for vendor timestamps that carry no UTC offset.",
    )

    @pydantic.field_validator("local_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class VendorDecoder(abc.ABC):
    """A small decoder: a type key, a config model, and ``decode``."""

    type_key: ClassVar[str]
    config_model: ClassVar[type[AdapterConfig]] = AdapterConfig

    def __init__(self, config: AdapterConfig | Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = self.config_model()
        elif not isinstance(config, AdapterConfig):
            config = self.config_model.model_validate(dict(config))
        self.config = config
        self.tz = ZoneInfo(config.local_timezone)

    def decode(self, payload: bytes, content_type: str = "") -> Decoded:
        """Every read in ``payload``, or ``DecodeError``."""
        if len(payload) > self.config.max_bytes:
            raise DecodeError(
                f"{self.type_key}: payload of {len(payload)} bytes exceeds the limit of "
                f"{self.config.max_bytes}"
            )
        try:
            return self._decode(payload, content_type)
        except DecodeError as exc:
            raise DecodeError(f"{self.type_key}: {exc}") from None
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise DecodeError(f"{self.type_key}: {exc}") from None
        except RecursionError:
            raise DecodeError(f"{self.type_key}: payload nested too deeply") from None
        except Exception as exc:  # a hostile payload must never crash the caller
            raise DecodeError(f"{self.type_key}: malformed payload ({exc!r:.200})") from None

    @abc.abstractmethod
    def _decode(self, payload: bytes, content_type: str) -> Decoded: ...

    # Helpers shared by the vendors --------------------------------------------------------

    def read(self, **fields: Any) -> ReadIn:
        """A ReadIn, type-checked like a native read (lengths, enums); ``None`` fields are
        left out and the configured camera id is set."""
        doc = {k: v for k, v in fields.items() if v is not None}
        if self.config.camera_id is not None:
            doc["camera_id"] = self.config.camera_id
        return msgspec.convert(doc, ReadIn, strict=False)

    def read_id(self, *parts: object) -> str:
        """A deterministic read id from the vendor's event id (or any stable parts)."""
        text = ":".join(str(p) for p in parts)
        rid = f"{self.type_key}:{text}"
        if len(rid) > MAX_READ_ID or not text.isprintable():
            return f"{self.type_key}:sha256:{hashlib.sha256(text.encode()).hexdigest()}"
        return rid

    def payload_id(self, payload: bytes) -> str:
        """A read id from the payload's hash, for vendors whose events carry no id."""
        return f"{self.type_key}:sha256:{hashlib.sha256(payload).hexdigest()}"

    def timestamp(self, text: str) -> dt.datetime:
        """An ISO 8601 time; one without an offset is in the configured local zone."""
        try:
            value = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise DecodeError(f"bad timestamp {text[:40]!r}") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
        return value

    def epoch(self, seconds: float) -> dt.datetime:
        """A UNIX time in seconds."""
        if not 0 < seconds < 32_503_680_000:  # before the year 3000
            raise DecodeError(f"epoch time out of range: {seconds!r}")
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def decode_rate(
    decoder: VendorDecoder, payload: bytes, seconds: float = 1.0, content_type: str = ""
) -> float:
    """Reads per second ``decoder`` turns ``payload`` into, measured for about ``seconds``."""
    n_reads = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        n_reads += len(decoder.decode(payload, content_type).reads)
        now = time.perf_counter()
        if now >= deadline:
            return n_reads / (now - start)
