"""Hotlists API: lists, their entries, and CSV import/export.

Thin handlers over ``HotlistService`` (which checks who may do what and audits every
change). Anyone signed in sees which lists exist; only the owner zone (and the admin) may
read a list's entries: another zone learns of an entry only through the hits it raises.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import Iterator
from typing import Any

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from kruispunt.access.principals import Principal
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import caller, people
from kruispunt.hotlists.errors import (
    HotlistError,
    HotlistNotFound,
)
from kruispunt.hotlists.importer import ImportReport
from kruispunt.hotlists.models import Category, HotlistEntry, HotlistList, Scope
from kruispunt.hotlists.service import HotlistService
from kruispunt.hotlists.validation import EntryIn, ListIn, build_list, from_us, new_list_id
from kruispunt.ingest.wire import ErrorOut
from kruispunt.plates import normalise

router = APIRouter(tags=["hotlists"])

MAX_JSON_BODY = 65_536
MAX_CSV_BODY = 512_000_000  # ~3M entries
SPOOL_IN_MEMORY = 8_000_000
MAX_RETRO_DAYS = 366
MAX_PAGE = 5000


class HotlistRead(msgspec.Struct, frozen=True, kw_only=True):
    hotlist: HotlistList
    entries: int | None  # how many; only for those who may read them


class EntryRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    list_id: str
    plate: str
    plate_raw: str
    country: str | None
    category: Category
    action: str
    warnings: tuple[str, ...]
    source: str
    legal_basis: str
    scope: Scope
    valid_from: dt.datetime
    expires_at: dt.datetime
    created_at: dt.datetime
    created_by: str
    note: str

    @classmethod
    def of(cls, e: HotlistEntry) -> EntryRead:
        return cls(
            id=e.id, list_id=e.list_id, plate=e.plate, plate_raw=e.plate_raw, country=e.country,
            category=e.category, action=e.action, warnings=e.warnings, source=e.source,
            legal_basis=e.legal_basis, scope=e.scope, valid_from=from_us(e.valid_from_us),
            expires_at=from_us(e.expires_at_us), created_at=from_us(e.created_us),
            created_by=e.created_by, note=e.note,
        )  # fmt: skip


class EntryPageRead(msgspec.Struct, frozen=True, kw_only=True):
    entries: list[EntryRead]
    next_after: int | None  # pass as ?after= for the next page; null: last page


class BadRequest(Exception):
    pass


SCHEMAS = (ListIn, HotlistRead, EntryIn, EntryRead, EntryPageRead, ImportReport)
"""Bodies named in this router's OpenAPI; the app adds them to its components."""

_list_decoder = msgspec.json.Decoder(ListIn)
_entry_decoder = msgspec.json.Decoder(EntryIn)
_AUTH = (ErrorOut, "No or unknown token")
_FORBIDDEN = (ErrorOut, "Not the owner zone (or not a role that may change lists)")
_UNKNOWN = (ErrorOut, "`unknown_list` or `unknown_entry`")


def _service(request: Request) -> HotlistService:
    service: HotlistService = request.app.state.node.hotlists
    return service


_auth = caller  # the signed-in caller, or the 401 to answer with


