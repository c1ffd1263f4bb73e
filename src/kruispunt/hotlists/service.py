"""The hotlist service: lists and entries in the store, the match index in memory.

Every change runs on the single writer: the change and its audit record commit in one
transaction, then the index follows on the same thread, so it sees changes in commit order
and a deleted entry stops hitting before the caller hears back. (An expired entry stops at
its expiry by itself: the index checks the time of every match.)

``actor`` is who asks; the rules of who may do what are in ``permissions``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from kruispunt.access.principals import Principal
from kruispunt.audit import PlateTokens, write_audit
from kruispunt.hotlists.csv_io import Row, RowError, read_rows, write_csv
from kruispunt.hotlists.errors import (
    EntryInvalid,
    HotlistConflict,
    HotlistForbidden,
    HotlistNotFound,
)
from kruispunt.hotlists.importer import ImportReport, Refused, insert_prepared, prepare
from kruispunt.hotlists.index import HotlistIndex, indexed
from kruispunt.hotlists.models import HotlistEntry, HotlistList
from kruispunt.hotlists.permissions import may_change, may_read_entries
from kruispunt.hotlists.store import HotlistStore, entry_row
from kruispunt.hotlists.validation import (
    DEFAULT_MAX_EXPIRY_DAYS,
    EntryIn,
    EntryRules,
    check_entry,
    check_list,
    format_time,
    mask_plate,
    new_entry_id,
    parse_entry,
)
from kruispunt.store.sql import Conn, SqlStore
from kruispunt.writer import Writer

log = logging.getLogger(__name__)
CATCH_UP_ENTRIES = 500  # more changed entries of one list than this: refresh the list whole
T = TypeVar("T")


def _now_us() -> int:
    return time.time_ns() // 1000


class EntryPage(msgspec.Struct, frozen=True, kw_only=True):
    entries: list[HotlistEntry]
    next_after: int | None  # give as ``after`` for the next page; None: this was the last


@dataclass(slots=True)
class _Tx:
    conn: Conn  # of the writer transaction
    now_us: int
    then: list[Callable[[], object]] = field(default_factory=list)
    # (list id, entry id or None for the whole list): told to other node processes.
    changed: list[tuple[str, str | None]] = field(default_factory=list)


def _entry_detail(entry: HotlistEntry, tokens: PlateTokens) -> dict[str, Any]:
    """What the audit keeps of an entry: the plate as a keyed token (the same token as in a
    search's audit record, so an auditor can link them), never the plate itself; a masked
    plate only while no key is loaded."""
    return {
        "list_id": entry.list_id,
        "plate": tokens.token(entry.plate) or mask_plate(entry.plate_raw),
        "country": entry.country,
        "category": entry.category.value,
        "scope": entry.scope.kind.value,
        "expires_at": format_time(entry.expires_at_us),
        "source": entry.source,
        "legal_basis": entry.legal_basis,
    }


def _list_detail(lst: HotlistList) -> dict[str, Any]:
    return {
        "name": lst.name, "owner_zone_id": lst.owner_zone_id,
        "min_confidence": lst.min_confidence, "default_scope": lst.default_scope.kind.value,
        "active": lst.active,
    }  # fmt: skip


def _changed(old: HotlistEntry, new: HotlistEntry) -> list[str]:
    return [f for f in old.__struct_fields__ if getattr(old, f) != getattr(new, f)]


class HotlistService:
    """``zone_ids``: the network's zones; ``partner_ids``: partners that may own lists and be
    named in a scope; ``max_expiry_days``: how far ahead an entry's weed date may lie."""

    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        index: HotlistIndex,
        zone_ids: set[str],
        *,
        partner_ids: Iterable[str] = (),
        max_expiry_days: int = DEFAULT_MAX_EXPIRY_DAYS,
        clock: Callable[[], int] = _now_us,
        chunk_rows: int = 2000,
        max_errors: int = 1000,
        plate_tokens: PlateTokens | None = None,
    ):
        self._db = HotlistStore(store)
        self.plate_tokens = plate_tokens or PlateTokens()
        self._sqlite = store
        self._writer = writer
        self.index = index
        zones = frozenset(zone_ids) | frozenset(partner_ids)
        self.rules = EntryRules(zone_ids=zones, max_expiry_days=max_expiry_days)
        self._clock = clock
        self._chunk_rows = chunk_rows
        self._max_errors = max_errors
        self._lists: dict[str, HotlistList] = {}
        # Called after an entry was added (committed and indexed) with (entry, retro_days):
        # the hits side searches the reads of the last retro_days days (0: no search).
        self.on_entry_added: list[Callable[[HotlistEntry, int], None]] = []
        # After each commit, per list (entry id None) or entry changed: other processes
        # holding an index are told (``refresh`` there).
        self.on_change: list[Callable[[str, str | None], None]] = []
        self._caught_up_us = 0

    def load(self) -> int:
        """Lists into memory, unexpired entries of active lists into the index."""
        self._caught_up_us = self._clock()
        self.load_lists()
        active = {lst.id for lst in self._lists.values() if lst.active}
        before = len(self.index)
        self.index.load(self._db.live_index_entries(self._clock(), active))
        return len(self.index) - before

    def load_lists(self) -> None:
        """Only the lists (enough for import and export)."""
        self._lists = {lst.id: lst for lst in self._db.lists()}

    # -- lists ------------------------------------------------------------------------------
    def refresh(self, list_id: str, entry_id: str | None = None) -> None:
        """Another node process changed this list, or one entry of it: read it back into
        memory and the index."""
        now = self._clock()
        if entry_id is not None:
            self.index.remove(entry_id)
            entry = self._db.entry(entry_id)
            lst = self._lists.get(list_id)
            if entry is not None and lst is not None and lst.active and entry.expires_at_us > now:
                self.index.put(indexed(entry))
            return
        lst = next((x for x in self._db.lists() if x.id == list_id), None)
        self.index.remove_list(list_id)
        if lst is None:
            self._lists.pop(list_id, None)
            return
        self._lists[list_id] = lst
        if lst.active:
            self.index.load(self._db.live_entries_in(self._sqlite.reader(), list_id, now))

    def catch_up(self, margin_us: int = 120_000_000) -> int:
        """Refresh what changed in the store since the last call (lists whole, entries one by
        one), also changes whose broadcast this process missed. ``margin_us`` covers clocks
        of other processes that run a little behind. Returns how many things it refreshed."""
        now = self._clock()
        since = self._caught_up_us - margin_us
        lists = {x.id for x in self._db.lists_changed_since(since)}
        per_list: dict[str, list[str]] = {}
        for entry_id, list_id in self._db.entries_changed_since(since):
            per_list.setdefault(list_id, []).append(entry_id)
        # An import changes many entries at once: read such a list back whole.
        lists |= {lid for lid, ids in per_list.items() if len(ids) > CATCH_UP_ENTRIES}
        entries = [(e, lid) for lid, ids in per_list.items() if lid not in lists for e in ids]
        for list_id in lists:
            self.refresh(list_id)
        for entry_id, list_id in entries:
            self.refresh(list_id, entry_id)
        self._caught_up_us = now
        return len(lists) + len(entries)

    def list_of(self, list_id: str) -> HotlistList | None:
        """In memory (the matcher asks for every match)."""
        return self._lists.get(list_id)

    get_list = list_of

    def lists(self) -> list[HotlistList]:
        return sorted(self._lists.values(), key=lambda lst: lst.id)

    def create_list(self, lst: HotlistList, *, actor: Principal) -> HotlistList:
        check_list(lst, owner_ids=self.rules.zone_ids, zone_ids=self.rules.zone_ids)
        self._may_change(lst.owner_zone_id, actor)

        def tx(t: _Tx) -> HotlistList:
            if self._db.list_existed(t.conn, lst.id):
                raise HotlistConflict(f"list {lst.id!r} exists (or existed)", "list_exists")
            self._db.insert_list(t.conn, lst, t.now_us)
            self._audit(t, actor, "hotlist.create", "hotlist", lst.id, _list_detail(lst))
            t.then.append(lambda: self._lists.__setitem__(lst.id, lst))
            t.changed.append((lst.id, None))
            return lst

        return self._write(tx)

    def update_list(self, lst: HotlistList, *, actor: Principal) -> HotlistList:
        """Change name, description, minimum confidence, default scope or the active flag;
        the owner stays. A list switched off leaves the index (and comes back when on)."""
        check_list(lst, owner_ids=self.rules.zone_ids, zone_ids=self.rules.zone_ids)

        def tx(t: _Tx) -> HotlistList:
            old = self.changeable(lst.id, actor)
            if old.owner_zone_id != lst.owner_zone_id:
                raise EntryInvalid("owner_zone_id: a list keeps its owner", "owner_immutable")
            self._db.update_list(t.conn, lst, t.now_us)
            self._audit(t, actor, "hotlist.update", "hotlist", lst.id, _list_detail(lst))
            t.then.append(lambda: self._lists.__setitem__(lst.id, lst))
            t.changed.append((lst.id, None))
            if old.active and not lst.active:
                t.then.append(lambda: self.index.remove_list(lst.id))
            elif lst.active and not old.active:
                live = self._db.live_entries_in(t.conn, lst.id, t.now_us)
                t.then.append(lambda: self.index.load(live))
            return lst

        return self._write(tx)

    def delete_list(self, list_id: str, *, actor: Principal) -> int:
        """Delete a list and its entries, which stop hitting at once; returns how many."""

        def tx(t: _Tx) -> int:
            self.changeable(list_id, actor)
            n = self._db.delete_list(t.conn, list_id, t.now_us)
            self._audit(t, actor, "hotlist.delete", "hotlist", list_id, {"entries": n})
            t.then.append(lambda: self._lists.pop(list_id, None))
            t.then.append(lambda: self.index.remove_list(list_id))
            t.changed.append((list_id, None))
            return n

        return self._write(tx)

    def entry_count(self, list_id: str, *, actor: Principal) -> int:
        self.readable(list_id, actor)
        return self._db.count(list_id)

    # -- entries ----------------------------------------------------------------------------
    def create_entry(
        self, list_id: str, draft: EntryIn, *, actor: Principal, retro_days: int = 0
    ) -> HotlistEntry:
        """Validate ``draft`` (``EntryInvalid`` with a code) and add it as a new entry."""
        lst = self.changeable(list_id, actor)
        entry = parse_entry(
            draft, lst=lst, entry_id=new_entry_id(), now_us=self._clock(),
            created_by=actor.user_id, rules=self.rules,
        )  # fmt: skip
        return self.add_entry(entry, actor=actor, retro_days=retro_days)

    def add_entry(
        self, entry: HotlistEntry, *, actor: Principal, retro_days: int = 0
    ) -> HotlistEntry:
        """Store a new entry, then call the ``on_entry_added`` hooks with ``retro_days``."""
        if retro_days < 0:
            raise EntryInvalid("retro_days: must be 0 or more", "retro_days_invalid")

        def tx(t: _Tx) -> HotlistEntry:
            lst = self.changeable(entry.list_id, actor)
            new = msgspec.structs.replace(entry, created_us=t.now_us, created_by=actor.user_id)
            check_entry(new, now_us=t.now_us, rules=self.rules)
            self._refuse_duplicate(t, new)
            if self._db.entry_in(t.conn, new.id) is not None:
                raise HotlistConflict(f"entry {new.id!r} exists", "entry_exists")
            self._db.insert_entries(t.conn, [entry_row(new, t.now_us)])
            detail = _entry_detail(new, self.plate_tokens) | {"retro_days": retro_days}
            self._audit(t, actor, "entry.create", "hotlist_entry", new.id, detail)
            t.changed.append((new.list_id, new.id))
            if lst.active:
                t.then.append(lambda: self.index.put(indexed(new)))
            return new

        added = self._write(tx)
        for hook in self.on_entry_added:
            try:
                hook(added, retro_days)
            except Exception:
                log.exception("on_entry_added hook failed for entry %s", added.id)
        return added

    def replace_entry(
        self, list_id: str, entry_id: str, draft: EntryIn, *, actor: Principal
    ) -> HotlistEntry:
        """Give an entry ``draft``'s fields (a missing ``valid_from`` keeps the old one)."""
        lst = self.changeable(list_id, actor)
        old = self._db.entry(entry_id)
        if old is None or old.list_id != list_id:
            raise HotlistNotFound(f"no entry {entry_id!r} on list {list_id!r}", "unknown_entry")
        if draft.valid_from is None:
            draft = msgspec.structs.replace(draft, valid_from=format_time(old.valid_from_us))
        new = parse_entry(
            draft, lst=lst, entry_id=old.id, now_us=self._clock(), created_by=old.created_by,
            rules=self.rules,
        )  # fmt: skip
        return self.update_entry(new, actor=actor)

    def update_entry(self, entry: HotlistEntry, *, actor: Principal) -> HotlistEntry:
        def tx(t: _Tx) -> HotlistEntry:
            old = self._existing(t, entry.id)
            if old.list_id != entry.list_id:
                raise EntryInvalid("list_id: an entry stays on its list", "list_immutable")
            lst = self.changeable(entry.list_id, actor)
            new = msgspec.structs.replace(
                entry, created_us=old.created_us, created_by=old.created_by
            )
            check_entry(new, now_us=t.now_us, rules=self.rules)
            self._refuse_duplicate(t, new)
            self._db.update_entry(t.conn, new, t.now_us)
            detail = _entry_detail(new, self.plate_tokens) | {"changed": _changed(old, new)}
            self._audit(t, actor, "entry.update", "hotlist_entry", new.id, detail)
            t.changed.append((new.list_id, new.id))
            if lst.active:
                t.then.append(lambda: self.index.put(indexed(new)))
            return new

        return self._write(tx)

    def delete_entry(self, entry_id: str, *, actor: Principal) -> HotlistEntry:
        """Delete an entry; it has stopped hitting when this returns."""

        def tx(t: _Tx) -> HotlistEntry:
            old = self._existing(t, entry_id)
            self.changeable(old.list_id, actor)
            self._db.delete_entry(t.conn, entry_id, t.now_us)
            self._audit(
                t,
                actor,
                "entry.delete",
                "hotlist_entry",
                entry_id,
                _entry_detail(old, self.plate_tokens),
            )
            t.then.append(lambda: self.index.remove(entry_id))
            t.changed.append((old.list_id, entry_id))
            return old

        return self._write(tx)

    def get_entry(self, entry_id: str, *, actor: Principal | None = None) -> HotlistEntry | None:
        """An entry not deleted. With ``actor``: ``HotlistForbidden`` unless the actor may
        read its list. Without: a trusted caller inside the node (the matcher)."""
        entry = self._db.entry(entry_id)
        if entry is not None and actor is not None:
            self.readable(entry.list_id, actor)
        return entry

    def entries(self, list_id: str, *, actor: Principal | None = None) -> list[HotlistEntry]:
        """Every entry of a list not deleted (expired ones until ``expire_due``)."""
        if actor is not None:
            self.readable(list_id, actor)
        return list(self._iter_entries(list_id, live_at_us=None))

    def entries_page(
        self,
        list_id: str,
        *,
        actor: Principal,
        after: int = 0,
        limit: int = 500,
        plate: str | None = None,
    ) -> EntryPage:
        """A page of a list's entries, optionally of one normalised plate only."""
        self.readable(list_id, actor)
        rows = self._db.page(list_id, after=after, limit=limit + 1, plate=plate)
        more = len(rows) > limit
        rows = rows[:limit]
        return EntryPage(entries=[e for _row, e in rows], next_after=rows[-1][0] if more else None)

    def _iter_entries(
        self, list_id: str, *, live_at_us: int | None, page: int = 5000
    ) -> Iterator[HotlistEntry]:
        """Page by page; each page is read on the thread that asks for it."""
        after = 0
        while True:
            rows = self._db.page(list_id, after=after, limit=page, live_at_us=live_at_us)
            yield from (e for _row, e in rows)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def expire_due(self, now_us: int | None = None) -> int:
        """Purge entries past their weed date (deleted ones too): out of the table, out of
        the index, audited per list. They stopped hitting at their expiry already.
        Returns how many live entries expired."""

        def tx(t: _Tx) -> int:
            purged = self._db.purge_expired(t.conn, t.now_us)
            per_list: dict[str, list[int]] = {}
            for _eid, lid, was_live in purged:
                counts = per_list.setdefault(lid, [0, 0])
                counts[0 if was_live else 1] += 1
            for lid, (expired, deleted) in sorted(per_list.items()):
                detail = {"expired": expired, "purged_deleted": deleted}
                write_audit(
                    t.conn, actor="system", actor_zone=None, action="hotlist.expire",
                    object_type="hotlist", object_id=lid, detail=detail, at_us=t.now_us,
                )  # fmt: skip

            def unindex() -> None:
                for eid, _lid, was_live in purged:
                    if was_live:
                        self.index.remove(eid)

            t.then.append(unindex)
            t.changed.extend((lid, None) for lid in per_list)
            return sum(1 for _e, _l, was_live in purged if was_live)

        return self._write(tx, now_us=now_us)

    # -- CSV --------------------------------------------------------------------------------
    def export_csv(self, list_id: str, *, actor: Principal) -> Iterator[str]:
        """The list's unexpired entries as CSV text chunks; re-imports as is. The actor is
        checked, and the export audited, now; the rows stream later."""
        self.readable(list_id, actor)

        def tx(t: _Tx) -> int:
            self._audit(t, actor, "hotlist.export", "hotlist", list_id, {})
            return t.now_us

        at = self._write(tx)
        return write_csv(self._iter_entries(list_id, live_at_us=at))

    def import_csv(
        self,
        list_id: str,
        lines: Iterable[bytes | str],
        *,
        actor: Principal,
        replace: bool = False,
    ) -> ImportReport:
        """Load CSV rows into a list: every good row in ONE transaction (all, or none on a
        store failure), each bad row reported with its line and reason. ``replace``: the
        list's current entries are deleted in the same transaction. Memory stays bounded
        (see ``importer``). ``CsvInvalid`` when the header is wrong."""
        lst = self.changeable(list_id, actor)
        digest = hashlib.sha256()

        def hashed() -> Iterator[bytes | str]:
            for line in lines:
                digest.update(line if isinstance(line, bytes) else line.encode())
                yield line

        rows = read_rows(hashed())
        now = self._clock()

        def parse(row: Row) -> HotlistEntry | RowError:
            try:
                return parse_entry(
                    row.entry, lst=lst, entry_id=new_entry_id(), now_us=now,
                    created_by=actor.user_id, rules=self.rules,
                )  # fmt: skip
            except EntryInvalid as exc:
                return RowError(line=row.line, reason=exc.code, message=exc.message)

        prepared = prepare(rows, parse, now_us=now, chunk_rows=self._chunk_rows,
                           max_errors=self._max_errors)  # fmt: skip
        refused = prepared.refused or Refused(self._max_errors)

        def tx(t: _Tx) -> tuple[int, int, Refused]:
            lst_now = self.changeable(list_id, actor)
            replaced = self._db.delete_entries_of(t.conn, list_id, t.now_us) if replace else 0
            before = self._db.max_rowid(t.conn)
            dups = insert_prepared(t.conn, prepared, now_us=t.now_us)
            imported = prepared.rows - dups.count
            detail = {
                "imported": imported, "replaced": replaced, "sha256": digest.hexdigest(),
                "rejected": refused.count + dups.count, "created_us": t.now_us,
            }  # fmt: skip
            self._audit(t, actor, "hotlist.import", "hotlist", list_id, detail)
            t.changed.append((list_id, None))
            if replace:
                t.then.append(lambda: self.index.remove_list(list_id))
            if lst_now.active:
                # Streamed back from the table: memory holds only what the index keeps.
                new = self._db.index_entries_after(t.conn, list_id, before, t.now_us)
                t.then.append(lambda: self.index.load(new))
            return imported, replaced, dups

        try:
            imported, replaced, dups = self._write(tx, now_us=now)
        finally:
            prepared.close()
        errors = sorted(refused.errors + dups.errors, key=lambda e: e.line)
        return ImportReport(
            imported=imported, rejected=refused.count + dups.count,
            errors=errors[: self._max_errors], replaced=replaced, sha256=digest.hexdigest(),
        )  # fmt: skip

    # -- helpers ----------------------------------------------------------------------------
    def _submit(self, fn: Callable[[_Tx], T], *, now_us: int | None = None) -> Future[T]:
        """``fn`` in one writer transaction, then (still on the writer thread, in commit
        order) the in-memory follow-ups it left in ``then``."""

        def run(_store: object) -> T:
            with self._sqlite.transaction() as conn:
                t = _Tx(conn, self._clock() if now_us is None else now_us)
                result = fn(t)
            for follow_up in t.then:
                follow_up()
            for list_id, entry_id in t.changed:
                for hook in self.on_change:
                    try:
                        hook(list_id, entry_id)
                    except Exception:
                        log.exception("hotlists: change hook failed")
            return result

        return self._writer.call(run)

    def _write(self, fn: Callable[[_Tx], T], *, now_us: int | None = None) -> T:
        return self._submit(fn, now_us=now_us).result()

    def _may_change(self, owner_zone_id: str, actor: Principal) -> None:
        if not may_change(actor, owner_zone_id):
            raise HotlistForbidden(
                f"a {actor.role} of {actor.zone_id} may not change the lists of {owner_zone_id}"
            )

    def changeable(self, list_id: str, actor: Principal) -> HotlistList:
        """The list, if ``actor`` may change it (else ``HotlistNotFound``/``HotlistForbidden``)."""
        lst = self._lists.get(list_id)
        if lst is None:
            raise HotlistNotFound(f"no list {list_id!r}", "unknown_list")
        self._may_change(lst.owner_zone_id, actor)
        return lst

    def readable(self, list_id: str, actor: Principal) -> HotlistList:
        """The list, if ``actor`` may read its entries (else not found / forbidden)."""
        lst = self._lists.get(list_id)
        if lst is None:
            raise HotlistNotFound(f"no list {list_id!r}", "unknown_list")
        if not may_read_entries(actor, lst):
            raise HotlistForbidden(f"the entries of {list_id!r} are for {lst.owner_zone_id}")
        return lst

    def may_read(self, list_id: str, actor: Principal) -> bool:
        lst = self._lists.get(list_id)
        return lst is not None and may_read_entries(actor, lst)

    def _existing(self, t: _Tx, entry_id: str) -> HotlistEntry:
        entry = self._db.entry_in(t.conn, entry_id)
        if entry is None:
            raise HotlistNotFound(f"no entry {entry_id!r}", "unknown_entry")
        return entry

    def _refuse_duplicate(self, t: _Tx, entry: HotlistEntry) -> None:
        other = self._db.duplicate(
            t.conn, entry.list_id, entry.plate, entry.country, entry.id, t.now_us
        )
        if other is not None:
            raise HotlistConflict(f"the plate is already on the list as {other}", "entry_duplicate")

    @staticmethod
    def _audit(
        t: _Tx, actor: Principal, action: str, object_type: str, object_id: str,
        detail: dict[str, Any],
    ) -> None:  # fmt: skip
        write_audit(
            t.conn, actor=actor.user_id, actor_zone=actor.zone_id, action=action,
            object_type=object_type, object_id=object_id, detail=detail, at_us=t.now_us,
        )  # fmt: skip
