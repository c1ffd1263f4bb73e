"""Transparency and abuse reports: JSON for the API, printable pages for people.

Thin handlers over ``OversightService``: who may read which report for which zone, and the
audit record of every reading, are decided there. The pages need no script; a browser
sends the token as ``access_token`` (the form at ``/reports``), since a link cannot set a
header. They are sent with ``Cache-Control: no-store`` and no referrer.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from kruispunt import __version__
from kruispunt.api import schema
from kruispunt.api.errors import json_response, refuses
from kruispunt.api.guard import people, public
from kruispunt.api.records import as_caller, node_of
from kruispunt.api.web import CSP, templates
from kruispunt.errors import Refused
from kruispunt.ingest.wire import ErrorOut
from kruispunt.oversight import html
from kruispunt.oversight.abuse import AbuseReport
from kruispunt.oversight.service import READERS, Kind, OversightService
from kruispunt.oversight.transparency import TransparencyReport

router = APIRouter(tags=["reports"])

TRANSPARENCY_READERS = sorted(READERS[Kind.TRANSPARENCY])
ABUSE_READERS = sorted(READERS[Kind.ABUSE])
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
_PERIOD_DOC = (
    "Query: `since`, `until` (a date, counted whole as `until`, or an ISO time), `zone` "
    "(default: the whole node, or the caller's own zone). Default period: the last 30 days."
)
_ERRORS = {
    400: (ErrorOut, "`bad_date`, `bad_period`, `period_too_long`, `unknown_zone`"),
    401: (ErrorOut, "No or unknown token"),
    403: (ErrorOut, "`zone_not_visible`: another zone than the caller's own"),
}


def _service(request: Request) -> OversightService:
    return OversightService.of(node_of(request))


def _zone_names(request: Request) -> dict[str, str]:
    return {z.id: z.name for z in node_of(request).zones}


async def _report(
    request: Request, kind: Kind, fmt: Literal["json", "html"]
) -> TransparencyReport | AbuseReport:
    params = request.query_params
    service = _service(request)
    build = service.transparency if kind is Kind.TRANSPARENCY else service.abuse
    client = request.client.host if request.client else None
    _, report = await as_caller(
        request,
        lambda principal: build(
            principal,
            since=params.get("since") or None,
            until=params.get("until") or None,
            zone=params.get("zone") or None,
            fmt=fmt,
            source_of_request=client,
        ),
    )
    return report


async def _page(request: Request, kind: Kind) -> Response:
    """The report as a printable page."""
    report = await _report(request, kind, "html")
    names = _zone_names(request)
    if isinstance(report, TransparencyReport):
        page = html.render_transparency(report, zone_names=names, static="../static/")
    else:
        page = html.render_abuse(report, zone_names=names, static="../static/")
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.get(
    "/api/v1/reports/transparency",
    summary="Figures of a period: cameras, reads, hits, consultations, grants, retention",
    description=_PERIOD_DOC + " Reading it is audited (`report.transparency`).",
    responses=schema.responses({200: (TransparencyReport, "The report"), **_ERRORS}),
)
@people(*TRANSPARENCY_READERS)
@refuses(Refused)
async def transparency_json(request: Request) -> Response:
    return json_response(await _report(request, Kind.TRANSPARENCY, "json"))


@router.get(
    "/api/v1/reports/abuse",
    summary="Consultation patterns to look at: outlying rates, night bulk, wide wildcards, "
    "single-use case numbers",
    description=_PERIOD_DOC + " Reading it is audited (`report.abuse`).",
    responses=schema.responses({200: (AbuseReport, "The report"), **_ERRORS}),
)
@people(*ABUSE_READERS)
@refuses(Refused)
async def abuse_json(request: Request) -> Response:
    return json_response(await _report(request, Kind.ABUSE, "json"))


@router.get("/reports/transparency", include_in_schema=False)
@people(*TRANSPARENCY_READERS)
@refuses(Refused)
async def transparency_page(request: Request) -> Response:
    return await _page(request, Kind.TRANSPARENCY)


@router.get("/reports/abuse", include_in_schema=False)
@people(*ABUSE_READERS)
@refuses(Refused)
async def abuse_page(request: Request) -> Response:
    return await _page(request, Kind.ABUSE)


@router.get("/reports", include_in_schema=False)
@public("the form that asks for a report: no figures, no data")
def reports_form(request: Request) -> HTMLResponse:
    node = node_of(request)
    page = (
        templates()
        .get_template("reports.html")
        .render(
            version=__version__,
            page="reports",
            zones=node.zones,
            default_days=node.config.oversight.default_days,
        )
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)
