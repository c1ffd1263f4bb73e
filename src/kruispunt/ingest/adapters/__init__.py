"""Ingest adapters: decoders from vendors' payloads to native reads (``ReadIn``).

Each adapter is a ``VendorDecoder`` subclass with a ``type_key`` and a config model;
``REGISTRY`` maps the type key to the class and ``build`` makes one from its config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kruispunt.ingest.adapters.axis import AxisDecoder
from kruispunt.ingest.adapters.base import (
    AdapterConfig,
    Decoded,
    DecodeError,
    Image,
    VendorDecoder,
    decode_rate,
)
from kruispunt.ingest.adapters.frigate import FrigateDecoder
from kruispunt.ingest.adapters.hikvision import HikvisionDecoder
from kruispunt.ingest.adapters.onvif import OnvifDecoder
from kruispunt.ingest.adapters.openalpr import OpenAlprDecoder
from kruispunt.ingest.adapters.platerecognizer import PlateRecognizerDecoder
from kruispunt.ingest.adapters.replay import ReplayDecoder

REGISTRY: dict[str, type[VendorDecoder]] = {
    cls.type_key: cls
    for cls in (
        OnvifDecoder,
        HikvisionDecoder,
        AxisDecoder,
        OpenAlprDecoder,
        PlateRecognizerDecoder,
        FrigateDecoder,
        ReplayDecoder,
    )
}


def build(type_key: str, config: Mapping[str, Any] | None = None) -> VendorDecoder:
    """A decoder for ``type_key``; raises ``KeyError`` for an unknown key and
    ``pydantic.ValidationError`` for a bad config."""
    try:
        cls = REGISTRY[type_key]
    except KeyError:
        raise KeyError(f"unknown ingest adapter {type_key!r}; known: {sorted(REGISTRY)}") from None
    return cls(config)


__all__ = [
    "REGISTRY",
    "AdapterConfig",
    "DecodeError",
    "Decoded",
    "Image",
    "VendorDecoder",
    "build",
    "decode_rate",
]
