"""The hotlist matcher: a processor over the log that turns reads into hits.

The hot path is the read that matches nothing (nearly all of them): two dict look-ups and one
confusable key in ``HotlistIndex.match``, whatever the size of the hotlists. Only a match
pays for more (the entry, its list, building the hit).

Hits get a deterministic id (camera, read, entry), and are stored with ``INSERT OR IGNORE``
in the same transaction as the cursor: re-processing the log never raises a hit twice.

Because re-processing is harmless, a batch without hits need not cost a transaction (and an
fsync on the single writer, which the next hit would queue behind): with ``cursor_flush_s``
> 0 the cursor of hit-less batches is written at most that often. After a crash, at most
that much of the log is matched again, and nothing is raised or published twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

from kruispunt.domain.reads import Read
from kruispunt.hits.models import Hit, MatchKind, hit_id
from kruispunt.hits.store import HitStore
from kruispunt.hotlists.index import HotlistIndex, IndexedEntry
from kruispunt.hotlists.models import HotlistEntry, HotlistList
from kruispunt.processors.base import Processor
from kruispunt.store.base import ReadStore, StoreError
from kruispunt.store.sql import DB_ERRORS, SqlStore

LATE_AFTER_US = 10 * 60 * 1_000_000  # a read arriving later than this after capture is late


def is_late(read: Read, late_after_us: int = LATE_AFTER_US) -> bool:
    """A hit is late when its read is a back-fill (a camera replaying its buffer after an
    outage: the vehicle is long gone, whatever the delay) or arrived more than
    ``late_after_us`` after capture."""
    return read.backfilled or read.received_us - read.captured_us > late_after_us


class HotlistLookup(Protocol):
    """What the matcher needs of the hotlists (``HotlistService`` provides it)."""

    def list_of(self, list_id: str) -> HotlistList | None: ...

    def get_entry(self, entry_id: str) -> HotlistEntry | None: ...


def now_us() -> int:
    return time.time_ns() // 1000


def make_hit(
    read: Read,
    entry: HotlistEntry,
    lst: HotlistList,
    kind: MatchKind,
    *,
    created_us: int,
    historic: bool = False,
    late_after_us: int = LATE_AFTER_US,
) -> Hit:
    return Hit(
        id=hit_id(read.camera_id, read.read_id, entry.id),
        created_us=created_us,
        kind=kind,
        historic=historic,
        late=is_late(read, late_after_us),
        read_seq=read.seq,
        read_id=read.read_id,
        camera_id=read.camera_id,
        camera_zone_id=read.zone_id,
        captured_us=read.captured_us,
        plate_read=read.plate_raw,
        plate=read.plate,
        country=read.country,
        confidence=read.confidence,
        image_ref=read.image_ref,
        entry_id=entry.id,
        list_id=entry.list_id,
        owner_zone_id=lst.owner_zone_id,
        entry_plate=entry.plate,
        category=entry.category,
        action=entry.action,
        warnings=entry.warnings,
        scope=entry.scope,
    )


def list_accepts(lst: HotlistList | None, read: Read) -> bool:
    """A list raises hits while it is active, for reads at or above its minimum confidence."""
    return lst is not None and lst.active and read.confidence >= lst.min_confidence


class HotlistMatcher(Processor):
    type_key: ClassVar[str] = "hotlist_matcher"
    urgent_commit: ClassVar[bool] = True

    def __init__(
        self,
        index: HotlistIndex,
        hotlists: HotlistLookup,
        hit_store: HitStore,
        on_hits: Callable[[list[Hit]], None],
        *,
        late_after_us: int = LATE_AFTER_US,
        cursor_flush_s: float = 0.0,
        clock: Callable[[], int] = now_us,
        monotonic: Callable[[], float] = time.monotonic,
        for_police: Callable[[str], bool] | None = None,
    ):
        # Purpose limitation: a camera registered only for the LEZ or for statistics (a
        # city's) feeds no police hotlist. None: every camera may (tests, old registries).
        self._for_police = for_police
        self._index = index
        self._hotlists = hotlists
        self._hit_store = hit_store
        self._on_hits = on_hits
        self._late_after_us = late_after_us
        self._cursor_flush_s = cursor_flush_s
        self._clock = clock
        self._monotonic = monotonic
        self._stored_cursor: int | None = None  # the cursor as stored (None: as the runner says)
        self._flushed_at = monotonic()

    def process(self, reads: Sequence[Read]) -> list[Hit]:
        now = self._clock()
        match = self._index.match
        hits: list[Hit] = []
        for_police = self._for_police
        for read in reads:
            if for_police is not None and not for_police(read.camera_id):
                continue
            found = match(read.plate, read.country, at_us=read.captured_us, now_us=now)
            if found:
                hits.extend(self._hits_for(read, found, now))
        return hits

    def _hits_for(
        self, read: Read, found: list[tuple[IndexedEntry, MatchKind]], now: int
    ) -> list[Hit]:
        out = []
        for indexed_entry, kind in found:
            lst = self._hotlists.list_of(indexed_entry.list_id)
            if not list_accepts(lst, read):
                continue
            entry = self._hotlists.get_entry(indexed_entry.entry_id)
            if entry is None or lst is None:  # deleted since the index was read
                continue
            out.append(
                make_hit(read, entry, lst, kind, created_us=now,
                         late_after_us=self._late_after_us)
            )  # fmt: skip
        return out

    def commit(
        self, store: ReadStore, from_cursor: int, cursor: int, derived: Sequence[Hit]
    ) -> list[Hit]:
        if not isinstance(store, SqlStore):
            raise StoreError(f"{self.name} needs a SQL store")
        stored = from_cursor if self._stored_cursor is None else self._stored_cursor
        if not derived and self._monotonic() - self._flushed_at < self._cursor_flush_s:
            self._stored_cursor = stored  # nothing to store yet: the cursor waits
            return []
        try:
            with store.transaction() as conn:
                new = self._hit_store.insert(conn, derived)
                store.move_cursor(conn, self.name, stored, cursor)
        except DB_ERRORS as exc:
            self._stored_cursor = None  # the runner re-reads the stored cursor and retries
            raise StoreError(f"{self.name}: commit failed: {exc}") from exc
        self._stored_cursor = cursor
        self._flushed_at = self._monotonic()
        return new

    def wants_commit(self, derived: Sequence[Hit], from_cursor: int) -> bool:
        if self._stored_cursor is None:
            self._stored_cursor = from_cursor  # what the store holds until the next commit
        return bool(derived) or self._monotonic() - self._flushed_at >= self._cursor_flush_s

    def after_commit(self, committed: list[Hit]) -> None:
        if committed:
            self._on_hits(committed)
