"""The investigator's pages (``/investigate``): plate search, place and time, multi-site,
convoy and journey, over the search API.

The page is a shell with no read in it, like the console: the sign-in, the reason dialog, the
forms and the results live in ``static/investigate*.js``, which call the guarded search API
with the person's bearer token and the purpose, case and reason they gave. What the shell
carries is public already: the purposes and which roles may use them, the jurisdiction's case
formats, the zones and the camera register, and the base map with its projection (the
script puts the results' cameras on it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import HTMLResponse

from kruispunt import __version__
from kruispunt.access.policy import ROLE_PURPOSES
from kruispunt.api.guard import public
from kruispunt.api.web import CSP, templates
from kruispunt.law.profiles import JurisdictionProfile
from kruispunt.law.purpose import Purpose
from kruispunt.node import Node
from kruispunt.web import overview
from kruispunt.web.svgmap import render_map

router = APIRouter()


def purposes(profile: JurisdictionProfile) -> list[dict[str, str]]:
    """The purposes for the dialog's list, with what the jurisdiction's law says of each."""
    return [
        {
            "value": p.value,
            "label": p.value.replace("_", " ").capitalize(),
            "note": profile.purpose_notes.get(p, ""),
        }
        for p in Purpose
    ]


def page_data(node: Node) -> dict[str, Any]:
    """What the script needs besides the API: all of it public (see the module docstring)."""
    projection, _ = overview.map_base(tuple(node.zones))
    return {
        "purposes": purposes(node.law),
        "role_purposes": {
            str(role): sorted(str(p) for p in allowed) for role, allowed in ROLE_PURPOSES.items()
        },
        "case_examples": [f.examples[0] for f in node.law.case_formats if f.examples],
        "zones": {z.id: z.name for z in node.zones},
        "cameras": {
            c.id: {"name": c.name, "zone": c.zone_id, "lon": c.lon, "lat": c.lat}
            for c in node.registry.all()
        },
        "map": {
            "west": projection.west,
            "north": projection.north,
            "scale": projection.scale,
            "cos_lat": projection.cos_lat,
            "width": projection.width,
            "height": projection.height,
        },
    }


# Plain ``def``: building the page reads the registry synchronously (thread pool).
@router.get("/investigate", include_in_schema=False)
@public("the investigation page shell: reads come only through the guarded search API")
def investigate_page(request: Request) -> HTMLResponse:
    node: Node = request.app.state.node
    projection, base = overview.map_base(tuple(node.zones))
    svg = render_map(projection=projection, base=base, cameras=[], title="Cameras of the results")
    cameras = sorted(node.registry.all(), key=lambda c: (c.zone_id, c.id))
    html = (
        templates()
        .get_template("investigate.html")
        .render(
            version=__version__,
            page="investigate",
            map_svg=Markup(svg),
            data=page_data(node),
            purposes=purposes(node.law),
            zones=[(z.id, z.name) for z in node.zones],
            cameras=cameras,
            case_formats=node.law.case_formats,
        )
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
