"""Camera registry files: GeoJSON (``.geojson``/``.json``) and CSV.

GeoJSON: a FeatureCollection of Point features; ``properties`` hold the ``Camera`` fields
except ``lon``/``lat``, which come from the geometry. ``purposes`` is a list or a string
separated by ``,`` or ``;``.

CSV: a header row with ``Camera`` field names (``lon`` and ``lat`` as columns); ``purposes``
separated by ``;``; an empty cell means "not set" (the field's default).

``ingest`` (how the camera sends its reads, see ``CameraIngest``) is, in both kinds of file,
either a format name (``hikvision-isapi``: its default settings) or an object
``{"format": "axis-lpv", "settings": {"local_timezone": "Europe/Brussels"}}`` (in a CSV cell,
that object as JSON).

A file is loaded whole or not at all: every problem found, with its location (CSV line or
feature index, and camera id), is reported in one ``CameraFileError``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from kruispunt.domain.cameras import Camera, CameraIngest, validate_camera
from kruispunt.domain.zones import network_zones

FIELDS: tuple[str, ...] = Camera.__struct_fields__
REQUIRED: tuple[str, ...] = ("id", "name", "owner", "manager", "zone_id", "lon", "lat")
_FLOAT_FIELDS = {"lon", "lat", "bearing_deg"}
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}


class CameraFileError(ValueError):
    """A camera file that cannot be loaded; ``problems`` lists every problem found."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{self.path}: {len(self.problems)} problem(s):\n{lines}")


def load_cameras(path: Path, *, zone_ids: set[str] | None = None) -> list[Camera]:
    """Cameras of a registry file, validated; raises ``CameraFileError``."""
    path = Path(path)
    zones = {z.id for z in network_zones()} if zone_ids is None else zone_ids
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CameraFileError(path, [f"cannot read file: {exc}"]) from exc
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        rows, problems = _geojson_rows(text)
    elif suffix == ".csv":
        rows, problems = _csv_rows(text)
    else:
        raise CameraFileError(path, [f"unsupported file type {suffix!r}: use .geojson or .csv"])
    cameras = _build(rows, zones, problems)
    if problems:
        raise CameraFileError(path, problems)
    return cameras


Row = tuple[str, dict[str, Any]]  # (location, camera fields)


def _build(rows: list[Row], zones: set[str], problems: list[str]) -> list[Camera]:
    cameras: list[Camera] = []
    first_seen: dict[str, str] = {}
    for where, fields in rows:
        ident = fields.get("id")
        at = f"{where} (id {ident!r})" if isinstance(ident, str) else where
        try:
            camera = msgspec.convert(fields, Camera)
        except msgspec.ValidationError as exc:
            problems.append(f"{at}: {exc}")
            continue
        problems.extend(f"{at}: {p}" for p in validate_camera(camera, zone_ids=zones))
        if camera.id in first_seen:
            problems.append(f"{at}: duplicate id, first at {first_seen[camera.id]}")
        else:
            first_seen[camera.id] = where
        cameras.append(camera)
    return cameras


def _split_purposes(value: str, separators: str) -> list[str]:
    for sep in separators[1:]:
        value = value.replace(sep, separators[0])
    return [p.strip() for p in value.split(separators[0]) if p.strip()]


# --- GeoJSON ----------------------------------------------------------------------------------


