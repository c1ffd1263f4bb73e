"""The ASGI application: routes over a Node built by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from kruispunt import __version__
from kruispunt.api import cameras, ingest, schema, status, web
from kruispunt.domain.cameras import Camera
from kruispunt.ingest.wire import ErrorOut, ReadBatchIn, ReadBatchResult
from kruispunt.node import Node


def create_app(node: Node, *, manage_node: bool = True) -> FastAPI:
    """``manage_node``: start the node with the app and stop it after (False when the caller
    owns the node's life cycle, as the demo and tests may)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_node:
            node.start()
        try:
            yield
        finally:
            if manage_node:
                node.stop()

    app = FastAPI(
        title="Kruispunt",
        version=__version__,
        summary="Open, vendor-neutral, supra-local ANPR server",
        lifespan=lifespan,
    )
    app.state.node = node
    for module in (ingest, cameras, status, web):
        app.include_router(module.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
            spec.setdefault("components", {}).setdefault("schemas", {}).update(
                schema.components(ReadBatchIn, ReadBatchResult, ErrorOut, Camera)
            )
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
