"""Reading what the reports count: the thin store I/O around the pure reports."""

from __future__ import annotations

from collections.abc import Iterator

from kruispunt.audit import AuditRecord, iter_audit
from kruispunt.hits.models import Hit
from kruispunt.hits.store import HitStore
from kruispunt.oversight.transparency import CameraReads
from kruispunt.store.sql import Conn


def audit_between(conn: Conn, since_us: int, until_us: int) -> Iterator[AuditRecord]:
    """The audit records written in [since_us, until_us), in seq order.

    A record's time is the writer's clock, not its seq: records are read from the first
    seq at or after ``since_us`` to the end, and filtered."""
    row = conn.execute("SELECT min(seq) FROM audit_log WHERE at_us >= ?", (since_us,)).fetchone()
    if row is None or row[0] is None:
        return
    for record in iter_audit(conn, after_seq=int(row[0]) - 1):
        if since_us <= record.at_us < until_us:
            yield record


def reads_per_camera(conn: Conn, since_us: int, until_us: int) -> list[CameraReads]:
    """Each camera's reads in the period, from the traffic counts (quarter-hour buckets
    that begin in the period)."""
    rows = conn.execute(
        "SELECT camera_id, sum(reads), sum(low_confidence), sum(foreign_plates) "
        "FROM traffic_counts WHERE bucket_us >= ? AND bucket_us < ? GROUP BY camera_id "
        "ORDER BY camera_id",
        (since_us, until_us),
    )
    return [CameraReads(c, int(n), int(low), int(f)) for c, n, low, f in rows]


def hits_between(hit_store: HitStore, since_us: int, until_us: int) -> list[Hit]:
    """The hits raised in [since_us, until_us) and still stored."""
    return [hit for hit, _first in hit_store.window(since_us, until_us - 1)]