def _int_param(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > high:
        raise BadRequest(f"{name} must be an integer from 0 to {high}")
    return int(raw)


async def _json(request: Request, decoder: msgspec.json.Decoder[Any]) -> Any:
    body = await request.body()
    if len(body) > MAX_JSON_BODY:
        raise BadRequest("request body too large")
    try:
        return decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(str(exc)) from None


def _read(service: HotlistService, lst: HotlistList, principal: Principal) -> HotlistRead:
    count = (
        service.entry_count(lst.id, actor=principal)
        if service.may_read(lst.id, principal)
        else None
    )
    return HotlistRead(hotlist=lst, entries=count)


# -- lists ----------------------------------------------------------------------------------
@router.get(
    "/api/v1/hotlists",
    summary="All lists (anyone signed in); entry counts only for the owner zone",
    responses=schema.responses({200: (list[HotlistRead], "Lists"), 401: _AUTH}),
)
@people()
async def list_hotlists(request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)
    # Only the lists the caller may read: a list's name can tip off as much as its entries.
    reads = await asyncio.to_thread(
        lambda: [
            _read(service, lst, principal)
            for lst in service.lists()
            if service.may_read(lst.id, principal)
        ]
    )
    return json_response(reads)


@router.post(
    "/api/v1/hotlists",
    summary="Create a list (its owner zone's operator, zone chief or investigator; admin)",
    status_code=201,
    openapi_extra=schema.body(ListIn, description="The list; owner_zone_id defaults to yours."),
    responses=schema.responses(
        {
            201: (HotlistRead, "Created"),
            400: (ErrorOut, "`invalid_list`, `unknown_zone`, `list_id_invalid` ..."),
            401: _AUTH,
            403: _FORBIDDEN,
            409: (ErrorOut, "`list_exists`"),
        }
    ),
)
@people()
async def create_hotlist(request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        draft: ListIn = await _json(request, _list_decoder)
    except BadRequest as exc:
        return error_response(400, "invalid_list", str(exc))
    lst = build_list(
        draft,
        list_id=draft.id or new_list_id(),
        owner_zone_id=draft.owner_zone_id or principal.zone_id,
    )
    try:
        created = await asyncio.to_thread(_service(request).create_list, lst, actor=principal)
    except HotlistError as exc:
        return refusal_response(exc)
    return json_response(HotlistRead(hotlist=created, entries=0), 201)


@router.get(
    "/api/v1/hotlists/{list_id}",
    summary="One list",
    responses=schema.responses({200: (HotlistRead, "The list"), 401: _AUTH, 404: _UNKNOWN}),
)
@people()
async def get_hotlist(list_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)
    lst = service.list_of(list_id)
    if lst is None:
        return error_response(404, "unknown_list", f"no list {list_id!r}")
    return json_response(await asyncio.to_thread(_read, service, lst, principal))


@router.put(
    "/api/v1/hotlists/{list_id}",
    summary="Change a list: name, description, min_confidence, default_scope, active",
    openapi_extra=schema.body(ListIn, description="The list's new fields; the owner stays."),
    responses=schema.responses(
        {
            200: (HotlistRead, "Changed"),
            400: (ErrorOut, ""),
            401: _AUTH,
            403: _FORBIDDEN,
            404: _UNKNOWN,
        }
    ),
)
@people()
async def update_hotlist(list_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)
    old = service.list_of(list_id)
    if old is None:
        return error_response(404, "unknown_list", f"no list {list_id!r}")
    try:
        draft: ListIn = await _json(request, _list_decoder)
    except BadRequest as exc:
        return error_response(400, "invalid_list", str(exc))
    if draft.id not in (None, list_id):
        return error_response(400, "invalid_list", "id in the body differs from the path")
    lst = build_list(draft, list_id=list_id, owner_zone_id=draft.owner_zone_id or old.owner_zone_id)
    try:
        updated = await asyncio.to_thread(service.update_list, lst, actor=principal)
        return json_response(await asyncio.to_thread(_read, service, updated, principal))
    except HotlistError as exc:
        return refusal_response(exc)


@router.delete(
    "/api/v1/hotlists/{list_id}",
    summary="Delete a list and all its entries; they stop hitting at once",
    status_code=204,
    responses=schema.responses({401: _AUTH, 403: _FORBIDDEN, 404: _UNKNOWN}),
)
@people()
async def delete_hotlist(list_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        await asyncio.to_thread(_service(request).delete_list, list_id, actor=principal)
    except HotlistError as exc:
        return refusal_response(exc)
    return Response(status_code=204)


# -- entries --------------------------------------------------------------------------------
@router.get(
    "/api/v1/hotlists/{list_id}/entries",
    summary="A page of a list's entries (owner zone and admin only); ?plate= for one plate",
    responses=schema.responses(
        {
            200: (EntryPageRead, "Entries, oldest first"),
            400: (ErrorOut, "`bad_query`"),
            401: _AUTH,
            403: (ErrorOut, "Not the owner zone"),
            404: _UNKNOWN,
        }
    ),
)
@people()
async def list_entries(list_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        after = _int_param(request, "after", 0, 2**62)
        limit = _int_param(request, "limit", 500, MAX_PAGE) or 1
    except BadRequest as exc:
        return error_response(400, "bad_query", str(exc))
    plate = request.query_params.get("plate")
    try:
        page = await asyncio.to_thread(
            _service(request).entries_page, list_id, actor=principal, after=after, limit=limit,
            plate=normalise(plate) if plate else None,
        )  # fmt: skip
    except HotlistError as exc:
        return refusal_response(exc)
    return json_response(
        EntryPageRead(entries=[EntryRead.of(e) for e in page.entries], next_after=page.next_after)
    )


@router.post(
    "/api/v1/hotlists/{list_id}/entries",
    summary="Add an entry; ?retro_days=N also searches the reads of the last N days",
    description="`expires_at` (the weed date, at most the node's maximum ahead) and "
    "`legal_basis` are mandatory: without them the entry is refused (`expiry_missing`, "
    "`legal_basis_missing`). A plate already live on the list is refused (`entry_duplicate`).",
    status_code=201,
    openapi_extra=schema.body(EntryIn, description="The entry."),
    responses=schema.responses(
        {
            201: (EntryRead, "Added"),
            400: (ErrorOut, "The entry's problem (`code`)"),
            401: _AUTH,
            403: _FORBIDDEN,
            404: _UNKNOWN,
            409: (ErrorOut, "`entry_duplicate`"),
        }
    ),
)
@people()
async def add_entry(list_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        retro_days = _int_param(request, "retro_days", 0, MAX_RETRO_DAYS)
        draft: EntryIn = await _json(request, _entry_decoder)
    except BadRequest as exc:
        return error_response(400, "invalid_entry", str(exc))
    try:
        entry = await asyncio.to_thread(
            _service(request).create_entry, list_id, draft, actor=principal,
            retro_days=retro_days,
        )  # fmt: skip
    except HotlistError as exc:
        return refusal_response(exc)
    return json_response(EntryRead.of(entry), 201)


def _entry_of(
    service: HotlistService, list_id: str, entry_id: str, actor: Principal
) -> HotlistEntry:
    service.readable(list_id, actor)
    entry = service.get_entry(entry_id)
    if entry is None or entry.list_id != list_id:
        raise HotlistNotFound(f"no entry {entry_id!r} on list {list_id!r}", "unknown_entry")
    return entry


@router.get(
    "/api/v1/hotlists/{list_id}/entries/{entry_id}",
    summary="One entry (owner zone and admin only)",
    responses=schema.responses(
        {
            200: (EntryRead, "The entry"),
            401: _AUTH,
            403: (ErrorOut, "Not the owner zone"),
            404: _UNKNOWN,
        }
    ),
)
@people()
async def get_entry(list_id: str, entry_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        entry = await asyncio.to_thread(_entry_of, _service(request), list_id, entry_id, principal)
    except HotlistError as exc:
        return refusal_response(exc)
    return json_response(EntryRead.of(entry))


@router.put(
    "/api/v1/hotlists/{list_id}/entries/{entry_id}",
    summary="Replace an entry's fields (same rules as adding; a missing valid_from stays)",
    openapi_extra=schema.body(EntryIn, description="The entry's new fields."),
    responses=schema.responses(
        {
            200: (EntryRead, "Changed"),
            400: (ErrorOut, "The entry's problem (`code`)"),
            401: _AUTH,
            403: _FORBIDDEN,
            404: _UNKNOWN,
            409: (ErrorOut, "`entry_duplicate`"),
        }
    ),
)
@people()
async def replace_entry(list_id: str, entry_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        draft: EntryIn = await _json(request, _entry_decoder)
    except BadRequest as exc:
        return error_response(400, "invalid_entry", str(exc))
    try:
        entry = await asyncio.to_thread(
            _service(request).replace_entry, list_id, entry_id, draft, actor=principal
        )
    except HotlistError as exc:
        return refusal_response(exc)
    return json_response(EntryRead.of(entry))


@router.delete(
    "/api/v1/hotlists/{list_id}/entries/{entry_id}",
    summary="Delete an entry; it stops hitting before the answer",
    status_code=204,
    responses=schema.responses({401: _AUTH, 403: _FORBIDDEN, 404: _UNKNOWN}),
)
@people()
async def delete_entry(list_id: str, entry_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)

    def delete() -> None:
        service.changeable(list_id, principal)
        entry = service.get_entry(entry_id)
        if entry is None or entry.list_id != list_id:
            raise HotlistNotFound(f"no entry {entry_id!r} on list {list_id!r}", "unknown_entry")
        service.delete_entry(entry_id, actor=principal)

    try:
        await asyncio.to_thread(delete)
    except HotlistError as exc:
        return refusal_response(exc)
    return Response(status_code=204)


# -- CSV ------------------------------------------------------------------------------------
CSV_DOC = (
    "Columns: plate,country,category,action,warnings,source,legal_basis,scope,scope_zones,"
    "valid_from,expires_at,note (header required; warnings and scope_zones split on `;`; "
    "times ISO 8601 with offset, or a date)."
)


async def _spool(request: Request) -> tempfile.SpooledTemporaryFile[bytes]:
    """The body in a temporary file (in memory while small), so the import can stream it."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_CSV_BODY:
            spool.close()
            raise BadRequest(f"the file is larger than {MAX_CSV_BODY} bytes")
        spool.write(chunk)
    spool.seek(0)
    return spool


@router.post(
    "/api/v1/hotlists/{list_id}/import",
    summary="Import entries from CSV: the good rows in one transaction, each bad row reported",
    description=CSV_DOC + " `?replace=true` deletes the list's current entries in the same "
    "transaction. A row whose plate is already live on the list is refused (`entry_duplicate`).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    responses=schema.responses(
        {
            200: (ImportReport, "Imported; `errors`: line and reason of each refused row"),
            400: (ErrorOut, "`invalid_csv`: the header is wrong, nothing imported"),
            401: _AUTH,
            403: _FORBIDDEN,
            404: _UNKNOWN,
            413: (ErrorOut, "`body_too_large`"),
        }
    ),
)
@people()
async def import_entries(list_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    service = _service(request)
    replace = request.query_params.get("replace", "").lower() in ("1", "true", "yes")
    try:
        service.changeable(list_id, principal)  # refuse before reading a large body
    except HotlistError as exc:
        return refusal_response(exc)
    try:
        spool = await _spool(request)
    except BadRequest as exc:
        return error_response(413, "body_too_large", str(exc))
    try:
        with spool:
            report = await asyncio.to_thread(
                service.import_csv, list_id, spool, actor=principal, replace=replace
            )
    except HotlistError as exc:
        return refusal_response(exc)
    return json_response(report)


@router.get(
    "/api/v1/hotlists/{list_id}/export",
    summary="The list's unexpired entries as CSV (owner zone and admin); re-imports as is",
    description=CSV_DOC,
    responses={
        200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
        **schema.responses({401: _AUTH, 403: (ErrorOut, "Not the owner zone"), 404: _UNKNOWN}),
    },
)
@people()
async def export_entries(list_id: str, request: Request) -> Response:
    principal = _auth(request)
    if isinstance(principal, Response):
        return principal
    try:
        # Off the event loop: the export's audit record waits for the writer.
        chunks: Iterator[str] = await asyncio.to_thread(
            _service(request).export_csv, list_id, actor=principal
        )
    except HotlistError as exc:
        return refusal_response(exc)
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{list_id}.csv"'},
    )
