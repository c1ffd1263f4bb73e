"""Server-rendered pages: the node's overview (map + live panel) and the camera table.

Handlers are thin: ``kruispunt.web.overview`` builds what the pages show. Everything a page
needs is served by the node itself (closed police network: no CDN, tiles or web fonts).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from kruispunt import __version__
from kruispunt.api.guard import public
from kruispunt.api.status import NodeStatus, node_status
from kruispunt.node import Node
from kruispunt.web import overview

router = APIRouter(include_in_schema=False)
router.mount("/static", StaticFiles(packages=[("kruispunt", "web/static")]), name="static")

# Nothing on a page may come from elsewhere; inline scripts and styles are refused too.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def thousands(n: int) -> str:
    """1234567 → "1 234 567" (thin spaces: readable in Dutch and English alike)."""
    return f"{n:,}".replace(",", "\u2009")


@cache
def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kruispunt", "web/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = thousands
    return env


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _page(name: str, **context: Any) -> HTMLResponse:
    html = templates().get_template(name).render(version=__version__, **context)
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP})


def _activity(node: Node) -> tuple[NodeStatus, dict[str, int]]:
    status = node_status(node)
    return status, {c.camera_id: c.reads_last_hour for c in status.cameras}


# Plain ``def``: the store is read synchronously, so these run in the thread pool.
@router.get("/")
@public("the network overview: zones, cameras and counts, no plate")
def overview_page(request: Request) -> HTMLResponse:
    node = _node(request)
    status, activity = _activity(node)
    cameras = node.registry.all()
    return _page(
        "overview.html",
        page="overview",
        status=status,
        zones=overview.zone_summaries(node.zones, cameras, activity),
        silent=overview.silent_cameras(cameras, activity),
        zone_names={z.id: z.name for z in node.zones},
        map_svg=Markup(overview.overview_map(node.zones, cameras, activity)),
    )


@router.get("/cameras")
@public("the published camera register as a page: no read, no plate")
def cameras_page(request: Request) -> HTMLResponse:
    node = _node(request)
    _, activity = _activity(node)
    rows = overview.camera_rows(node.zones, node.registry.all(), activity, node.registry.has_token)
    return _page("cameras.html", page="cameras", cameras=rows)
