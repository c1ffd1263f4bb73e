"""Exports of a plate search: CSV, GeoJSON and an evidence package (pure over reads).

The evidence package is a zip with one folder per read (``reads/<seq>/``): ``read.json`` (the
read as stored), ``camera.json`` (the camera as registered), the image when the node keeps
one, and ``manifest.json`` naming each of those files with its SHA-256, the case and the
access decision under which it was exported. A top-level ``manifest.json`` lists every file
of the package with its SHA-256, so a court can check that nothing was changed since.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from kruispunt.domain.cameras import Camera
from kruispunt.domain.reads import Read
from kruispunt.search.models import iso

CSV_COLUMNS = (
    "seq", "read_id", "captured_at", "camera_id", "camera_name", "zone_id", "lat", "lon",
    "plate", "plate_raw", "country", "confidence", "direction", "lane", "vehicle_class",
    "make", "colour", "match", "has_image",
)  # fmt: skip
_json = msgspec.json.Encoder(order="sorted")
ImageOf = Callable[[Read], tuple[str, bytes] | None]
"""A read's image as (file name, bytes), or None."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _row(r: Read, camera: Camera | None, match: str) -> list[Any]:
    return [
        r.seq, r.read_id, iso(r.captured_us), r.camera_id, camera.name if camera else "",
        r.zone_id, camera.lat if camera else "", camera.lon if camera else "", r.plate,
        r.plate_raw, r.country or "", r.confidence, r.direction or "",
        "" if r.lane is None else r.lane, r.vehicle_class or "", r.make or "", r.colour or "",
        match, r.image_ref is not None,
    ]  # fmt: skip


def to_csv(
    reads: Sequence[Read], cameras: Mapping[str, Camera], match: Callable[[str], str]
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in reads:
        writer.writerow(_row(r, cameras.get(r.camera_id), match(r.plate)))
    return out.getvalue().encode("utf-8")


def to_geojson(
    reads: Sequence[Read],
    cameras: Mapping[str, Camera],
    match: Callable[[str], str],
    decision: Mapping[str, Any],
) -> bytes:
    """A FeatureCollection of points at the cameras (a read of a camera without a known
    position has no geometry), oldest first, with the access decision beside it."""
    features = []
    for r in reads:
        camera = cameras.get(r.camera_id)
        props = dict(zip(CSV_COLUMNS, _row(r, camera, match(r.plate)), strict=True))
        features.append(
            {
                "type": "Feature",
                "geometry": None
                if camera is None
                else {"type": "Point", "coordinates": [camera.lon, camera.lat]},
                "properties": props,
            }
        )
    doc = {"type": "FeatureCollection", "features": features, "kruispunt": {"decision": decision}}
    return msgspec.json.encode(doc)


def evidence_zip(
    reads: Sequence[Read],
    cameras: Mapping[str, Camera],
    *,
    decision: Mapping[str, Any],
    context: Mapping[str, Any],
    image_of: ImageOf,
) -> tuple[bytes, int]:
    """The evidence package of ``reads`` and how many images it holds."""
    files: dict[str, str] = {}
    buffer = io.BytesIO()
    images = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:

        def put(path: str, data: bytes) -> str:
            z.writestr(path, data)
            files[path] = digest = sha256(data)
            return digest

        for r in reads:
            folder = f"reads/{r.seq}"
            camera = cameras.get(r.camera_id)
            own = {
                "read.json": put(f"{folder}/read.json", _json.encode(read_doc(r))),
                "camera.json": put(f"{folder}/camera.json", _json.encode(camera)),
            }
            image = image_of(r)
            if image is not None:
                name, data = image
                own[f"image{_suffix(name)}"] = put(f"{folder}/image{_suffix(name)}", data)
                images += 1
            manifest = {
                "read": read_doc(r), "camera": msgspec.to_builtins(camera),
                "files": own, "decision": decision, **context,
            }  # fmt: skip
            put(f"{folder}/manifest.json", _json.encode(manifest))
        top = {"files": files, "reads": [r.seq for r in reads], "images": images,
               "decision": decision, **context}  # fmt: skip
        z.writestr("manifest.json", _json.encode(top))
    return buffer.getvalue(), images


def read_doc(r: Read) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.structs.asdict(r)
    doc["captured_at"] = iso(r.captured_us)
    doc["received_at"] = iso(r.received_us)
    return doc


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > 0 and len(name) - dot <= 5 else ".bin"
