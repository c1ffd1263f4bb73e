"""Transparency and abuse reports: JSON for the API, printable pages for people.

Thin handlers over ``OversightService``: who may read which report for which zone, and the
audit record of every reading, are decided there. The pages need no script; a browser
sends the token as ``access_token`` (the form at ``/reports``), since a link cannot set a
header. They are sent with ``Cache-Control: no-store`` and no referrer.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from kruispunt import __version__
from kruispunt.api import schema
from kruispunt.api.errors import json_response, refusal_response
from kruispunt.api.guard import caller, people, public
from kruispunt.api.web import CSP, templates
from kruispunt.errors import Refused
from kruispunt.ingest.wire import ErrorOut
from kruispunt.node import Node
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


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _service(request: Request) -> OversightService:
    return OversightService.of(_node(request))


def _zone_names(request: Request) -> dict[str, str]:
    return {z.id: z.name for z in _node(request).zones}


async def _report(
    request: Request, kind: Kind, fmt: Literal["json", "html"]
) -> TransparencyReport | AbuseReport | Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    params = request.query_params
    service = _service(request)
    build = service.transparency if kind is Kind.TRANSPARENCY else service.abuse
    client = request.client.host if request.client else None
    try:
        return await asyncio.to_thread(
            lambda: build(
                principal,
                since=params.get("since") or None,
                until=params.get("until") or None,
                zone=params.get("zone") or None,
                fmt=fmt,
                source_of_request=client,
            )
        )
    except Refused as exc:
        return refusal_response(exc)


@router.get(
    "/api/v1/reports/transparency",
    summary="Figures of a period: cameras, reads, hits, consultations, grants, retention",
    description=_PERIOD_DOC + " Reading it is audited (`report.transparency`).",
    responses=schema.responses({200: (TransparencyReport, "The report"), **_ERRORS}),
)
@people(*TRANSPARENCY_READERS)
async def transparency_json(request: Request) -> Response:
    report = await _report(request, Kind.TRANSPARENCY, "json")
    return report if isinstance(report, Response) else json_response(report)


@router.get(
    "/api/v1/reports/abuse",
    summary="Consultation patterns to look at: outlying rates, night bulk, wide wildcards, "
    "single-use case numbers",
    description=_PERIOD_DOC + " Reading it is audited (`report.abuse`).",
    responses=schema.responses({200: (AbuseReport, "The report"), **_ERRORS}),
)
@people(*ABUSE_READERS)
async def abuse_json(request: Request) -> Response:
    report = await _report(request, Kind.ABUSE, "json")
    return report if isinstance(report, Response) else json_response(report)


@router.get("/reports/transparency", include_in_schema=False)
@people(*TRANSPARENCY_READERS)
async def transparency_page(request: Request) -> Response:
    report = await _report(request, Kind.TRANSPARENCY, "html")
    if isinstance(report, Response):
        return report
    assert isinstance(report, TransparencyReport)
    page = html.render_transparency(report, zone_names=_zone_names(request), static="../static/")
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.get("/reports/abuse", include_in_schema=False)
@people(*ABUSE_READERS)
async def abuse_page(request: Request) -> Response:
    report = await _report(request, Kind.ABUSE, "html")
    if isinstance(report, Response):
        return report
    assert isinstance(report, AbuseReport)
    page = html.render_abuse(report, zone_names=_zone_names(request), static="../static/")
    return HTMLResponse(page, headers=PAGE_HEADERS)


@router.get("/reports", include_in_schema=False)
@public("the form that asks for a report: no figures, no data")
def reports_form(request: Request) -> HTMLResponse:
    node = _node(request)
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
