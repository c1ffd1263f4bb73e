"""The audit log for those who oversee: read it (filtered, paged) and verify it.

Auditors and the data-protection officer read every record; a zone chief reads the records
of their own zone's people. Reading the log is itself a consultation of personal data (who
searched what, when, why), so every page read and every verification writes one record
(``audit.read``, ``audit.verify``) with its filters and the number of results.

The records show plates only as keyed tokens (``pt:...``), as they were written.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from fastapi import APIRouter, Request
from starlette.responses import Response

from kruispunt.access.principals import Principal, Role
from kruispunt.api.errors import error_response, json_response, refusal_response
from kruispunt.api.guard import caller, people
from kruispunt.audit import (
    AuditQuery,
    AuditRecord,
    public_pem,
    query_audit,
    verify_store,
    write_audit,
)
from kruispunt.node import Node
from kruispunt.oversight.period import PeriodError, period_from
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore

router = APIRouter(tags=["audit"])

ALL_ZONES = frozenset({Role.AUDITOR, Role.DPO})
MAX_PAGE = 1000
MAX_DAYS = 400
TIMEZONE = "Europe/Brussels"


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _record_json(r: AuditRecord) -> dict[str, Any]:
    return {
        "seq": r.seq, "at_us": r.at_us, "actor": r.actor, "actor_zone": r.actor_zone,
        "action": r.action, "object_type": r.object_type, "object_id": r.object_id,
        "detail": r.detail, "context": r.context, "hash": r.hash, "prev_hash": r.prev_hash,
    }  # fmt: skip


def _query(request: Request, principal: Principal, now_us: int) -> AuditQuery:
    params = request.query_params
    period = period_from(
        params.get("since"), params.get("until"), now_us=now_us, timezone=TIMEZONE,
        default_days=7, max_days=MAX_DAYS,
    )  # fmt: skip
    zone = params.get("zone")
    if principal.role not in ALL_ZONES:
        if zone not in (None, principal.zone_id):
            raise PeriodError(f"a zone chief reads the records of {principal.zone_id} only",
                              "forbidden_zone")  # fmt: skip
        zone = principal.zone_id
    try:
        after = int(params.get("after", "0"))
        limit = int(params.get("limit", "200"))
    except ValueError:
        raise PeriodError("after and limit: whole numbers", "bad_parameter") from None
    if after < 0 or not 1 <= limit <= MAX_PAGE:
        raise PeriodError(f"after >= 0 and 1 <= limit <= {MAX_PAGE}", "bad_parameter")
    return AuditQuery(
        since_us=period.since_us, until_us=period.until_us, actor=params.get("actor"),
        action=params.get("action"), zone=zone, object_type=params.get("object_type"),
        object_id=params.get("object_id"), after_seq=after, limit=limit,
    )  # fmt: skip


def _read(store: SqlStore, principal: Principal, q: AuditQuery, source: str | None) -> list[Any]:
    """The page, and its audit record in the same writer transaction (read-your-reads)."""
    with store.transaction() as conn:
        records = query_audit(conn, q)
        scope = {k: v for k, v in msgspec.to_builtins(q).items() if v not in (None, 0)}
        write_audit(
            conn, actor=principal.user_id, actor_zone=principal.zone_id, action="audit.read",
            object_type="audit_log", object_id="-", role=str(principal.role), source=source,
            scope=scope, results=len(records),
        )  # fmt: skip
    return [_record_json(r) for r in records]


@router.get(
    "/api/v1/audit",
    summary="Read the audit log: filtered by period, actor, action ('search.*'), zone; paged "
    "by seq (?after=); audited",
)
@people(Role.AUDITOR, Role.DPO, Role.ZONE_CHIEF)
async def read_log(request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    node = _node(request)
    try:
        q = _query(request, principal, node.grants.now())
    except PeriodError as exc:
        return refusal_response(exc)
    source = request.client.host if request.client else None

    def run(store: ReadStore) -> list[Any]:
        assert isinstance(store, SqlStore)
        return _read(store, principal, q, source)

    records = await asyncio.wrap_future(node.writer.call(run))
    last = records[-1]["seq"] if len(records) == q.limit else None
    return json_response({"records": records, "next_after": last})


@router.get(
    "/api/v1/audit/verify",
    summary="Verify the whole audit chain and its signed checkpoints (audited)",
)
@people(Role.AUDITOR, Role.DPO)
async def verify_log(request: Request) -> Response:
    principal = caller(request)
    if isinstance(principal, Response):
        return principal
    node = _node(request)
    keys = [] if node.audit_signer is None else [node.audit_signer.public_key]
    source = request.client.host if request.client else None

    def run(store: ReadStore) -> dict[str, Any]:
        assert isinstance(store, SqlStore)
        report = verify_store(store.reader(), keys)
        first = report.first_broken
        result = {
            "ok": report.ok, "records": report.records, "checkpoints": report.checkpoints,
            "checkpoints_verified": report.checkpoints_verified, "uncovered": report.uncovered,
            "warnings": report.warnings,
            "broken_seq": first.seq if first else None,
            "problem": None if first is None else {"kind": first.kind, "message": first.message},
            "signing_key": None if node.audit_signer is None
            else public_pem(node.audit_signer.public_key).decode(),
        }  # fmt: skip
        with store.transaction() as conn:
            write_audit(
                conn, actor=principal.user_id, actor_zone=principal.zone_id,
                action="audit.verify", object_type="audit_log", object_id="-",
                detail={"ok": report.ok, "broken_seq": result["broken_seq"]},
                role=str(principal.role), source=source, results=report.records,
            )  # fmt: skip
        return result

    try:
        result = await asyncio.wrap_future(node.writer.call(run))
    except Exception:  # pragma: no cover - a store failure: say so, do not hang
        return error_response(503, "unavailable", "the audit log could not be read")
    return json_response(result)
