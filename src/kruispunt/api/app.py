"""The ASGI application: routes over a Node built by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from kruispunt import __version__
from kruispunt.api import (
    approvals,
    audit_log,
    authorisations,
    cameras,
    console,
    grants,
    health,
    hits,
    holds,
    hotlists,
    images,
    ingest,
    investigate,
    lez,
    live,
    machines,
    offences,
    oidc,
    reports,
    schema,
    search,
    signin,
    status,
    users,
    vendor_ingest,
    web,
)
from kruispunt.api.guard import public
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
        # Live streams and webhooks run on the serving event loop.
        node.hub.bind(asyncio.get_running_loop())
        await node.webhook_dispatcher.start()
        try:
            yield
        finally:
            await node.webhook_dispatcher.stop()
            if manage_node:
                node.stop()

    app = FastAPI(
        title="Kruispunt",
        version=__version__,
        summary="Open, vendor-neutral, supra-local ANPR server",
        lifespan=lifespan,
        docs_url=None,  # served below from the node itself: no CDN on a closed network
        redoc_url=None,
    )
    app.state.node = node
    # live before hits: /api/v1/hits/stream must not be taken for a hit id.
    routers = (
        ingest, vendor_ingest, cameras, status, users, signin, oidc, machines, grants,
        authorisations, audit_log, approvals, hotlists, live, hits, holds, images, search,
        console, investigate, reports, offences, lez, health, web,
    )  # fmt: skip
    for module in routers:
        app.include_router(module.router)

    app.mount(
        "/docs-static",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="docs-static",
    )

    @app.get("/docs", include_in_schema=False)
    @public("the API's documentation page: no data")
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="Kruispunt API",
            swagger_js_url=f"{root}/docs-static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-static/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/favicon.svg",
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(schema.documented_components())
            schemas.update(
                schema.components(
                    ReadBatchIn,
                    ReadBatchResult,
                    ErrorOut,
                    Camera,
                    *hotlists.SCHEMAS,
                    *users.SCHEMAS,
                    *grants.SCHEMAS,
                    *authorisations.SCHEMAS,
                    *approvals.SCHEMAS,
                    *holds.SCHEMAS,
                    *images.SCHEMAS,
                    *signin.SCHEMAS,
                    *offences.SCHEMAS,
                    *lez.SCHEMAS,
                )
            )
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
