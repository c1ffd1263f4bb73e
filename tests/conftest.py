"""Shared fixtures: a real node on a real SQLite file, the real ASGI app in-process."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from kruispunt.api.app import create_app
from kruispunt.config import Config, load_config
from kruispunt.domain.cameras import Camera, Purpose
from kruispunt.node import Node

ADMIN = "test-admin-token"


def make_camera(cam_id: str = "pz5364-c001", zone: str = "pz5364", **kw: Any) -> Camera:
    fields: dict[str, Any] = {
        "id": cam_id,
        "name": f"Test camera {cam_id}",
        "owner": "PZ Regio Turnhout",
        "manager": "PZ Regio Turnhout",
        "zone_id": zone,
        "municipality_nis": "13040",
        "lon": 4.9446,
        "lat": 51.3227,
        "bearing_deg": 90.0,
        "road": "N12",
        "purposes": (Purpose.POLICE, Purpose.STATISTICS),
        "vendor": "Hikvision",
    }
    fields.update(kw)
    return Camera(**fields)


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    overrides: dict[str, dict[str, Any]] = {
        "store": {"url": f"sqlite:///{tmp_path}/kp.sqlite", "synchronous": "NORMAL"},
        "server": {"admin_token": ADMIN},
        "processors": {"idle_sleep_s": 0.05},
    }
    for key, values in sections.items():
        overrides.setdefault(key, {}).update(values)
    return load_config(None, env={}, overrides=overrides)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def read_json(read_id: str, plate: str = "1-ABC-123", **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "read_id": read_id,
        "captured_at": kw.pop("captured_at", now() - dt.timedelta(seconds=5)).isoformat(),
        "plate": plate,
        "confidence": kw.pop("confidence", 0.9),
    }
    doc.update(kw)
    return doc


def batch_json(camera_id: str, reads: list[dict[str, Any]]) -> bytes:
    return msgspec.json.encode({"version": 1, "camera_id": camera_id, "reads": reads})


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def node(config: Config) -> Iterator[Node]:
    n = Node(config)
    n.start()
    n.upsert_cameras([make_camera("pz5364-c001"), make_camera("pz5352-c001", zone="pz5352")])
    yield n
    n.stop()


@pytest.fixture
def tokens(node: Node) -> dict[str, str]:
    return {cam_id: node.issue_token(cam_id) for cam_id in ("pz5364-c001", "pz5352-c001")}


@pytest.fixture
async def client(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(node, manage_node=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kp") as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
