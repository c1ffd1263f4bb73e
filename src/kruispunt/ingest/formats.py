"""Which decoder a camera's vendor payloads go through: the format and settings it is
registered with (``Camera.ingest``), checked at registration and built once per camera.

The rules, in one place:

- a camera with no ingest setting may use every vendor format, each with its default
  settings (cameras registered before per-camera formats keep working);
- a camera registered for a vendor format may use that format, with its settings, and
  ``replay`` (back-filling its own buffer from a file of native reads, default settings);
  any other format is refused (``403 wrong_format``). A camera registered ``native`` may use
  ``replay`` only;
- the native paths (``POST /api/v1/reads``, the MQTT ``reads`` topic) stay open to every
  camera: the native format is the node's own and strictly validated;
- settings cannot name a camera: a payload is always the authenticated camera's, and a read
  that names another camera (a replay file of the wrong camera) is rejected per read
  (``camera_mismatch``), never relabelled.
"""

from __future__ import annotations

import threading
from typing import Any

import pydantic

from kruispunt.domain.cameras import NATIVE_FORMAT, Camera, CameraIngest
from kruispunt.ingest.adapters import REGISTRY, VendorDecoder, build

REPLAY = "replay"
MAX_CACHED = 10_000  # decoders (camera x format); beyond it the cache starts again


class FormatRefused(Exception):
    """A camera may not send ``format``; ``status``/``code`` for the answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def known_formats() -> list[str]:
    return sorted([NATIVE_FORMAT, *REGISTRY])


def setting_problems(ingest: CameraIngest) -> list[str]:
    """Problems with a camera's ingest setting (each prefixed with its path); empty if fine."""
    fmt = ingest.format
    if fmt == NATIVE_FORMAT:
        return ["ingest.settings: the native format has no settings"] if ingest.settings else []
    cls = REGISTRY.get(fmt)
    if cls is None:
        return [f"ingest.format: unknown format {fmt[:64]!r}; known: {', '.join(known_formats())}"]
    problems: list[str] = []
    settings = dict(ingest.settings)
    if "camera_id" in settings:
        del settings["camera_id"]
        problems.append("ingest.settings.camera_id: not a setting (reads are the camera's own)")
    try:
        cls.config_model.model_validate(settings)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            where = "".join(f".{part}" for part in err["loc"])
            problems.append(f"ingest.settings{where}: {err['msg']}")
    return problems


def describe_formats() -> str:
    """Every format and its settings (name, default, description), for operators."""
    lines = [f"{NATIVE_FORMAT}\n    (no settings) the v1 batch: POST /api/v1/reads, MQTT .../reads"]
    for key in sorted(REGISTRY):
        lines.append(key)
        for name, field in REGISTRY[key].config_model.model_fields.items():
            if name == "camera_id":
                continue
            default = field.get_default(call_default_factory=True)
            lines.append(f"    {name} = {default!r}: {field.description or ''}".rstrip(": "))
    return "\n".join(lines) + "\n"


def refusal(camera: Camera, fmt: str) -> FormatRefused | None:
    """Why ``camera`` may not send ``fmt`` (unknown or not its format), or None."""
    if fmt not in REGISTRY:
        return FormatRefused(
            404, "unknown_format",
            f"unknown ingest format {fmt[:64]!r}; known: {', '.join(sorted(REGISTRY))}",
        )  # fmt: skip
    registered = camera.ingest.format if camera.ingest is not None else None
    if registered is None or fmt in (registered, REPLAY):
        return None
    where = "POST /api/v1/reads" if registered == NATIVE_FORMAT else f"/api/v1/ingest/{registered}"
    return FormatRefused(
        403, "wrong_format",
        f"camera {camera.id} is registered for the {registered!r} format ({where}), "
        f"not {fmt[:64]!r}",
    )  # fmt: skip


def decoder_settings(camera: Camera, fmt: str) -> dict[str, Any]:
    """The config the camera's decoder for ``fmt`` is built with."""
    if camera.ingest is None or camera.ingest.format != fmt:
        return {}
    return dict(camera.ingest.settings)


class DecoderCache:
    """Decoders by (camera, format), built from the camera's settings on first use and built
    again when its ingest setting changed: the setting is compared on every look-up, so a
    change made through another node process counts as soon as the registry holds it.
    Decoders keep no state between payloads; the cache is safe to share between threads."""

    def __init__(self, max_entries: int = MAX_CACHED) -> None:
        self._max = max_entries
        self._decoders: dict[tuple[str, str], tuple[CameraIngest | None, VendorDecoder]] = {}
        self._lock = threading.Lock()

    def get(self, camera: Camera, fmt: str) -> VendorDecoder:
        """The decoder for ``camera``'s payloads in ``fmt``; raises ``FormatRefused``."""
        refused = refusal(camera, fmt)
        if refused is not None:
            raise refused
        key = (camera.id, fmt)
        cached = self._decoders.get(key)
        if cached is not None and cached[0] == camera.ingest:
            return cached[1]
        try:
            decoder = build(fmt, decoder_settings(camera, fmt))
        except pydantic.ValidationError as exc:  # registered before a stricter adapter
            raise FormatRefused(
                403, "ingest_misconfigured",
                f"camera {camera.id}: its {fmt!r} settings are no longer valid "
                f"({exc.error_count()} problem(s)); fix them in the camera registry",
            ) from None  # fmt: skip
        with self._lock:
            if len(self._decoders) >= self._max:
                self._decoders.clear()
            self._decoders[key] = (camera.ingest, decoder)
        return decoder

    def __len__(self) -> int:
        return len(self._decoders)
