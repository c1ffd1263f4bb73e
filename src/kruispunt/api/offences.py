"""Offence records (section control, LEZ): the list, one record with its evidence, status
changes, the back office's export, and the dashboards (JSON and printable pages).

Thin handlers over ``OffenceService``, which decides who reads what (purpose limitation:
section control for the traffic officers and zone chief of the zone that saw it, the LEZ
for those of the LEZ's zone) and audits every reading. The dashboards' pages need no
script, like the reports: a browser sends the token as ``access_token`` (the form at
``/enforcement``); they are sent with ``Cache-Control: no-store`` and no referrer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from kruispunt import __version__
from kruispunt.access.principals import Role
from kruispunt.api import schema
from kruispunt.api.bodies import JsonBodies, from_us
from kruispunt.api.errors import RequestRefused, json_response, refuses
from kruispunt.api.guard import people, public
from kruispunt.api.records import as_caller, limit_query, node_of
from kruispunt.api.reports import PAGE_HEADERS
from kruispunt.api.web import templates
from kruispunt.enforcement import export
from kruispunt.enforcement.offences import Offence, OffenceCategory, OffenceStatus
from kruispunt.enforcement.service import (
    LEZ,
    MODULES,
    OFFICERS,
    SECTION_CONTROL,
    Dashboard,
    OffenceRefused,
    OffenceService,
    StatusChange,
    parse_filter,
)
from kruispunt.ingest.wire import ErrorOut
from kruispunt.web.charts import Chart, stacked_bars

router = APIRouter(tags=["offences"])

_ORDER = list(Role)
READERS = sorted(OFFICERS, key=_ORDER.index)
MAX_BODY = 16_384
_bodies = JsonBodies(code="invalid_status_change", limit=MAX_BODY)
_AUTH = (ErrorOut, "No or unknown token")
_FORBIDDEN = (ErrorOut, "`module_not_visible`, `zone_not_visible`: not the caller's business")
_UNKNOWN = (ErrorOut, "`unknown_offence` (or one the caller may not read)")
_FILTERS = (
    "Filters (each narrows): `module` (section_control, lez), `since` and `until` (local days, "
    "inclusive), `status`, `category` (EU category), `zone`. Section-control offences are "
    "read by the traffic officers and zone chief of the zone that saw them; the LEZ's by "
    "those of the LEZ's zone."
)


# -- views ------------------------------------------------------------------------------------
class OffenceRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    module: str
    category: Annotated[OffenceCategory, msgspec.Meta(description="EU cross-border category.")]
    plate: str
    country: str | None
    day: Annotated[str, msgspec.Meta(description="Local day (Europe/Brussels).")]
    occurred_at: dt.datetime
    created_at: dt.datetime
    zone_id: str
    camera_ids: tuple[str, ...]
    status: OffenceStatus
    fine_eur: int | None

    @classmethod
    def of(cls, o: Offence) -> OffenceRead:
        return cls(
            id=o.id, module=o.module, category=o.category, plate=o.plate, country=o.country,
            day=o.day, occurred_at=from_us(o.occurred_us), created_at=from_us(o.created_us),
            zone_id=o.zone_id, camera_ids=o.camera_ids, status=o.status, fine_eur=o.fine_eur,
        )  # fmt: skip


class StatusChangeOut(msgspec.Struct, frozen=True, kw_only=True):
    at: dt.datetime
    actor: str
    role: str | None
    from_status: str | None
    to_status: str | None
    note: str | None

    @classmethod
    def of(cls, c: StatusChange) -> StatusChangeOut:
        return cls(
            at=from_us(c.at_us), actor=c.actor, role=c.role, from_status=c.from_status,
            to_status=c.to_status, note=c.note,
        )  # fmt: skip


class OffenceDetail(msgspec.Struct, frozen=True, kw_only=True):
    offence: OffenceRead
    evidence: Annotated[
        dict[str, Any],
        msgspec.Meta(description="The reads, the computation and the rule applied."),
    ]
    place: Annotated[str, msgspec.Meta(description="The cameras' names, in order.")]
    history: Annotated[list[StatusChangeOut], msgspec.Meta(description="Status changes.")]


class OffencePageOut(msgspec.Struct, frozen=True, kw_only=True):
    offences: list[OffenceRead]
    next: Annotated[str | None, msgspec.Meta(description="`after` of the next page.")]


class StatusIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: Annotated[
        OffenceStatus, msgspec.Meta(description="`exported` (to the back office) or `cancelled`.")
    ]
    note: Annotated[str, msgspec.Meta(max_length=2000, description="Why (required to cancel).")] = (
        ""
    )


SCHEMAS = (OffenceRead, OffenceDetail, OffencePageOut, StatusIn, StatusChangeOut, Dashboard)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""


def _filtered_responses(model: Any, ok: str, bad: str) -> dict[int | str, dict[str, Any]]:
    """A filtered reading's answers: ``model`` (200), ``bad`` (400), no token, not visible."""
    return schema.responses({200: (model, ok), 400: (ErrorOut, bad), 401: _AUTH, 403: _FORBIDDEN})


