"""Hotlists in SQLite (tables ``hotlists`` and ``hotlist_entries`` of schema v2).

Read methods use the calling thread's read connection. Write methods take the connection of
a writer transaction that the caller holds, so that a change and its audit record commit
together. Deleting marks a row deleted (it stays for the audit trail); at its weed date it
is purged for good, like every other entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import msgspec

from kruispunt.hotlists.index import IndexedEntry
from kruispunt.hotlists.models import HotlistEntry, HotlistList
from kruispunt.store.sql import Conn, SqlStore

_encoder = msgspec.json.Encoder()
_list_decoder = msgspec.json.Decoder(HotlistList)
_entry_decoder = msgspec.json.Decoder(HotlistEntry)

_INDEX_COLUMNS = "id, list_id, plate, country, valid_from_us, expires_at_us"
_INSERT = (
    "INSERT INTO hotlist_entries (id, list_id, plate, country, valid_from_us, expires_at_us, "
    "doc, deleted, updated_us) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)"
)
_DUPLICATE = (
    "SELECT id FROM hotlist_entries WHERE plate=? AND list_id=? "
    "AND country IS NOT DISTINCT FROM ? AND deleted=0 AND expires_at_us > ? AND id != ? LIMIT 1"
)

EntryRow = tuple[Any, ...]
"""An entry as ``insert_entries`` takes it (``entry_row``)."""


def entry_row(entry: HotlistEntry, now_us: int) -> EntryRow:
    return (
        entry.id, entry.list_id, entry.plate, entry.country, entry.valid_from_us,
        entry.expires_at_us, _encoder.encode(entry), now_us,
    )  # fmt: skip


class HotlistStore:
    def __init__(self, store: SqlStore):
        self.sqlite = store

    # -- reading (any thread) ---------------------------------------------------------------
    def lists(self) -> list[HotlistList]:
        rows = self.sqlite.reader().execute("SELECT doc FROM hotlists WHERE deleted=0")
        return [_list_decoder.decode(doc) for (doc,) in rows]

    def live_index_entries(self, now_us: int, list_ids: set[str]) -> Iterator[IndexedEntry]:
        """Unexpired entries of those lists, for the match index. One string object per list
        id and country is shared by all entries (a million entries, a few lists)."""
        shared: dict[str | None, str | None] = {lid: lid for lid in list_ids}
        shared[None] = None
        rows = self.sqlite.reader().execute(
            f"SELECT {_INDEX_COLUMNS} FROM hotlist_entries WHERE deleted=0 AND expires_at_us>?",
            (now_us,),
        )
        for eid, lid, plate, country, valid_from, expires in rows:
            if lid in list_ids:
                shared_country = shared.setdefault(country, country)
                yield IndexedEntry(eid, lid, plate, shared_country, valid_from, expires)

    def lists_changed_since(self, since_us: int) -> list[HotlistList]:
        """Lists created, changed or deleted since then (deleted ones included)."""
        rows = self.sqlite.reader().execute(
            "SELECT doc FROM hotlists WHERE updated_us > ?", (since_us,)
        )
        return [_list_decoder.decode(doc) for (doc,) in rows]

    def entries_changed_since(self, since_us: int) -> list[tuple[str, str]]:
        """(entry id, list id) of entries created, changed or deleted since then."""
        rows = self.sqlite.reader().execute(
            "SELECT id, list_id FROM hotlist_entries WHERE updated_us > ?", (since_us,)
        )
        return [(str(e), str(lid)) for e, lid in rows]

    def entry(self, entry_id: str) -> HotlistEntry | None:
        row = (
            self.sqlite.reader()
            .execute("SELECT doc FROM hotlist_entries WHERE id=? AND deleted=0", (entry_id,))
            .fetchone()
        )
        return None if row is None else _entry_decoder.decode(row[0])

    def page(
        self,
        list_id: str,
        *,
        after: int,
        limit: int,
        plate: str | None = None,
        live_at_us: int | None = None,
    ) -> list[tuple[int, HotlistEntry]]:
        """Entries (with their row number, the paging cursor) in insertion order."""
        sql = "SELECT rowid, doc FROM hotlist_entries WHERE list_id=? AND deleted=0 AND rowid>?"
        args: list[Any] = [list_id, after]
        if plate is not None:
            sql += " AND plate=?"
            args.append(plate)
        if live_at_us is not None:
            sql += " AND expires_at_us>?"
            args.append(live_at_us)
        rows = self.sqlite.reader().execute(sql + " ORDER BY rowid LIMIT ?", (*args, limit))
        return [(rowid, _entry_decoder.decode(doc)) for rowid, doc in rows.fetchall()]

    def count(self, list_id: str) -> int:
        row = (
            self.sqlite.reader()
            .execute(
                "SELECT count(*) FROM hotlist_entries WHERE list_id=? AND deleted=0", (list_id,)
            )
            .fetchone()
        )
        return int(row[0])

    # -- writing (inside the caller's writer transaction) -----------------------------------
    @staticmethod
    def list_existed(conn: Conn, list_id: str) -> bool:
        return conn.execute("SELECT 1 FROM hotlists WHERE id=?", (list_id,)).fetchone() is not None

    @staticmethod
    def insert_list(conn: Conn, lst: HotlistList, now_us: int) -> None:
        conn.execute(
            "INSERT INTO hotlists (id, doc, deleted, updated_us) VALUES (?, ?, 0, ?)",
            (lst.id, _encoder.encode(lst), now_us),
        )

    @staticmethod
    def update_list(conn: Conn, lst: HotlistList, now_us: int) -> None:
        conn.execute(
            "UPDATE hotlists SET doc=?, updated_us=? WHERE id=?",
            (_encoder.encode(lst), now_us, lst.id),
        )

    @staticmethod
    def delete_list(conn: Conn, list_id: str, now_us: int) -> int:
        """Mark the list and its entries deleted; returns the number of entries."""
        conn.execute("UPDATE hotlists SET deleted=1, updated_us=? WHERE id=?", (now_us, list_id))
        return HotlistStore.delete_entries_of(conn, list_id, now_us)

    @staticmethod
    def delete_entries_of(conn: Conn, list_id: str, now_us: int) -> int:
        return conn.execute(
            "UPDATE hotlist_entries SET deleted=1, updated_us=? WHERE list_id=? AND deleted=0",
            (now_us, list_id),
        ).rowcount

    @staticmethod
    def entry_in(conn: Conn, entry_id: str) -> HotlistEntry | None:
        row = conn.execute(
            "SELECT doc FROM hotlist_entries WHERE id=? AND deleted=0", (entry_id,)
        ).fetchone()
        return None if row is None else _entry_decoder.decode(row[0])

    @staticmethod
    def insert_entries(conn: Conn, rows: Iterable[Sequence[Any]]) -> None:
        conn.executemany(_INSERT, rows)

    @staticmethod
    def update_entry(conn: Conn, entry: HotlistEntry, now_us: int) -> None:
        conn.execute(
            "UPDATE hotlist_entries SET plate=?, country=?, valid_from_us=?, expires_at_us=?, "
            "doc=?, updated_us=? WHERE id=?",
            (entry.plate, entry.country, entry.valid_from_us, entry.expires_at_us,
             _encoder.encode(entry), now_us, entry.id),
        )  # fmt: skip

    @staticmethod
    def delete_entry(conn: Conn, entry_id: str, now_us: int) -> None:
        conn.execute(
            "UPDATE hotlist_entries SET deleted=1, updated_us=? WHERE id=?", (now_us, entry_id)
        )

    @staticmethod
    def duplicate(
        conn: Conn, list_id: object, plate: object, country: object,
        entry_id: object, now_us: int,
    ) -> str | None:  # fmt: skip
        """The id of another live entry of the list with the same plate and country."""
        row = conn.execute(_DUPLICATE, (plate, list_id, country, now_us, entry_id)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def max_rowid(conn: Conn) -> int:
        return int(
            conn.execute("SELECT coalesce(max(rowid), 0) FROM hotlist_entries").fetchone()[0]
        )

    @staticmethod
    def index_entries_after(
        conn: Conn, list_id: str, rowid: int, now_us: int
    ) -> Iterator[IndexedEntry]:
        """The list's live entries inserted after ``rowid`` (rowids only grow: an import's
        rows follow every older row)."""
        shared: dict[str, str] = {}
        rows = conn.execute(
            f"SELECT {_INDEX_COLUMNS} FROM hotlist_entries "
            "WHERE rowid>? AND list_id=? AND deleted=0 AND expires_at_us>?",
            (rowid, list_id, now_us),
        )
        for eid, _lid, plate, country, valid_from, expires in rows:
            if country is not None:
                country = shared.setdefault(country, country)
            yield IndexedEntry(eid, list_id, plate, country, valid_from, expires)

    @staticmethod
    def live_entries_in(conn: Conn, list_id: str, now_us: int) -> list[IndexedEntry]:
        rows = conn.execute(
            f"SELECT {_INDEX_COLUMNS} FROM hotlist_entries "
            "WHERE list_id=? AND deleted=0 AND expires_at_us>?",
            (list_id, now_us),
        )
        return [IndexedEntry(*r) for r in rows]

    @staticmethod
    def purge_expired(conn: Conn, now_us: int) -> list[tuple[str, str, bool]]:
        """Delete for good every entry past its weed date, including those deleted before:
        nothing is kept beyond it. Returns their (id, list id, was live)."""
        rows = conn.execute(
            "SELECT id, list_id, deleted FROM hotlist_entries WHERE expires_at_us<=?", (now_us,)
        ).fetchall()
        if rows:
            conn.execute("DELETE FROM hotlist_entries WHERE expires_at_us<=?", (now_us,))
        return [(str(eid), str(lid), not deleted) for eid, lid, deleted in rows]