def _geojson_rows(text: str) -> tuple[list[Row], list[str]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"]
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        return [], ["top level: expected a GeoJSON FeatureCollection"]
    features = doc.get("features")
    if not isinstance(features, list):
        return [], ["features: expected a list"]
    rows: list[Row] = []
    problems: list[str] = []
    for i, feature in enumerate(features):
        where = f"feature {i}"
        fields, errors = _feature_fields(feature)
        problems.extend(f"{_at(where, fields)}: {e}" for _, e in errors)
        if not any(name in REQUIRED for name, _ in errors):
            rows.append((where, fields))
    return rows, problems


def _at(where: str, fields: Mapping[str, Any]) -> str:
    ident = fields.get("id")
    return f"{where} (id {ident!r})" if isinstance(ident, str) else where


FieldError = tuple[str, str]  # (field name, message)


def _feature_fields(feature: Any) -> tuple[dict[str, Any], list[FieldError]]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return {}, [("id", "expected a GeoJSON Feature")]
    props = feature.get("properties")
    if not isinstance(props, dict):
        return {}, [("id", "properties: expected an object")]
    fields: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in props.items():
        if key in ("lon", "lat"):
            errors.append((key, f"properties.{key}: the position comes from the geometry"))
        elif key not in FIELDS:
            errors.append((key, f"properties.{key}: unknown field"))
        else:
            fields[key] = value
    geometry = feature.get("geometry")
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (
        not isinstance(geometry, dict)
        or geometry.get("type") != "Point"
        or not isinstance(coords, list)
        or len(coords) < 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])
    ):
        errors.append(("lon", "geometry: expected a Point with numeric [lon, lat]"))
    else:
        fields["lon"], fields["lat"] = float(coords[0]), float(coords[1])
    if isinstance(fields.get("purposes"), str):
        fields["purposes"] = _split_purposes(fields["purposes"], ",;")
    if isinstance(fields.get("ingest"), str):
        try:
            fields["ingest"] = _ingest_value(fields["ingest"])
        except ValueError as exc:
            del fields["ingest"]
            errors.append(("ingest", f"properties.ingest: {exc}"))
    return fields, errors


def _ingest_value(value: str) -> Any:
    """A format name, or the whole setting as a JSON object."""
    value = value.strip()
    if not value.startswith("{"):
        return {"format": value}
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at column {exc.colno}: {exc.msg}") from None


def dump_cameras_geojson(cameras: Iterable[Camera]) -> str:
    features = []
    for camera in cameras:
        props = msgspec.to_builtins(camera)
        lon, lat = props.pop("lon"), props.pop("lat")
        if props.get("ingest") is None:
            props.pop("ingest", None)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": props,
            }
        )
    doc = {"type": "FeatureCollection", "features": features}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


# --- CSV ------------------------------------------------------------------------------------


def _csv_rows(text: str) -> tuple[list[Row], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], ["line 1: empty file, expected a header row"]
    except csv.Error as exc:
        return [], [f"line 1: {exc}"]
    header = [h.strip() for h in header]
    problems = [f"line 1: missing column {c!r}" for c in REQUIRED if c not in header]
    problems += [f"line 1: unknown column {c!r}" for c in header if c not in FIELDS]
    if problems:
        return [], problems
    rows: list[Row] = []
    try:
        for cells in reader:
            where = f"line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                problems.append(f"{where}: {len(cells)} cells, expected {len(header)}")
                continue
            fields, errors = _csv_fields(dict(zip(header, cells, strict=True)))
            problems.extend(f"{_at(where, fields)}: {e}" for _, e in errors)
            if not any(name in REQUIRED for name, _ in errors):
                rows.append((where, fields))
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: {exc}")
    return rows, problems


def _csv_fields(cells: Mapping[str, str]) -> tuple[dict[str, Any], list[FieldError]]:
    fields: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, raw in cells.items():
        value = raw.strip()
        if not value:
            if name in REQUIRED:
                errors.append((name, f"{name}: required"))
            continue
        try:
            fields[name] = _csv_value(name, value)
        except ValueError as exc:
            errors.append((name, f"{name}: {exc}"))
    return fields, errors


def _csv_value(name: str, value: str) -> Any:
    if name in _FLOAT_FIELDS:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
    if name == "lanes":
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"not a whole number: {value!r}") from None
    if name == "active":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ValueError(f"not true/false: {value!r}")
    if name == "purposes":
        return _split_purposes(value, ";")
    if name == "ingest":
        return _ingest_value(value)
    return value


def dump_cameras_csv(cameras: Iterable[Camera]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for camera in cameras:
        writer.writerow([_csv_cell(getattr(camera, f)) for f in FIELDS])
    return out.getvalue()


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, CameraIngest):
        if not value.settings:
            return value.format
        return msgspec.json.encode(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)