def _service(request: Request) -> OffenceService:
    return OffenceService.of(node_of(request))


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


# -- the records ------------------------------------------------------------------------------
@router.get(
    "/api/v1/offences",
    summary="Offence records the caller may read, oldest first (audited)",
    description=_FILTERS + " Paging: `limit`, and `after` (the previous page's `next`).",
    responses=_filtered_responses(OffencePageOut, "A page of offences", "`bad_query`"),
)
@people(*READERS)
@refuses(OffenceRefused)
async def list_offences(request: Request) -> Response:
    service = _service(request)
    f = parse_filter(request.query_params)
    limit = limit_query(request, most=service.config.list_max)
    after = request.query_params.get("after") or None
    _, page = await as_caller(
        request,
        lambda p: service.records(p, f, after=after, limit=limit, source=_source(request)),
    )
    return json_response(
        OffencePageOut(offences=[OffenceRead.of(o) for o in page.offences], next=page.next)
    )


@router.get(
    "/api/v1/offences/export",
    summary="Offences for the processing back office, as CSV or JSON (?format=csv|json; audited)",
    description=_FILTERS + " Columns, in order: " + ", ".join(export.COLUMNS) + " (see "
    "`kruispunt.enforcement.export`). Header `X-Kruispunt-Truncated: true` when the node's "
    "cap (`enforcement.export_max`) cut the export short.",
    responses=_filtered_responses(str, "The file", "`bad_query`, `invalid_format`"),
)
@people(*READERS)
@refuses(OffenceRefused)
async def export_offences(request: Request) -> Response:
    fmt = request.query_params.get("format") or "csv"
    if fmt not in export.MEDIA:
        raise RequestRefused("format: csv or json", "invalid_format")
    service = _service(request)
    f = parse_filter(request.query_params)
    _, (offences, truncated) = await as_caller(
        request, lambda p: service.export(p, f, fmt=fmt, source=_source(request))
    )
    names = service.camera_names()
    now = dt.datetime.now(dt.UTC)
    if fmt == "csv":
        data = export.to_csv(offences, names)
    else:
        generated = (now - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
        data = export.to_json(offences, names, generated_us=generated, truncated=truncated)
    name = f"kruispunt-offences-{now:%Y%m%dT%H%M%SZ}.{fmt}"
    return Response(
        data,
        media_type=export.MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Kruispunt-Truncated": "true" if truncated else "false",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/api/v1/offences/stats",
    summary="A dashboard's figures: offences per day, warnings and fines, top sections or "
    "entry cameras, the speeds measured (no plate; audited)",
    description="Query: `module` (section_control or lez, required), `since` and `until` "
    "(local days; default the last 30), `section` (section control: one section only).",
    responses=_filtered_responses(Dashboard, "The figures", "`bad_query`, `bad_period`"),
)
@people(*READERS)
@refuses(OffenceRefused)
async def offence_stats(request: Request) -> Response:
    module = request.query_params.get("module", "")
    if module not in MODULES:
        raise RequestRefused(f"module: one of {', '.join(MODULES)}", "bad_query")
    return json_response(await _dashboard(request, module))


@router.get(
    "/api/v1/offences/{offence_id}",
    summary="One offence with its evidence and its status changes (audited)",
    responses=schema.responses({200: (OffenceDetail, "The offence"), 401: _AUTH, 404: _UNKNOWN}),
)
@people(*READERS)
@refuses(OffenceRefused)
async def get_offence(offence_id: str, request: Request) -> Response:
    service = _service(request)
    _, (offence, history) = await as_caller(
        request, lambda p: service.get(p, offence_id, source=_source(request))
    )
    names = service.camera_names()
    return json_response(
        OffenceDetail(
            offence=OffenceRead.of(offence),
            evidence=offence.evidence,
            place=" → ".join(names.get(c, c) for c in offence.camera_ids),
            history=[StatusChangeOut.of(c) for c in history],
        )
    )


@router.post(
    "/api/v1/offences/{offence_id}/status",
    summary="Hand an offence to the back office (`exported`) or cancel it (a note why; audited)",
    openapi_extra=schema.body(StatusIn, description="The new status and a note."),
    responses=schema.responses(
        {
            200: (OffenceRead, "The offence as it is now"),
            400: (ErrorOut, "`invalid_status_change`, `bad_query`, `note_required`"),
            401: _AUTH,
            404: _UNKNOWN,
            409: (ErrorOut, "`transition_refused`: cancelled already, or that status already"),
        }
    ),
)
@people(*READERS)
@refuses(OffenceRefused)
async def change_status(offence_id: str, request: Request) -> Response:
    service = _service(request)
    body = await _bodies.read(request, StatusIn)
    _, offence = await as_caller(
        request,
        lambda p: service.set_status(
            p, offence_id, body.status, note=body.note, source=_source(request)
        ),
    )
    return json_response(OffenceRead.of(offence))


# -- the dashboards ---------------------------------------------------------------------------
async def _dashboard(request: Request, module: str) -> Dashboard:
    service = _service(request)
    params = request.query_params
    _, board = await as_caller(
        request,
        lambda p: service.dashboard(
            p,
            module,
            since=params.get("since") or None,
            until=params.get("until") or None,
            section=params.get("section") or None,
            source=_source(request),
        ),
    )
    return board


def day_chart(board: Dashboard) -> Chart:
    rows = [
        (d.day, d.day[5:], {"fine": d.fines, "warning": d.warnings, "cancelled": d.cancelled})
        for d in board.per_day
    ]
    return stacked_bars(rows, ("fine", "warning", "cancelled"))


def speed_chart(board: Dashboard) -> Chart:
    rows = [(str(b.from_kmh), str(b.from_kmh), {"count": b.count}) for b in board.speeds]
    return stacked_bars(rows, ("count",), gap=0.06, max_labels=16)


async def _page(request: Request, module: str, template: str) -> Response:
    board = await _dashboard(request, module)
    node = node_of(request)
    html = (
        templates()
        .get_template(template)
        .render(
            version=__version__,
            static="../static/",
            board=board,
            days=day_chart(board),
            speeds=speed_chart(board),
            zone_names={z.id: z.name for z in node.zones},
        )
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.get("/enforcement/sections", include_in_schema=False)
@people(*READERS)
@refuses(OffenceRefused)
async def sections_page(request: Request) -> Response:
    return await _page(request, SECTION_CONTROL, "enforcement_sections.html")


@router.get("/enforcement/lez", include_in_schema=False)
@people(*READERS)
@refuses(OffenceRefused)
async def lez_page(request: Request) -> Response:
    return await _page(request, LEZ, "enforcement_lez.html")


@router.get("/enforcement", include_in_schema=False)
@public("the form that opens a dashboard: no figures, no data")
def enforcement_form(request: Request) -> HTMLResponse:
    node = node_of(request)
    page = (
        templates()
        .get_template("enforcement.html")
        .render(
            version=__version__,
            page="enforcement",
            default_days=node.config.enforcement.default_days,
            lez_zone=node.config.enforcement.lez_zone_id,
            zone_names={z.id: z.name for z in node.zones},
        )
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)
