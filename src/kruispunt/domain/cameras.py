"""Cameras: what a camera is, independent of where its description is stored."""

from __future__ import annotations

import enum
from typing import Any

import msgspec


class Purpose(enum.StrEnum):
    """What a camera's reads may be used for (purpose limitation starts here)."""

    POLICE = "police"
    LEZ = "lez"
    SECTION_CONTROL = "section_control"
    STATISTICS = "statistics"


class Mounting(enum.StrEnum):
    FIXED = "fixed"
    MOBILE = "mobile"


NATIVE_FORMAT = "native"


class CameraIngest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a camera sends its reads.

    ``format`` is ``native`` (the v1 batch of ``POST /api/v1/reads`` or the MQTT ``reads``
    topic) or the type key of an ingest adapter (``hikvision-isapi``, ``axis-lpv``, ...);
    ``settings`` are that adapter's own config fields (``local_timezone``, ``emit_on``, ...),
    checked against its config model when the camera is registered.
    """

    format: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class Camera(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ANPR camera as registered in the network.

    ``owner`` is the legal owner (a zone, municipality, the federal police, a city);
    ``manager`` is who runs it day to day and receives its health alarms.
    """

    id: str
    name: str
    owner: str
    manager: str
    zone_id: str
    municipality_nis: str | None = None
    lon: float
    lat: float
    bearing_deg: float | None = None
    road: str | None = None
    direction: str | None = None
    lanes: int = 1
    purposes: tuple[Purpose, ...] = (Purpose.POLICE,)
    vendor: str | None = None
    mounting: Mounting = Mounting.FIXED
    active: bool = True
    # None: the camera may post native batches and any vendor format with default settings.
    ingest: CameraIngest | None = None


CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


def validate_camera(camera: Camera, *, zone_ids: set[str]) -> list[str]:
    """Problems with a camera description; empty when it is fine."""
    import re

    problems: list[str] = []
    if not re.match(CAMERA_ID_PATTERN, camera.id):
        problems.append("id: 1-64 letters, digits or . _ : - (starting with a letter or digit)")
    if camera.zone_id not in zone_ids:
        problems.append(f"zone_id: unknown zone {camera.zone_id!r}")
    if not -180.0 <= camera.lon <= 180.0 or not -90.0 <= camera.lat <= 90.0:
        problems.append("position: lon/lat out of range")
    if camera.bearing_deg is not None and not 0.0 <= camera.bearing_deg < 360.0:
        problems.append("bearing_deg: must be in [0, 360)")
    if not 1 <= camera.lanes <= 16:
        problems.append("lanes: must be between 1 and 16")
    if not camera.purposes:
        problems.append("purposes: at least one purpose")
    if not camera.name.strip():
        problems.append("name: must not be empty")
    if camera.ingest is not None:
        # The adapters' config models are the one source of truth for their settings.
        from kruispunt.ingest.formats import setting_problems

        problems.extend(setting_problems(camera.ingest))
    return problems
