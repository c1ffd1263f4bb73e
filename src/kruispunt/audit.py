"""The audit log: who did what to which object, when, and why.

Append-only (triggers refuse UPDATE and DELETE) and tamper-evident: each record carries the
SHA-256 of its predecessor's hash and its own content, so removing or altering a record
breaks the chain from that point (``verify_chain``). Records are written in the same
transaction as the change they describe.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

import msgspec

from kruispunt.store.sql import Conn, serialise

GENESIS = "0" * 64
_encoder = msgspec.json.Encoder(order="sorted")


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at_us: int
    actor: str
    actor_zone: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def _digest(prev_hash: str, at_us: int, actor: str, actor_zone: str | None, action: str,
            object_type: str, object_id: str, detail: bytes) -> str:  # fmt: skip
    h = hashlib.sha256()
    for part in (prev_hash, str(at_us), actor, actor_zone or "", action, object_type, object_id):
        h.update(part.encode())
        h.update(b"\x1f")
    h.update(detail)
    return h.hexdigest()


def write_audit(
    conn: Conn,
    *,
    actor: str,
    actor_zone: str | None,
    action: str,
    object_type: str,
    object_id: str,
    detail: dict[str, Any] | None = None,
    at_us: int | None = None,
) -> str:
    """Append one record inside the caller's (writer) transaction; returns its hash."""
    at = time.time_ns() // 1000 if at_us is None else at_us
    body = _encoder.encode(detail or {})
    serialise(conn, "kruispunt.audit")  # several processes: one chain, never a fork
    row = conn.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    digest = _digest(prev, at, actor, actor_zone, action, object_type, object_id, body)
    conn.execute(
        "INSERT INTO audit_log (at_us, actor, actor_zone, action, object_type, object_id, "
        "detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, actor, actor_zone, action, object_type, object_id, body, prev, digest),
    )
    return digest


def read_audit(
    conn: Conn, *, object_type: str | None = None, object_id: str | None = None
) -> list[AuditRecord]:
    sql = "SELECT seq, at_us, actor, actor_zone, action, object_type, object_id, detail, "
    sql += "prev_hash, hash FROM audit_log"
    args: list[str] = []
    if object_type is not None:
        sql += " WHERE object_type = ?"
        args.append(object_type)
        if object_id is not None:
            sql += " AND object_id = ?"
            args.append(object_id)
    rows = conn.execute(sql + " ORDER BY seq", args)
    return [
        AuditRecord(
            seq=r[0],
            at_us=r[1],
            actor=r[2],
            actor_zone=r[3],
            action=r[4],
            object_type=r[5],
            object_id=r[6],
            detail=msgspec.json.decode(r[7]),
            prev_hash=r[8],
            hash=r[9],
        )
        for r in rows
    ]


def verify_chain(records: Iterable[AuditRecord]) -> int | None:
    """The seq of the first record that breaks the chain, or None when it is intact.

    Give it the whole log in seq order."""
    prev = GENESIS
    for r in records:
        body = _encoder.encode(r.detail)
        expected = _digest(prev, r.at_us, r.actor, r.actor_zone, r.action, r.object_type,
                           r.object_id, body)  # fmt: skip
        if r.prev_hash != prev or r.hash != expected:
            return r.seq
        prev = r.hash
    return None
