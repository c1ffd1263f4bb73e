"""Ingest adapters: decoders from vendors' payloads to native reads (``ReadIn``).

Each adapter is a ``VendorDecoder`` subclass with a ``type_key`` and a config model;
``REGISTRY`` maps the type key to the class and ``build`` makes one from its config.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
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


# One documented payload per format, shipped with the package (``samples/``, with the
# documents they follow in SOURCES.md): the tests' fixtures, the bench's input, and an example
# for whoever points a camera at the node. Type key -> (file, content type).
SAMPLES: dict[str, tuple[str, str]] = {
    "onvif-profile-m": ("onvif_scene.xml", "application/xml"),
    "hikvision-isapi": ("hikvision_anpr.xml", "application/xml"),
    "axis-lpv": ("axis_lpv.json", "application/json"),
    "openalpr": ("openalpr_group.json", "application/json"),
    "platerecognizer": ("platerecognizer_stream.json", "application/json"),
    "frigate": ("frigate_end.json", "application/json"),
    "replay": ("replay.jsonl", "application/x-ndjson"),
}


def sample(type_key: str) -> tuple[bytes, str]:
    """The documented sample payload of a format and its content type."""
    name, content_type = SAMPLES[type_key]
    return (resources.files(__name__) / "samples" / name).read_bytes(), content_type


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
    "SAMPLES",
    "AdapterConfig",
    "DecodeError",
    "Decoded",
    "Image",
    "VendorDecoder",
    "build",
    "decode_rate",
    "sample",
]
