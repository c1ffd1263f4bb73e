"""The hit log: hits in the order they were raised (``seq``), and their workflow events.

Writes take the caller's writer transaction (``conn``), so a hit is stored together with the
cursor that produced it, and a workflow step together with its event and audit record.

Errors::

    HitError
    ├── UnknownHit          no such hit
    ├── TransitionRefused   the hit is not in a state that allows the step (e.g. closed)
    └── OutcomeRequired     closing needs an outcome (and only closing takes one)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from kruispunt.hits.models import Hit, HitEvent, HitStatus
from kruispunt.hits.policy import can_move
from kruispunt.store.sql import Conn, SqlStore, serialise

_encoder = msgspec.json.Encoder()
_hit_decoder = msgspec.json.Decoder(Hit)
_event_decoder = msgspec.json.Decoder(HitEvent)
_replace = msgspec.structs.replace


class HitError(Exception):
    """A hit operation was refused; nothing was changed."""


class UnknownHit(HitError):
    pass


class TransitionRefused(HitError):
    def __init__(self, hit_id: str, current: HitStatus, wanted: HitStatus):
        super().__init__(f"hit {hit_id} is {current.value}; it cannot become {wanted.value}")
        self.current = current
        self.wanted = wanted


class OutcomeRequired(HitError):
    pass


def _hit(seq: int, doc: bytes) -> Hit:
    return _replace(_hit_decoder.decode(doc), seq=seq)


class HitStore:
    def __init__(self, store: SqlStore):
        self._store = store

    # -- writes (inside a writer transaction) -----------------------------------------------
    def insert(self, conn: Conn, hits: Sequence[Hit]) -> list[Hit]:
        """Store hits not stored yet (by id); returns the new ones, with their seq. Storing
        the same hit again (re-processing the log, a retro search) changes nothing."""
        new: list[Hit] = []
        if hits:
            # Workers in several processes: seqs must become visible in their order, or a
            # subscriber resuming after seq N could miss a hit committed later below N.
            serialise(conn, "kruispunt.hits")
        for hit in hits:
            row = conn.execute(
                "INSERT INTO hits (id, created_us, camera_zone_id, owner_zone_id, list_id, "
                "entry_id, status, doc, updated_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING RETURNING seq",
                (hit.id, hit.created_us, hit.camera_zone_id, hit.owner_zone_id, hit.list_id,
                 hit.entry_id, hit.status.value, _encoder.encode(_replace(hit, seq=0)),
                 hit.created_us),
            ).fetchone()  # fmt: skip
            if row is not None:
                new.append(_replace(hit, seq=int(row[0])))
        return new

    def transition(self, conn: Conn, event: HitEvent) -> Hit:
        """Move a hit to ``event.status`` and record the event; returns the updated hit.

        Refuses a step back, a repeated step, or closing without an outcome."""
        closing = event.status is HitStatus.CLOSED
        if closing != (event.outcome is not None):
            raise OutcomeRequired(
                "closing a hit needs an outcome" if closing else "only closing takes an outcome"
            )
        row = conn.execute("SELECT seq, doc FROM hits WHERE id=?", (event.hit_id,)).fetchone()
        if row is None:
            raise UnknownHit(event.hit_id)
        hit = _hit(row[0], row[1])
        if not can_move(hit.status, event.status):
            raise TransitionRefused(hit.id, hit.status, event.status)
        updated = _replace(hit, status=event.status, outcome=event.outcome)
        changed = conn.execute(
            "UPDATE hits SET status=?, doc=?, updated_us=? WHERE id=? AND status=?",
            (updated.status.value, _encoder.encode(_replace(updated, seq=0)), event.at_us,
             hit.id, hit.status.value),
        ).rowcount  # fmt: skip
        if changed != 1:  # cannot happen under the single writer; refuse rather than guess
            raise TransitionRefused(hit.id, hit.status, event.status)
        conn.execute(
            "INSERT INTO hit_events (hit_id, at_us, doc) VALUES (?, ?, ?)",
            (hit.id, event.at_us, _encoder.encode(event)),
        )
        return updated

    # -- reads (any thread) -----------------------------------------------------------------
    def since(self, seq: int, limit: int, *, status: HitStatus | None = None) -> list[Hit]:
        """Hits with a seq above ``seq``, in seq order (optionally in one status)."""
        sql = "SELECT seq, doc FROM hits WHERE seq > ?"
        args: list[Any] = [seq]
        if status is not None:
            sql += " AND status = ?"
            args.append(status.value)
        args.append(limit)
        rows = self._store.reader().execute(sql + " ORDER BY seq LIMIT ?", args)
        return [_hit(s, doc) for s, doc in rows]

    def get(self, hit_id: str) -> Hit | None:
        row = (
            self._store.reader()
            .execute("SELECT seq, doc FROM hits WHERE id=?", (hit_id,))
            .fetchone()
        )
        return None if row is None else _hit(row[0], row[1])

    def events(self, hit_id: str) -> list[HitEvent]:
        rows = self._store.reader().execute(
            "SELECT doc FROM hit_events WHERE hit_id=? ORDER BY id", (hit_id,)
        )
        return [_event_decoder.decode(doc) for (doc,) in rows]

    def last_seq(self) -> int:
        row = self._store.reader().execute("SELECT max(seq) FROM hits").fetchone()
        return int(row[0] or 0)

    def window(self, since_us: int, until_us: int) -> list[tuple[Hit, int | None]]:
        """Hits raised in [since_us, until_us], each with the time of its first workflow step
        (None while still new), for the statistics."""
        rows = self._store.reader().execute(
            "SELECT h.seq, h.doc, (SELECT min(e.at_us) FROM hit_events e WHERE e.hit_id = h.id)"
            " FROM hits h WHERE h.created_us BETWEEN ? AND ? ORDER BY h.seq",
            (since_us, until_us),
        )
        return [(_hit(s, doc), first) for s, doc, first in rows]
