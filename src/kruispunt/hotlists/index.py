"""The in-memory match index: confusable skeleton -> entries.

An exact match has the same skeleton as the read, so one dict look-up finds both the exact and
the possible matches, whatever the size of the hotlists. Updates (an entry
added, changed, deleted, a list switched off) replace tuples rather than mutate them, so the
matcher thread can read while the API thread writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import msgspec

from kruispunt.hits.models import MatchKind
from kruispunt.hotlists.models import HotlistEntry
from kruispunt.plates import confusable_key


class IndexedEntry(msgspec.Struct, frozen=True, gc=False):
    entry_id: str
    list_id: str
    plate: str
    country: str | None
    valid_from_us: int
    expires_at_us: int


def indexed(entry: HotlistEntry) -> IndexedEntry:
    return IndexedEntry(
        entry.id, entry.list_id, entry.plate, entry.country, entry.valid_from_us,
        entry.expires_at_us,
    )  # fmt: skip


def countries_agree(read_country: str | None, entry_country: str | None) -> bool:
    """Country counts only when both sides know it."""
    return read_country is None or entry_country is None or read_country == entry_country


def is_live(e: IndexedEntry, *, at_us: int, now_us: int) -> bool:
    """Valid when the vehicle passed, and not expired now: an expired entry stops at once."""
    return e.valid_from_us <= at_us and now_us < e.expires_at_us and at_us < e.expires_at_us


class HotlistIndex:
    def __init__(self) -> None:
        self._fuzzy: dict[str, tuple[IndexedEntry, ...]] = {}
        self._by_id: dict[str, IndexedEntry] = {}
        self._by_list: dict[str, set[str]] = {}
        self._lock = threading.Lock()  # writers only; readers never wait

    def __len__(self) -> int:
        return len(self._by_id)

    def load(self, entries: Iterable[IndexedEntry]) -> None:
        for e in entries:
            self.put(e)

    def put(self, e: IndexedEntry) -> None:
        with self._lock:
            old = self._by_id.get(e.entry_id)
            key = confusable_key(e.plate)
            if old is not None and confusable_key(old.plate) != key:
                self._drop(old)
            # One assignment per slot: a read matched meanwhile sees the old or the new entry,
            # never neither.
            rest = (x for x in self._fuzzy.get(key, ()) if x.entry_id != e.entry_id)
            self._fuzzy[key] = (*rest, e)
            self._by_id[e.entry_id] = e
            if old is not None and old.list_id != e.list_id:
                self._by_list.get(old.list_id, set()).discard(e.entry_id)
            self._by_list.setdefault(e.list_id, set()).add(e.entry_id)

    def remove(self, entry_id: str) -> None:
        with self._lock:
            old = self._by_id.pop(entry_id, None)
            if old is not None:
                self._drop(old)
                self._by_list.get(old.list_id, set()).discard(entry_id)

    def remove_list(self, list_id: str) -> int:
        ids = list(self._by_list.get(list_id, ()))
        for entry_id in ids:
            self.remove(entry_id)
        return len(ids)

    def _drop(self, e: IndexedEntry) -> None:
        key = confusable_key(e.plate)
        rest = tuple(x for x in self._fuzzy.get(key, ()) if x.entry_id != e.entry_id)
        if rest:
            self._fuzzy[key] = rest
        else:
            self._fuzzy.pop(key, None)

    def match(
        self, plate: str, country: str | None, *, at_us: int, now_us: int
    ) -> list[tuple[IndexedEntry, MatchKind]]:
        """Entries a read matches: exact ones, then confusable ("possible") ones."""
        candidates = self._fuzzy.get(confusable_key(plate))
        if candidates is None:  # the usual case: one look-up and done
            return []
        exact: list[tuple[IndexedEntry, MatchKind]] = []
        possible: list[tuple[IndexedEntry, MatchKind]] = []
        for e in candidates:
            if not (countries_agree(country, e.country) and is_live(e, at_us=at_us, now_us=now_us)):
                continue
            if e.plate == plate:
                exact.append((e, MatchKind.EXACT))
            elif len(e.plate) == len(plate):
                possible.append((e, MatchKind.POSSIBLE))
        return exact + possible
