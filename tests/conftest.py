"""Shared fixtures: a real node on a real SQLite file (or, for tests marked
``on_both_engines``, also on the real PostgreSQL server), the real ASGI app in-process."""

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
from kruispunt.store.postgres import PgStore
from kruispunt.store.sql import SqlStore
from kruispunt.store.sqlite import SqliteStore
from tests.backends import require_postgres, unique_name

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
        "images": {"directory": str(tmp_path / "images"), "fsync": False},
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


ENGINES = ("sqlite", "postgresql")
# Put on a module (pytestmark) or test: it runs once on SQLite and once on real PostgreSQL.
on_both_engines = pytest.mark.both_engines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Only tests that use a node (or its config) run twice; pure tests in the module once.
    if metafunc.definition.get_closest_marker("both_engines") and (
        "engine" in metafunc.fixturenames
    ):
        metafunc.parametrize("engine", ENGINES, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The store engine of the ``config`` fixture: SQLite unless a test asks for both."""
    return str(getattr(request, "param", "sqlite"))


def drop_pg_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=ENGINES)
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """An open, empty store on each engine in turn (SQLite file, real PostgreSQL schema)."""
    store: SqlStore
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "s.sqlite", synchronous="NORMAL")
        store.open()
        yield store
        store.close()
        return
    url = require_postgres()
    schema = unique_name("kp_test")
    store = PgStore(url, schema=schema, pool_size=2)
    store.open()
    yield store
    store.close()
    drop_pg_schema(url, schema)


@pytest.fixture
def config(tmp_path: Path, engine: str) -> Iterator[Config]:
    if engine == "sqlite":
        yield make_config(tmp_path)
        return
    url = require_postgres()
    schema = unique_name("kp_test")
    yield make_config(tmp_path, store={"url": url, "pg_schema": schema})
    drop_pg_schema(url, schema)


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
