"""Camera registry API: anyone on the node may look; only an admin may change."""

from __future__ import annotations

import asyncio
import hmac
import tempfile
from pathlib import Path

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response
from kruispunt.api.guard import admin, public
from kruispunt.domain.cameras import Camera
from kruispunt.ingest.wire import ErrorOut
from kruispunt.node import Node
from kruispunt.registry import CameraInvalid

router = APIRouter(tags=["cameras"])


class CameraRead(msgspec.Struct, frozen=True, kw_only=True):
    camera: Camera
    has_token: bool


class CameraToken(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    token: str


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    imported: int
    camera_ids: list[str]


_camera_decoder = msgspec.json.Decoder(Camera)


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _admin_refusal(request: Request) -> Response | None:
    expected = _node(request).config.server.admin_token
    if not expected:
        return error_response(403, "admin_disabled", "no admin token is configured on this node")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        return error_response(401, "unauthorized", "admin token required")
    return None


@router.get("/api/v1/cameras", responses=schema.responses({200: (list[CameraRead], "All cameras")}))
@public("camera positions and purposes are published (Camera Act register); no read, no plate")
async def list_cameras(request: Request) -> Response:
    node = _node(request)
    return json_response(
        [CameraRead(camera=c, has_token=node.registry.has_token(c.id)) for c in node.registry.all()]
    )


@router.get(
    "/api/v1/cameras/{camera_id}",
    responses=schema.responses({200: (CameraRead, "The camera"), 404: (ErrorOut, "Unknown")}),
)
@public("one camera of the published register; no read, no plate")
async def get_camera(camera_id: str, request: Request) -> Response:
    node = _node(request)
    camera = node.registry.get(camera_id)
    if camera is None:
        return error_response(404, "unknown_camera", f"no camera {camera_id!r}")
    return json_response(CameraRead(camera=camera, has_token=node.registry.has_token(camera_id)))


@router.put(
    "/api/v1/cameras/{camera_id}",
    summary="Create or replace a camera (admin)",
    openapi_extra=schema.body(Camera, description="The camera; its id must match the path."),
    responses=schema.responses(
        {200: (CameraRead, "Saved"), 400: (ErrorOut, "Invalid camera"), 401: (ErrorOut, "")}
    ),
)
@admin()
async def put_camera(camera_id: str, request: Request) -> Response:
    if (refusal := _admin_refusal(request)) is not None:
        return refusal
    try:
        camera = _camera_decoder.decode(await request.body())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return error_response(400, "invalid_camera", str(exc))
    if camera.id != camera_id:
        return error_response(400, "invalid_camera", "id in the body differs from the path")
    node = _node(request)
    try:
        await asyncio.to_thread(node.save_camera, camera)
    except CameraInvalid as exc:
        return error_response(400, "invalid_camera", str(exc))
    return json_response(CameraRead(camera=camera, has_token=node.registry.has_token(camera_id)))


@router.delete(
    "/api/v1/cameras/{camera_id}",
    summary="Remove a camera (admin); its token stops working, its reads stay until retention",
    status_code=204,
)
@admin()
async def delete_camera(camera_id: str, request: Request) -> Response:
    if (refusal := _admin_refusal(request)) is not None:
        return refusal
    if not await asyncio.to_thread(_node(request).delete_camera, camera_id):
        return error_response(404, "unknown_camera", f"no camera {camera_id!r}")
    return Response(status_code=204)


@router.post(
    "/api/v1/cameras/{camera_id}/token",
    summary="Issue a new token for a camera (admin); shown once, the old one stops working",
    responses=schema.responses({200: (CameraToken, "The new token")}),
)
@admin()
async def issue_token(camera_id: str, request: Request) -> Response:
    if (refusal := _admin_refusal(request)) is not None:
        return refusal
    try:
        token = await asyncio.to_thread(_node(request).issue_token, camera_id)
    except KeyError:
        return error_response(404, "unknown_camera", f"no camera {camera_id!r}")
    return json_response(CameraToken(camera_id=camera_id, token=token))


@router.post(
    "/api/v1/cameras/import",
    summary="Import cameras from GeoJSON or CSV (admin); all or nothing",
    responses=schema.responses(
        {200: (ImportResult, "Imported"), 400: (ErrorOut, "The file's problems, each located")}
    ),
)
@admin()
async def import_cameras(request: Request) -> Response:
    from kruispunt.camera_files import CameraFileError, load_cameras

    if (refusal := _admin_refusal(request)) is not None:
        return refusal
    content_type = request.headers.get("content-type", "")
    suffix = ".csv" if "csv" in content_type else ".geojson"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(await request.body())
        try:
            cameras = load_cameras(path)
        except CameraFileError as exc:
            return error_response(400, "invalid_camera_file", str(exc))
    node = _node(request)
    await asyncio.to_thread(node.upsert_cameras, cameras)
    return json_response(ImportResult(imported=len(cameras), camera_ids=[c.id for c in cameras]))
